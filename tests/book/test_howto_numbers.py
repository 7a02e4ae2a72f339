"""The numbers the how-to pages quote are the code's: the ladder's calibration ranges and law (xlstm_lab.runs.ladder).

The how-to pages are plain Markdown (not executed), so a number they quote is checked here against the constant
it describes; a change of the constant without the page fails this test.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from xlstm_lab.runs import ladder

HOWTO = Path(__file__).resolve().parents[2] / "book" / "howto" / "run_a_sweep.md"


def _text() -> str:
    return re.sub(r"\s+", " ", HOWTO.read_text())


def test_calibration_ranges_are_the_ladders():
    quoted = re.findall(r"(\d+)k-(\d+)k(?: parameters)? at (\de\d+)", _text())
    got = [(float(c), float(lo) * 1e3, float(hi) * 1e3) for lo, hi, c in quoted]
    assert got == [tuple(map(float, row)) for row in ladder.CALIBRATION]


def test_law_is_the_ladders_and_chinchilla_aims_about_three_times_higher():
    m = re.search(r"N_opt\(C\) = ([\d.]+) C\^([\d.]+)", _text())
    assert m and (float(m.group(1)), float(m.group(2))) == (ladder.N_OPT_COEF, ladder.N_OPT_EXPONENT)
    assert "about three times too high" in _text()
    for c, _, _ in ladder.CALIBRATION:
        ratio = math.sqrt(c / 120) / ladder.n_opt(c)
        assert 2.5 <= ratio < 3.5, (c, ratio)
