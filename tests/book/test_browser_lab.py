"""The "At lab scale" half of every result chapter, in the built book: its runs are accounted for and its chart drawn."""

from __future__ import annotations

import re

import pytest

from test_browser import DESKTOP, HTML, _open, browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

LAB_CHAPTERS = ["notebooks/isoflop_optima", "notebooks/context_dependence", "notebooks/overtraining",
                "notebooks/loss_surface"]

_SECTION = """() => {
    const h = Array.from(document.querySelectorAll('h2')).find(e => e.textContent.startsWith('At lab scale'));
    if (!h) return null;
    const section = h.closest('section') || h.parentElement;
    const charts = Array.from(section.querySelectorAll('.xlstm-lab-chart'));
    return {text: section.innerText, charts: charts.length,
            drawn: charts.filter(el => el.querySelector('svg.marks, canvas')).length};
}"""


@pytest.mark.parametrize("chapter", LAB_CHAPTERS)
def test_lab_half_accounts_for_its_runs_and_draws(server, browser, chapter):  # noqa: F811
    assert (HTML / f"{chapter}.html").exists(), f"{chapter}.html was not built"
    page, off_host, failed, errors = _open(browser, server, chapter, DESKTOP)
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.xlstm-lab-chart')).every(
               el => el.querySelector('.xlstm-chart-error') || el.querySelector('svg.marks, canvas'))""",
        timeout=30_000)
    info = page.evaluate(_SECTION)
    page.close()
    assert info is not None, f"{chapter}: no 'At lab scale' section"
    # The summary sentence of chapters.lab.LabRuns: how many runs came from where.
    m = re.search(r"(\d+) runs: (\d+) shipped with the book, (\d+) trained in this execution", info["text"])
    assert m, f"{chapter}: the lab half does not say where its runs came from"
    assert int(m.group(1)) >= int(m.group(2)) + int(m.group(3)) and int(m.group(1)) > 0
    assert info["charts"] >= 1 and info["drawn"] == info["charts"], f"{chapter}: lab chart not drawn {info}"
    assert "{glue" not in info["text"]
    assert not off_host and not failed and not errors, f"{chapter}: {off_host[:3]} {failed[:3]} {errors[:3]}"
