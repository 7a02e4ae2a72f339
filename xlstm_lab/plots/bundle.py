"""Write the offline Vega bundle (vega, vega-lite, vega-embed) used by the book's chart renderer."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["write_bundle"]


def write_bundle(path: str | Path) -> Path:
    """Write ``vl_convert.javascript_bundle()`` wrapped in a function scope to ``path``.

    The wrapper keeps the bundle's top-level names (for example ``_``) from clashing with the Sphinx theme's
    globals; the bundle itself assigns ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite``.
    """
    import vl_convert

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("(function () {\n" + vl_convert.javascript_bundle() + "\n})();\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "book/_static/vega-bundle.js"
    print(f"wrote {write_bundle(target)}")
