"""Book data cards: one page per registered data set, one title each, quoting the registry's checksum."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlstm_lab.anchors import REGISTRY

BOOK_DATA = Path(__file__).resolve().parents[2] / "book" / "data"


def _headings(text: str) -> list[str]:
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            out.append(line)
    return out


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_page_per_data_set(name):
    text = (BOOK_DATA / f"{name}.md").read_text()
    assert len(_headings(text)) == 1
    assert REGISTRY[name].sha256 in text  # the page quotes the checksum the loader enforces
    assert REGISTRY[name].relpath.split("/")[-1] in text


def test_index_lists_every_page():
    text = (BOOK_DATA / "index.md").read_text()
    assert len(_headings(text)) == 1
    for name in REGISTRY:
        assert f"]({name})" in text, name
    assert "no LICENSE file" in text
