"""The built book fits the screen: no chart wider than a 390 px phone, no table cut off on a 1400 px desktop.

Charts are drawn by the book renderer (xlstm_lab/plots/theme.py), which narrows a chart that does not fit its
column (container width, fewer columns, legends below, narrower panels); tables scroll inside their own box
(book/_static/xlstm-lab.css). Reads ``_build/html`` (``make book``) or ``$XLSTM_LAB_BOOK_HTML``.
"""

from __future__ import annotations

import pytest

from test_browser import CHAPTERS, DESKTOP, PHONE, _open, browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

_DRAWN = """() => Array.from(document.querySelectorAll('.xlstm-lab-chart')).every(
    el => el.querySelector('.xlstm-chart-error') || (el.classList.contains('vega-embed') && el.querySelector('svg')))"""

_CHART_BOXES = """() => Array.from(document.querySelectorAll('.xlstm-lab-chart')).map((el, i) => {
    const svg = el.querySelector('svg');
    const s = svg ? svg.getBoundingClientRect() : {left: 0, right: 0, width: 0};
    return {i, left: s.left, right: s.right, width: s.width, box: el.clientWidth, scroll: el.scrollWidth,
            title: (svg && svg.getAttribute('aria-label')) || ''};
})"""

_TABLE_BOXES = """() => Array.from(document.querySelectorAll('.bd-article table')).map((t, i) => {
    const r = t.getBoundingClientRect();
    // the nearest ancestor that clips sideways (overflow other than visible), if any
    let clip = null;
    for (let a = t.parentElement; a && a !== document.body; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX !== 'visible') { const ar = a.getBoundingClientRect();
            clip = {right: ar.right, overflow: s.overflowX, scroll: a.scrollWidth, client: a.clientWidth}; break; }
    }
    const s = getComputedStyle(t);
    return {i, right: r.right, scroll: t.scrollWidth, client: t.clientWidth, overflow: s.overflowX, clip,
            head: Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()).slice(-3)};
})"""


def _settled(page):
    page.wait_for_function(_DRAWN, timeout=60_000)
    # the renderer may re-embed a narrower layout after the first draw: wait until the widths stop changing
    page.wait_for_function(
        """() => new Promise(done => { const w = () => Array.from(document.querySelectorAll('.xlstm-lab-chart svg'))
                   .map(s => Math.round(s.getBoundingClientRect().width)).join();
               const a = w(); setTimeout(() => done(a === w()), 400); })""",
        timeout=30_000,
    )


def _charts(browser, server, chapter, viewport):  # noqa: F811
    """The chapter's chart boxes once drawn at ``viewport``, and the page's console errors."""
    page, _, _, errors = _open(browser, server, chapter, viewport)
    _settled(page)
    charts = page.evaluate(_CHART_BOXES)
    page.close()
    return charts, errors


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_chart_is_wider_than_a_phone(server, browser, chapter):  # noqa: F811
    charts, errors = _charts(browser, server, chapter, PHONE)
    assert charts, f"{chapter}: no chart"
    wide = [c for c in charts if c["width"] > PHONE["width"] or c["right"] > PHONE["width"] + 1 or c["left"] < -1]
    assert not wide, f"{chapter}: chart(s) wider than the {PHONE['width']} px screen: {wide}"
    # nor do they scroll sideways inside their own box (second panels, colour scales hidden)
    scrolling = [c for c in charts if c["scroll"] > c["box"] + 1]
    assert not scrolling, f"{chapter}: chart(s) scroll sideways in their box at {PHONE['width']} px: {scrolling}"
    assert not [e for e in errors if "vega" in e.lower() or "chart" in e.lower()], errors[:5]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_charts_keep_their_desktop_layout(server, browser, chapter):  # noqa: F811
    """At 1400 px a chart is drawn as designed: it fits its column without being narrowed to a phone's width."""
    charts, _ = _charts(browser, server, chapter, DESKTOP)
    for c in charts:
        assert c["scroll"] <= c["box"] + 1, f"{chapter}: chart {c['i']} scrolls at {DESKTOP['width']} px: {c}"
        assert c["width"] > 0.45 * c["box"], f"{chapter}: chart {c['i']} shrunk on a desktop: {c}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_table_is_cut_off_on_a_desktop(server, browser, chapter):  # noqa: F811
    """A table wider than the text column scrolls in its own box; no column is hidden behind a clipping parent."""
    page, _, _, _ = _open(browser, server, chapter, DESKTOP)
    tables = page.evaluate(_TABLE_BOXES)
    page.close()
    for t in tables:
        assert t["right"] <= DESKTOP["width"] + 1, f"{chapter}: table {t['i']} runs off the screen: {t}"
        if t["scroll"] > t["client"] + 1:  # wider than its box: the table itself must scroll
            assert t["overflow"] in ("auto", "scroll"), f"{chapter}: table {t['i']} is cut off: {t}"
        clip = t["clip"]
        if clip and clip["scroll"] > clip["client"] + 1:
            assert clip["overflow"] in ("auto", "scroll"), f"{chapter}: a parent hides table {t['i']}: {t}"


def test_counting_compute_table_reaches_its_last_columns(server, browser):  # noqa: F811
    """The issue's example: the 1050 px shape table shows N, paper N and the difference by scrolling its box."""
    page, _, _, _ = _open(browser, server, "notebooks/counting_compute", DESKTOP)
    tables = page.evaluate(_TABLE_BOXES)
    target = next((t for t in tables if any("paper N" in h for h in t["head"])), None)
    assert target is not None, f"no table with a 'paper N' column: {[t['head'] for t in tables]}"
    if target["scroll"] > target["client"] + 1:
        # scroll the table's own box to its end: the last header cell comes into view inside the screen
        right = page.evaluate(
            """(i) => { const t = document.querySelectorAll('.bd-article table')[i]; t.scrollLeft = t.scrollWidth;
                        const ths = t.querySelectorAll('thead th');
                        return ths[ths.length - 1].getBoundingClientRect().right; }""",
            target["i"])
        assert right <= DESKTOP["width"], f"last column still off screen after scrolling: {right}"
    page.close()
