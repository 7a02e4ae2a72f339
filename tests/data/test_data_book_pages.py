"""Corpus data cards: one page per registered corpus, in the table of contents, quoting the pinned checksums."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlstm_lab.data import CORPORA, SOURCES

REPO = Path(__file__).resolve().parents[2]
BOOK_DATA = REPO / "book" / "data"


def _h1(text: str) -> list[str]:
    fenced, out = False, []
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            out.append(line)
    return out


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_page_per_corpus(name):
    text = (BOOK_DATA / f"corpus_{name}.md").read_text()
    assert len(_h1(text)) == 1 and f"(`{name}`)" in _h1(text)[0]
    for source in CORPORA[name]:
        assert SOURCES[source].sha256 in text  # the archive checksum fetch_source enforces
        assert SOURCES[source].requirement in text
    if len(CORPORA[name]) == 1:
        assert SOURCES[name].texts_sha256 in text
    assert "licence" in text


def test_pages_are_in_the_toc_and_the_index():
    toc = (REPO / "_toc.yml").read_text()
    index = (BOOK_DATA / "index.md").read_text()
    for name in CORPORA:
        assert f"- file: book/data/corpus_{name}\n" in toc
        assert f"](corpus_{name})" in index
