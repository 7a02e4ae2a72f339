"""One Altair theme for the book and the offline renderer that draws charts without any network access.

Charts fit the screen: single views are written with ``width="container"`` and a nominal (desktop) width kept in
``usermeta`` (:func:`fit_width`); multi-panel charts are wrappable (``alt.concat(..., columns=k)`` or a wrapped
facet). The book renderer draws a chart at its desktop layout first and, when that is wider than the text column
(a phone), narrows it step by step: the container's width for single views, fewer columns for panels, legends
below the plot, and last narrower panels.
"""

from __future__ import annotations

import copy
import json
import os
import uuid

import altair as alt

__all__ = [
    "FAMILY_COLORS", "FAMILY_LABELS", "family_color", "enable", "book_renderer", "svg_renderer", "BOOK_ENV",
    "fit_width", "desktop_spec", "si_label", "SI_AXIS_LABEL",
]

#: Environment variable set by ``make book``: charts are then emitted as ``vegaEmbed`` calls against the
#: bundle shipped as a static file of the book; everywhere else they are rendered to SVG by vl-convert.
BOOK_ENV = "XLSTM_LAB_BOOK"

#: Colours used for the two model families in every chart.
FAMILY_COLORS = {"xlstm": "#d1495b", "llama": "#00798c"}
FAMILY_LABELS = {"xlstm": "xLSTM", "llama": "Transformer (Llama)"}

#: Axis ``labelExpr`` writing SI numbers with "B" for 1e9 (as the tables do) instead of d3's "G": 1B, 10B, 500M.
SI_AXIS_LABEL = "replace(format(datum.value, '~s'), 'G', 'B')"

# usermeta key under which a chart keeps its nominal (desktop) width
_META = "xlstm_lab"
_DEFAULT_WIDTH = 420


def si_label(field: str, digits: int = 3) -> str:
    """Vega expression formatting ``datum[field]`` with ``digits`` significant SI digits and "B" for 1e9.

    For tooltips: ``chart.transform_calculate(N_si=si_label("N"))`` then ``alt.Tooltip("N_si:N", title="N")``.
    """
    if not isinstance(digits, int) or not 1 <= digits <= 12:
        raise ValueError(f"si_label: digits must be an int in 1..12, got {digits!r}.")
    return f"replace(format(datum[{json.dumps(field)}], '.{digits}s'), 'G', 'B')"


def family_color(title: str = "family") -> alt.Color:
    """Return a colour encoding for a ``family`` column holding "xlstm" / "llama"."""
    return alt.Color(
        "family:N",
        title=title,
        scale=alt.Scale(domain=list(FAMILY_COLORS), range=list(FAMILY_COLORS.values())),
        legend=alt.Legend(labelExpr="datum.label == 'xlstm' ? 'xLSTM' : 'Transformer'"),
    )


def fit_width(chart: alt.TopLevelMixin, width: int) -> alt.TopLevelMixin:
    """A single (or layered) view whose width follows its container, ``width`` px wide where there is room.

    Args:
        chart: a top-level single or layered chart (not a panel of a concat: Vega-Lite sizes compound charts
            panel by panel, so panels keep numeric widths and the concat wraps instead).
        width: the plot's width in pixels on a desktop (the book renderer and the SVG renderer use it when the
            chart, legends included, fits; narrower screens get the container's width).

    Returns:
        The chart with ``width="container"`` and the nominal width in ``usermeta``.
    """
    if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
        raise ValueError(f"fit_width: width must be a positive number of pixels, got {width!r}.")
    return chart.properties(width="container", usermeta={_META: {"width": int(width)}})


def desktop_spec(spec: dict) -> dict:
    """The spec as drawn where there is room: ``width="container"`` replaced by the chart's nominal width.

    Used by the SVG renderer (a static image has no container) and as the book renderer's first layout.
    """
    if spec.get("width") != "container":
        return spec
    out = copy.copy(spec)
    out["width"] = int(((spec.get("usermeta") or {}).get(_META) or {}).get("width", _DEFAULT_WIDTH))
    out.pop("autosize", None)
    return out


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


# Defines window.xlstmLabDraw once per page. draw(el, spec) embeds the chart at its desktop layout; while the
# drawing is wider than the element, it re-embeds a narrower layout: (1) width "container" for a single view
# with a nominal width; (2) fewer columns for hconcat / concat / wrapped or column facets; (3) legends below the
# plot; (4) panels scaled down (three tries at most). A window resize that changes the element's width redraws
# the charts that were narrowed or overflow.
_DRAW_JS = r"""
if (typeof window.xlstmLabDraw !== 'function') {
  window.xlstmLabDraw = (function () {
    var OPTS = {actions: false, renderer: 'svg'};
    function clone(s) { return JSON.parse(JSON.stringify(s)); }
    function meta(s) { return (s.usermeta && s.usermeta.xlstm_lab) || {}; }
    function desktop(s) {
      if (s.width !== 'container' || !meta(s).width) return s;
      var d = clone(s); d.width = meta(s).width; delete d.autosize; return d;
    }
    function drawnWidth(el) {
      var svg = el.querySelector('svg');
      return svg ? svg.getBoundingClientRect().width : 0;
    }
    function eachView(s, f) {
      f(s);
      ['concat', 'hconcat', 'vconcat', 'layer'].forEach(function (k) {
        (s[k] || []).forEach(function (c) { eachView(c, f); });
      });
      if (s.spec) eachView(s.spec, f);
    }
    // Titles and subtitles broken into lines that fit `avail` px (about 7 px per character at the theme's sizes).
    function wrap(text, avail) {
      var max = Math.max(16, Math.floor(avail / 7.2)), out = [];
      [].concat(text).forEach(function (line) {
        var cur = '';
        String(line).split(' ').forEach(function (word) {
          if (cur && (cur + ' ' + word).length > max) { out.push(cur); cur = word; }
          else { cur = cur ? cur + ' ' + word : word; }
        });
        out.push(cur);
      });
      return out;
    }
    function wrapTitles(s, avail) {
      eachView(s, function (v) {
        if (typeof v.title === 'string' || Array.isArray(v.title)) v.title = {text: wrap(v.title, avail)};
        else if (v.title && v.title.text) {
          v.title.text = wrap(v.title.text, avail);
          if (v.title.subtitle) v.title.subtitle = wrap(v.title.subtitle, avail);
        }
      });
    }
    // Legends below the plot, entries stacked, labels no wider than the screen.
    function legendsBelow(s, avail) {
      s.config = s.config || {};
      s.config.legend = Object.assign({}, s.config.legend, {orient: 'bottom', direction: 'vertical', columns: 1,
                                                           labelLimit: avail - 60});
      function visit(o) {
        if (!o || typeof o !== 'object') return;
        if (Array.isArray(o)) { o.forEach(visit); return; }
        Object.keys(o).forEach(function (k) {
          var v = o[k];
          if (k === 'legend' && v && typeof v === 'object') {
            v.orient = 'bottom'; v.direction = 'vertical'; v.columns = 1;
            v.labelLimit = Math.min(v.labelLimit || 160, avail - 60);
          } else if (k !== 'data' && k !== 'datasets') visit(v);
        });
      }
      visit(s);
    }
    // One step narrower than `s` (drawn `w` px wide in `avail` px), or null when nothing is left to try.
    function narrower(orig, s, avail, w, st) {
      var n = clone(s), cols;
      if (!st.titles) { st.titles = true; wrapTitles(n, avail); }
      if (orig.width === 'container' && s.width !== 'container') {
        n.width = 'container'; if (orig.autosize) n.autosize = orig.autosize; else delete n.autosize;
        st.legends = true; legendsBelow(n, avail);
        return n;
      }
      if (n.hconcat) { n.concat = n.hconcat; n.columns = n.hconcat.length; delete n.hconcat; }
      if (n.facet && n.facet.column && !n.facet.row) { n.facet = n.facet.column; n.columns = 1; return n; }
      var count = n.concat ? n.concat.length : null;
      if ((n.concat || n.facet) && (n.columns === undefined || n.columns > 1)) {
        cols = n.columns === undefined ? (count || 2) : Math.min(n.columns, count || n.columns);
        n.columns = Math.max(1, Math.min(cols - 1, Math.floor(cols * avail / w)));
        return n;
      }
      if (!st.legends) { st.legends = true; legendsBelow(n, avail); return n; }
      if (st.shrink < 3) {
        st.shrink += 1;
        var f = Math.max(0.4, (avail - 4) / w), changed = false;
        eachView(n, function (v) {
          if (typeof v.width === 'number') { v.width = Math.max(80, Math.floor(v.width * f)); changed = true; }
        });
        return changed ? n : null;
      }
      return null;
    }
    function fail(el, msg) { el.innerHTML = '<p class="xlstm-chart-error">' + msg + '</p>'; }
    function draw(el, spec) {
      if (typeof window.vegaEmbed !== 'function') {
        fail(el, 'Chart library missing: _static/vega-bundle.js did not load.');
        return;
      }
      var st = {titles: false, legends: false, shrink: 0, narrowed: false, width: el.clientWidth, result: null};
      function embed(s) {
        return window.vegaEmbed(el, s, OPTS).then(function (res) {
          var avail = el.clientWidth, w = drawnWidth(el);
          st.result = res; st.width = avail;
          if (avail < 50 || w <= avail + 1) return res;   // fits (or hidden: nothing to measure)
          var next = narrower(spec, s, avail, w, st);
          if (!next) return res;
          st.narrowed = true; res.finalize();
          return embed(next);
        });
      }
      embed(desktop(spec)).catch(function (err) { fail(el, 'Chart failed: ' + String(err)); });
      var timer = null;
      window.addEventListener('resize', function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          if (el.clientWidth === st.width) return;
          if (!st.narrowed && drawnWidth(el) <= el.clientWidth + 1) return;
          if (st.result) st.result.finalize();
          draw(el, spec);
        }, 250);
      });
    }
    return draw;
  })();
}
"""


def book_renderer(spec: dict, **metadata) -> dict:
    """Altair renderer for the book: a ``<div>`` and a ``vegaEmbed`` call, no CDN.

    The Vega, Vega-Lite and vega-embed libraries come from ``_static/vega-bundle.js`` (written by
    ``python -m xlstm_lab.plots.bundle``), loaded once per page by the Sphinx config. The chart is drawn at its
    desktop layout and narrowed in the browser when that does not fit the text column (see the module docstring).
    """
    div_id = f"xlstm-vis-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    html = (
        f'<div id="{div_id}" class="xlstm-lab-chart"></div>\n'
        "<script type=\"text/javascript\">\n(function () {\n"
        + _DRAW_JS
        + f"  var el = document.getElementById('{div_id}');\n"
        f"  var spec = {payload};\n"
        "  function go() { window.xlstmLabDraw(el, spec); }\n"
        "  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', go); }\n"
        "  else { go(); }\n"
        "})();\n</script>"
    )
    return {"text/html": html}


def svg_renderer(spec: dict, **metadata) -> dict:
    """Altair renderer outside the book: a static SVG by vl-convert, single views at their nominal width."""
    import vl_convert

    return {"image/svg+xml": vl_convert.vegalite_to_svg(desktop_spec(spec))}


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
    alt.renderers.register("xlstm_svg", svg_renderer)
    alt.renderers.enable("xlstm_book" if mode == "book" else "xlstm_svg")
    # Charts embed their data; the book's largest table (inference timings) has ~2.3k rows.
    alt.data_transformers.disable_max_rows()
    return mode
