"""Sphinx extension for the book's HTML: every script tag once per page; Colab buttons that open a notebook.

sphinx-thebe (and sphinx-togglebutton) add inline scripts while the build runs, so each lands both in the Sphinx
registry (filename '') and in the HTML builder (filename None); Sphinx 7.4 writes both into every page and the
browser logs ``Identifier 'THEBE_JS_URL' has already been declared``. This drops exact duplicates of any script
(same source, or same inline body) before the page is rendered.

Colab opens only .ipynb files from GitHub, and the chapters are MyST markdown (notebooks are never committed), so
the theme's Colab link (``.../blob/main/notebooks/<chapter>.md``) would fail. The book's workflow writes each chapter
as a notebook with an install cell first (book/colab_notebooks.py) and pushes them to the branch
``xlstm_lab_colab_branch`` (default "colab"); this rewrites each Colab link to that notebook.
"""

from __future__ import annotations

import re
from typing import Any


def _dedupe_scripts(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    kept = []
    for js in scripts:
        # The registry's copy has filename '' and the builder's None: treat both as "inline".
        filename = getattr(js, "filename", js) or ""
        attrs = getattr(js, "attributes", {}) or {}
        key = (str(filename), attrs.get("body"))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


_COLAB = re.compile(r"^(https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/)[^/]+/(.+)\.md$")


def colab_url(url: str, branch: str) -> str:
    """The theme's Colab link to a chapter's .md, pointed at its notebook on ``branch``; other links unchanged."""
    m = _COLAB.match(url)
    return f"{m.group(1)}{branch}/{m.group(2)}.ipynb" if m else url


def _colab_buttons(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    branch = app.config.xlstm_lab_colab_branch

    def visit(buttons):
        for b in buttons or []:
            if isinstance(b, dict):
                if isinstance(b.get("url"), str):
                    b["url"] = colab_url(b["url"], branch)
                visit(b.get("buttons"))

    visit(context.get("header_buttons"))


def setup(app):
    app.add_config_value("xlstm_lab_colab_branch", "colab", "html")
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _colab_buttons, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
