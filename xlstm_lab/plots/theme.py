"""One Altair theme for the book and the offline renderer that draws charts without any network access."""

from __future__ import annotations

import json
import os
import uuid

import altair as alt

__all__ = ["FAMILY_COLORS", "FAMILY_LABELS", "family_color", "enable", "book_renderer", "BOOK_ENV"]

#: Environment variable set by ``make book``: charts are then emitted as ``vegaEmbed`` calls against the
#: bundle shipped as a static file of the book; everywhere else they are rendered to SVG by vl-convert.
BOOK_ENV = "XLSTM_LAB_BOOK"

#: Colours used for the two model families in every chart.
FAMILY_COLORS = {"xlstm": "#d1495b", "llama": "#00798c"}
FAMILY_LABELS = {"xlstm": "xLSTM", "llama": "Transformer (Llama)"}


def family_color(title: str = "family") -> alt.Color:
    """Return a colour encoding for a ``family`` column holding "xlstm" / "llama"."""
    return alt.Color(
        "family:N",
        title=title,
        scale=alt.Scale(domain=list(FAMILY_COLORS), range=list(FAMILY_COLORS.values())),
        legend=alt.Legend(labelExpr="datum.label == 'xlstm' ? 'xLSTM' : 'Transformer'"),
    )


def _theme() -> dict:
    return {
        "config": {
            "view": {"continuousWidth": 420, "continuousHeight": 300, "stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "grid": True, "gridOpacity": 0.4},
            "legend": {"labelFontSize": 11, "titleFontSize": 12},
            "title": {"fontSize": 13, "anchor": "start"},
            "font": "Helvetica, Arial, sans-serif",
        }
    }


def book_renderer(spec: dict, **metadata) -> dict:
    """Altair renderer for the book: a ``<div>`` and a ``vegaEmbed`` call, no CDN.

    The Vega, Vega-Lite and vega-embed libraries come from ``_static/vega-bundle.js`` (written by
    ``python -m xlstm_lab.plots.bundle``), loaded once per page by the Sphinx config.
    """
    div_id = f"xlstm-vis-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    html = (
        f'<div id="{div_id}" class="xlstm-lab-chart"></div>\n'
        "<script type=\"text/javascript\">\n(function () {\n"
        f"  var el = document.getElementById('{div_id}');\n"
        f"  var spec = {payload};\n"
        "  function draw() {\n"
        "    if (typeof window.vegaEmbed !== 'function') {\n"
        "      el.innerHTML = '<p class=\"xlstm-chart-error\">Chart library missing: _static/vega-bundle.js did not load.</p>';\n"
        "      return;\n    }\n"
        "    window.vegaEmbed(el, spec, {actions: false, renderer: 'svg'}).catch(function (err) {\n"
        "      el.innerHTML = '<p class=\"xlstm-chart-error\">Chart failed: ' + String(err) + '</p>';\n"
        "    });\n  }\n"
        "  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', draw); } else { draw(); }\n"
        "})();\n</script>"
    )
    return {"text/html": html}


def enable(mode: str | None = None) -> str:
    """Register the theme and choose the renderer.

    Args:
        mode: "book" (vegaEmbed against the bundled libraries), "svg" (static SVG via vl-convert, works in any
            Jupyter front end offline) or None: "book" when the ``XLSTM_LAB_BOOK`` environment variable is set,
            else "svg".

    Returns:
        The renderer name that is now active.
    """
    if mode is None:
        mode = "book" if os.environ.get(BOOK_ENV) else "svg"
    if mode not in ("book", "svg"):
        raise ValueError(f"plots.enable: mode must be 'book' or 'svg', got {mode!r}.")
    alt.theme.register("xlstm_lab", enable=True)(_theme)
    alt.renderers.register("xlstm_book", book_renderer)
    alt.renderers.enable("xlstm_book" if mode == "book" else "svg")
    # Charts embed their data; the book's largest table (inference timings) has ~2.3k rows.
    alt.data_transformers.disable_max_rows()
    return mode
