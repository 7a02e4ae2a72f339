"""Write the chapters as Colab-ready notebooks: the jupytext .ipynb of each chapter, no outputs, one set-up cell first.

Colab opens notebooks from GitHub, and only as .ipynb; the repository keeps its chapters as MyST markdown and never
commits notebooks. The book's workflow (.github/workflows/book.yml, job ``colab``) runs this script on every push
to main and pushes the result to the branch ``COLAB_BRANCH``, where each chapter's Colab button
(book/_ext/xlstm_lab_html.py) points. The first cell installs this package from the repository (``repository.url``
in _config.yml) at the commit the notebooks were written from, so a Colab session runs the chapter's own code.

Usage: ``python book/colab_notebooks.py OUT_DIR [--ref REF]`` writes OUT_DIR/notebooks/<chapter>.ipynb.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The branch the workflow pushes the notebooks to; the Colab buttons point at it (keep the two in step).
COLAB_BRANCH = "colab"
SETUP_TAG = "colab-setup"


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository's address, as written once in the book's configuration."""
    url = (yaml.safe_load(config.read_text()).get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://github.com/"):
        raise ValueError(f"{config}: repository.url must be a https://github.com/ORG/REPO address, got {url!r}.")
    return url.rstrip("/")


def setup_cell(repo_url: str, ref: str) -> nbformat.NotebookNode:
    """A code cell that installs xlstm-lab (with the extras the chapters import) from ``repo_url`` at ``ref``."""
    source = (
        "# Colab set-up: install xlstm-lab from its repository (this cell is not part of the book's chapter).\n"
        f'%pip install -q "xlstm-lab[book,data] @ git+{repo_url}@{ref}"'
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": [SETUP_TAG]})


def colab_notebook(chapter: Path, repo_url: str, ref: str) -> nbformat.NotebookNode:
    """The chapter as a notebook (jupytext, no outputs) with the set-up cell first."""
    nb = jupytext.read(chapter)
    nb.cells.insert(0, setup_cell(repo_url, ref))
    nb.metadata.pop("jupytext", None)
    nb.metadata["colab"] = {"name": chapter.with_suffix(".ipynb").name, "provenance": []}
    return nb


def write_all(out: Path, ref: str, chapters: list[Path] | None = None) -> list[Path]:
    """Write every chapter (default: notebooks/*.md) under ``out/notebooks``; returns the written paths."""
    repo_url = repository_url()
    chapters = sorted((ROOT / "notebooks").glob("*.md")) if chapters is None else chapters
    if not chapters:
        raise FileNotFoundError(f"no chapters (*.md) under {ROOT / 'notebooks'}.")
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        nb = colab_notebook(chapter, repo_url, ref)
        nbformat.validate(nb)
        path = out / "notebooks" / chapter.with_suffix(".ipynb").name
        nbformat.write(nb, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write notebooks/<chapter>.ipynb into")
    ap.add_argument("--ref", default="main", help="git ref the set-up cell installs (default: main)")
    args = ap.parse_args(argv)
    for path in write_all(args.out, args.ref):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
