"""The frontier explorer in the built book: drawn offline, it answers its slider and dropdown, and fits a phone.

Runs against ``_build/html`` (``make book``) or ``$XLSTM_LAB_BOOK_HTML``, like tests/book/test_browser.py.
"""

from __future__ import annotations

import pytest

from test_browser import DESKTOP, HTML, PHONE, _open, browser, server  # noqa: F401 (fixtures)
from xlstm_lab.anchors import PAPER
from xlstm_lab.chapters.isoflop_optima import size_label
from xlstm_lab.plots.explorer import SELECT_NAME, SLIDER_NAME

pytestmark = pytest.mark.browser

PAGE = "notebooks/frontier_explorer"
SLIDER = f".xlstm-lab-chart input[type=range][name={SLIDER_NAME}]"
SELECT = f".xlstm-lab-chart select[name={SELECT_NAME}]"
_DRAWN = """() => { const el = document.querySelector('.xlstm-lab-chart'); if (!el) return false;
    return el.querySelector('.xlstm-chart-error') || (el.querySelector('svg.marks') && el.querySelector('input')); }"""
_TEXT = "() => Array.from(document.querySelectorAll('.xlstm-lab-chart svg text')).map(t => t.textContent).join('\\n')"
_SET = """([sel, value]) => { const el = document.querySelector(sel); el.value = String(value);
    el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); }"""


def _paper_n(prefix: str, c: float) -> str:
    """N* of a published law at C, formatted as the readout writes it (k, a read straight from PAPER)."""
    return size_label(PAPER[f"{prefix}.n_opt.k"].value * c ** PAPER[f"{prefix}.n_opt.a"].value)


def _load(browser, server, viewport):  # noqa: F811
    assert (HTML / f"{PAGE}.html").exists(), f"{PAGE}.html was not built"
    page, off_host, failed, errors = _open(browser, server, PAGE, viewport)
    page.wait_for_function(_DRAWN, timeout=30_000)
    assert not page.locator(".xlstm-chart-error").count(), page.locator(".xlstm-chart-error").all_inner_texts()
    return page, off_host, failed, errors


def _move(page, selector, value, before):
    page.evaluate(_SET, [selector, value])
    page.wait_for_function(f"before => ({_TEXT})() !== before", arg=before, timeout=10_000)
    return page.evaluate(_TEXT)


def test_slider_and_dropdown_redraw_the_readout(server, browser):  # noqa: F811
    page, off_host, failed, errors = _load(browser, server, DESKTOP)
    start = page.evaluate(_TEXT)
    assert "C = 1e20 FLOPs" in start and "inside the fitted budgets" in start, start
    assert f"N* {_paper_n('isoflop.main.xlstm.ctx8192', 1e20)}" in start  # the paper's xLSTM law at the start
    rule = page.locator(".xlstm-lab-chart .mark-rule.role-mark line").first.bounding_box()

    moved = _move(page, SLIDER, 22, start)
    assert "C = 1e22 FLOPs" in moved and "EXTRAPOLATION" in moved, moved
    for prefix in ("isoflop.main.llama.ctx8192", "isoflop.main.xlstm.ctx8192"):
        assert f"N* {_paper_n(prefix, 1e22)}" in moved, (prefix, moved)
    assert page.locator(".xlstm-lab-chart .mark-rule.role-mark line").first.bounding_box()["x"] > rule["x"] + 50

    switched = _move(page, SELECT, "ctx16384", moved)
    assert "ctx 16384, context study" in switched, switched
    assert "no L(N, D) at ctx 16384" in switched  # the empty loss panel says why
    assert f"N* {_paper_n('isoflop.ctx.xlstm.ctx16384', 1e22)}" in switched
    assert "no law (runs not released)" not in switched  # xLSTM's ctx-16384 runs are released
    page.close()
    assert not errors, f"console errors: {errors[:5]}"
    assert not off_host and not failed, (off_host[:3], failed[:3])


def test_explorer_fits_a_phone(server, browser):  # noqa: F811
    page, _, _, errors = _load(browser, server, PHONE)
    for value in (18, 25):  # the readout's longest lines (extrapolation below and above)
        _move(page, SLIDER, value, page.evaluate(_TEXT))
        box = page.evaluate("""() => { const el = document.querySelector('.xlstm-lab-chart');
            const svg = el.querySelector('svg.marks').getBoundingClientRect();
            return {svg_right: svg.right, svg_width: svg.width, scroll: el.scrollWidth, client: el.clientWidth,
                    page: document.documentElement.scrollWidth}; }""")
        assert box["svg_right"] <= PHONE["width"] + 1 and box["svg_width"] <= PHONE["width"], box
        assert box["scroll"] <= box["client"] + 1, f"the chart scrolls sideways inside its box at 390 px: {box}"
        assert box["page"] <= PHONE["width"] + 1, box
    page.close()
    assert not errors, f"console errors: {errors[:5]}"
