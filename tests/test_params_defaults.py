"""Every notebooks/params/<chapter>.default.yaml holds exactly the chapter's parameters cell ("what the book is built
with"): same names, same values. A default changed in one place and not the other fails here."""

from __future__ import annotations

import math
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = sorted((ROOT / "notebooks" / "params").glob("*.default.yaml"))


def _parameters_cell(chapter: Path) -> dict:
    nb = jupytext.read(chapter)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{chapter.name}: {len(cells)} parameters cells"
    scope: dict = {}
    exec(cells[0].source, {}, scope)  # the cell is plain assignments of literals
    return scope


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_every_chapter_with_parameters_has_a_default_file():
    chapters = {p.stem for p in (ROOT / "notebooks").glob("*.md")}
    assert {p.name.removesuffix(".default.yaml") for p in DEFAULTS} == chapters


@pytest.mark.parametrize("path", DEFAULTS, ids=lambda p: p.name)
def test_default_file_is_the_parameters_cell(path):
    chapter = ROOT / "notebooks" / (path.name.removesuffix(".default.yaml") + ".md")
    cell = _parameters_cell(chapter)
    data = yaml.safe_load(path.read_text()) or {}
    assert set(data) == set(cell), f"{path.name}: only in the file {sorted(set(data) - set(cell))}, only in the " \
                                   f"chapter {sorted(set(cell) - set(data))}"
    differ = {k: (data[k], cell[k]) for k in cell if not _same(data[k], cell[k])}
    assert not differ, f"{path.name} differs from the chapter's parameters cell (file, chapter): {differ}"
