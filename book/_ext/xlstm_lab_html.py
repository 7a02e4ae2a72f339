"""Sphinx extension for the book's HTML: every script tag once per page.

sphinx-thebe (and sphinx-togglebutton) add inline scripts while the build runs, so each lands both in the Sphinx
registry (filename '') and in the HTML builder (filename None); Sphinx 7.4 writes both into every page and the
browser logs ``Identifier 'THEBE_JS_URL' has already been declared``. This drops exact duplicates of any script
(same source, or same inline body) before the page is rendered; it changes nothing else.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
