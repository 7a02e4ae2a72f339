"""A chapter re-run on a new lab parameter trains exactly the missing runs and renders their numbers in the prose."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from xlstm_lab.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _text(page: Path) -> str:
    raw = re.sub(r"<(script|style).*?</\1>", " ", page.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


@pytest.mark.slow
def test_a_new_ratio_trains_its_runs_and_the_page_says_so(tmp_path, monkeypatch, capsys):
    """Over-training with ratios 15 (never shipped) and 20 (shipped): 3 sizes x 2 families of ratio 15 train."""
    monkeypatch.setenv("XLSTM_LAB_STORE", str(tmp_path / "store.sqlite"))
    out = tmp_path / "ot"
    rc = main(["chapter", "overtraining", "-p", "lab_ratios", "[15, 20]", "--notebooks", str(NOTEBOOKS),
               "--out", str(out)])
    capsys.readouterr()
    assert rc == 0
    text = _text(out / "html" / "overtraining.html")
    assert "{glue" not in text
    assert "Training 6 runs not shipped with the book" in text  # said before training, with an estimate
    assert "12 runs: 6 shipped with the book, 6 trained in this execution" in text
    assert "15, 20 tokens per parameter" in text
    # A second re-run reads the six runs from the store and trains nothing.
    rc = main(["chapter", "overtraining", "-p", "lab_ratios", "[15, 20]", "--notebooks", str(NOTEBOOKS),
               "--out", str(tmp_path / "ot2"), "--no-html"])
    capsys.readouterr()
    assert rc == 0
    nb = (tmp_path / "ot2" / "overtraining.ipynb").read_text()
    assert "6 from the local store" in nb and "Training 6 runs" not in nb
