"""Colab buttons open a notebook: the chapters written as .ipynb with an install cell, and links that point at them.

Colab opens only .ipynb files from GitHub; the chapters are MyST markdown. book/colab_notebooks.py writes them as
notebooks (run by the workflow's ``colab`` job, pushed to the ``colab`` branch) and the book's extension
(book/_ext/xlstm_lab_html.py) points each chapter's Colab button there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import xlstm_lab_html  # noqa: E402


def _colab_module():
    spec = importlib.util.spec_from_file_location("colab_notebooks", ROOT / "book" / "colab_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cn = _colab_module()
REPO = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
ORG_REPO = REPO.removeprefix("https://github.com/")


def test_colab_link_points_at_the_notebook_on_the_colab_branch():
    theme = f"https://colab.research.google.com/github/{ORG_REPO}/blob/main/notebooks/isoflop_optima.md"
    assert xlstm_lab_html.colab_url(theme, "colab") == (
        f"https://colab.research.google.com/github/{ORG_REPO}/blob/colab/notebooks/isoflop_optima.ipynb")
    binder = f"https://mybinder.org/v2/gh/{ORG_REPO}/main?urlpath=lab/tree/notebooks/isoflop_optima.md"
    assert xlstm_lab_html.colab_url(binder, "colab") == binder


def test_one_branch_name_everywhere():
    """The script's branch, the extension's default and the branch the workflow pushes are the same."""
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    pushed = re.findall(r"git push .* (\S+)\s*$", workflow, flags=re.M)
    assert pushed == [cn.COLAB_BRANCH]
    assert f"git init -q -b {cn.COLAB_BRANCH}" in workflow

    class App:
        def __init__(self):
            self.values = {}

        def add_config_value(self, name, default, rebuild):
            self.values[name] = default

        def connect(self, *args, **kwargs):
            pass

    app = App()
    xlstm_lab_html.setup(app)
    assert app.values["xlstm_lab_colab_branch"] == cn.COLAB_BRANCH


def test_every_chapter_becomes_a_notebook_with_the_install_cell_first(tmp_path):
    written = cn.write_all(tmp_path, ref="0123abc")
    chapters = sorted((ROOT / "notebooks").glob("*.md"))
    assert [p.stem for p in written] == [c.stem for c in chapters]
    for chapter, path in zip(chapters, written):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        first = nb.cells[0]
        assert first.cell_type == "code" and cn.SETUP_TAG in first.metadata["tags"]
        assert f"git+{REPO}@0123abc" in first.source and first.source.count("\n") == 1
        # the rest is the chapter itself, cell for cell, without outputs
        ref = jupytext.read(chapter)
        assert [(c.cell_type, c.source) for c in nb.cells[1:]] == [(c.cell_type, c.source) for c in ref.cells]
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert "parameters" in nb.cells[1:][[i for i, c in enumerate(ref.cells)
                                              if "parameters" in c.metadata.get("tags", [])][0]].metadata["tags"]


def test_a_repository_url_that_is_not_github_is_refused(tmp_path):
    cfg = tmp_path / "_config.yml"
    cfg.write_text("repository:\n  url: https://gitlab.com/a/b\n")
    with pytest.raises(ValueError, match="repository.url"):
        cn.repository_url(cfg)


@pytest.mark.browser
def test_built_chapters_link_colab_to_their_notebook():
    """On the built book (``make book``) every chapter's Colab button opens <chapter>.ipynb on the colab branch."""
    html_dir = Path(os.environ.get("XLSTM_LAB_BOOK_HTML", ROOT / "_build" / "html"))
    if not (html_dir / "index.html").is_file():
        pytest.skip("the book is not built (make book)")
    for chapter in sorted((ROOT / "notebooks").glob("*.md")):
        html = (html_dir / "notebooks" / f"{chapter.stem}.html").read_text()
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
        assert links == [f"https://colab.research.google.com/github/{ORG_REPO}/blob/{cn.COLAB_BRANCH}/notebooks/"
                         f"{chapter.stem}.ipynb"], f"{chapter.stem}: {links}"
