"""Charts fit the screen and their legends say what the marks show (issue 10, "Layout" and "Legends").

Spec-level checks of every chart the chapters draw from plots.{accounting,isoflop,kernels,latency,overtraining,
surface}: a single view follows its container's width (``width="container"``, with a desktop width kept for where
there is room); a multi-panel chart wraps (``concat``/facet with ``columns``, never ``hconcat`` or a ``column``
facet) and each panel is narrow enough to stand alone in the 358 px text column of a 390 px phone. What the browser
draws is checked on the built book by tests/book/test_browser_layout.py.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest

from xlstm_lab.anchors import HARDWARE
from xlstm_lab.chapters import counting_compute as cc
from xlstm_lab.chapters import inference_latency as il
from xlstm_lab.chapters import mlstm_kernels as mk
from xlstm_lab.plots import (
    accounting, inference_measured, isoflop, kernels, lab, lab_scaling, lab_training, latency, overtraining, surface,
    theme,
)

ROOT = Path(__file__).resolve().parents[2]
# A panel plus its y axis (about 70 px with title and labels) fits the 358 px column of a 390 px phone.
MAX_PANEL_WIDTH = 280
# plots.explorer is not here: its four views share slider/dropdown parameters in one vconcat whose views follow the
# container; what it draws at 390 px is checked on the built page (tests/book/test_browser_layout.py).
MODULES = {"accounting": accounting, "isoflop": isoflop, "kernels": kernels, "latency": latency,
           "overtraining": overtraining, "surface": surface, "lab": lab, "lab_scaling": lab_scaling,
           "lab_training": lab_training, "inference_measured": inference_measured}


@pytest.fixture(autouse=True, scope="module")
def _theme():
    theme.enable("svg")


# ---------------------------------------------------------------- small inputs of the documented shapes

def _parabola_frames():
    rows = []
    for panel in ("xLSTM", "Transformer"):
        for b, c in zip(isoflop.BUDGET_DOMAIN, (6e18, 1e19, 3e19, 1e20)):
            for n in np.geomspace(8e7, 2e9, 5):
                loss = 3 + (math.log(n) - math.log(c) / 2) ** 2 / 50
                rows.append({"panel": panel, "budget": b, "N": n, "loss": loss})
    pts = pd.DataFrame(rows)
    return pts, pts, pts.groupby(["panel", "budget"], as_index=False).first()


def _power_law_frames():
    rows, lines = [], []
    for fam in ("xlstm", "llama"):
        for var, k in (("N*", 0.5), ("D*", 0.5)):
            for c in (1e19, 1e20, 1e21):
                v = 2e9 * (c / 1e21) ** k
                rows.append({"family": fam, "series": "ours", "variable": var, "C": c, "value": v, "lo": v / 1.2,
                             "hi": v * 1.2})
                lines.append({"family": fam, "series": "ours", "variable": var, "C": c, "value": v})
    return pd.DataFrame(rows), pd.DataFrame(lines)


def _runs_plane():
    rng = np.random.default_rng(0)
    runs = pd.DataFrame({"family": ["xlstm", "llama"] * 6, "ctx": [2048] * 6 + [8192] * 6, "set": "isoflop",
                         "C": np.geomspace(1e19, 1e21, 12), "loss": 3 - rng.random(12) / 3,
                         "N": np.geomspace(1e8, 3e9, 12)})
    return runs, runs.groupby("family", as_index=False).first()[["family", "C", "loss"]]


def _context_frame():
    rows = []
    for fam in ("xlstm", "llama"):
        for ctx, src in ((2048, "recomputed"), (8192, "published"), (16384, "recomputed")):
            n = 2.5e8 if fam == "xlstm" else 1.8e8
            ours = src == "recomputed"
            rows.append({"family": fam, "ctx": ctx, "source": src, "N_opt": n, "lo": n / 1.2 if ours else np.nan,
                         "hi": n * 1.2 if ours else np.nan, "N_vertex": n * 1.05 if ours else np.nan})
    return pd.DataFrame(rows)


def _timings():
    rows = []
    for fam in ("xlstm", "llama"):
        for size in ("160m", "1.4b", "7b"):
            for p in (128, 1024, 8192):
                rows.append({"family": fam, "size": size, "batch": 1, "prefill": p, "ttft_s": 1e-3 * p / 100,
                             "step_s": 0.01 + (1e-6 * p if fam == "llama" else 0)})
    return pd.DataFrame(rows)


TERM_SERIES = ["measured", "model", "compute term", "memory term", "compute at peak", "memory at peak", "overhead"]


def _term_curves():
    rows = [{"family": fam, "size": "7b", "batch": 1, "prefill": p, "series": s, "time_ms": 1 + i + p / 1000}
            for fam in ("xlstm", "llama") for p in (128, 1024, 8192) for i, s in enumerate(TERM_SERIES)]
    return pd.DataFrame(rows)


def _slope_frames():
    pts = pd.DataFrame([{"family": f, "preset": p, "model_size": s, "C": c, "loss": 3 - 0.1 * i}
                        for f in ("xlstm", "llama") for p in (22.0, 44.0) for i, (s, c) in
                        enumerate((("160M", 1e19), ("400M", 1e20)))])
    lines = pts[["family", "preset", "C", "loss"]]
    table = pd.DataFrame([{"family": f, "preset": p, "slope": 0.05, "slope_lo": 0.04, "slope_hi": 0.06,
                           "paper": 0.05, "n_points": 3, "dof": 1, "status": "ok"}
                          for f in ("xlstm", "llama") for p in (22.0, 44.0)])
    return pts, lines, table


def _gadre_frames():
    curves = pd.DataFrame([{"dataset": ds, "M": m, "C": c, "loss": 3.5 - 0.2 * math.log10(c / 1e17)}
                           for ds in ("rpj", "c4") for m in (20.0, 640.0) for c in (1e17, 1e19, 1e21)])
    runs = pd.DataFrame([{"dataset": ds, "role": role, "C": c, "loss": loss, "M": 20.0, "model_config": cfg,
                          "predicted": 2.6 if role == "held-out" else np.nan}
                         for ds in ("rpj", "c4") for role, c, loss, cfg in
                         (("fit", 1e18, 3.2, "a"), ("other", 1e19, 3.0, "b"), ("held-out", 1e21, 2.5, "c"))])
    return curves, runs


def _surface_frames():
    grid = pd.DataFrame([{"family": f, "log10_N": a, "log10_N2": a + 0.5, "log10_D": b, "log10_D2": b + 0.5,
                          "N": 10 ** a, "D": 10 ** b, "loss": 4 - 0.1 * a - 0.05 * b}
                         for f in ("xlstm", "llama") for a in (8.0, 8.5, 9.0) for b in (10.0, 10.5, 11.0)])
    runs = pd.DataFrame([{"family": f, "model_size": "400M", "N": 4e8, "D": 8e9, "tokens_per_param": 20.0,
                          "loss": 2.9, "predicted": 2.95, "residual": 0.05} for f in ("xlstm", "llama")])
    front = pd.DataFrame([{"family": f, "N_opt": 10 ** a, "D_opt": 10 ** (a + 1.5), "C": 6 * 10 ** (2 * a + 1.5)}
                          for f in ("xlstm", "llama") for a in (8.2, 8.8)])
    opt = pd.DataFrame([{"family": f, "C": c, "L_opt": 3.0, "L_lo": 2.9, "L_hi": 3.1, "N_opt": 2e9,
                         "tokens_per_param": 20.0} for f in ("xlstm", "llama") for c in (1e20, 1e22)])
    boot = pd.DataFrame({"family": ["xlstm", "llama"] * 5, "alpha": np.linspace(0.3, 0.4, 10),
                         "beta": np.linspace(0.3, 0.35, 10)})
    return grid, runs, front, opt, boot


def _lab_frames():
    """Lab-half inputs: parabolas at CPU budgets, per-context optima, a held-out surface, calibration, speed."""
    rows = []
    for fam in ("xlstm", "llama"):
        for b in (3e10, 1e11, 1e12, 1e13):
            for n in np.geomspace(1e4, 5e5, 5):
                rows.append({"panel": fam, "family": fam, "budget": f"{b:.0e}", "N": n, "seed": 0,
                             "loss": 1.5 + (math.log(n) - math.log(b) / 2.2) ** 2 / 40,
                             "source": "shipped" if b > 3e10 else "trained now",
                             "role": "held out" if b == 1e13 else "fitted"})
    pts = pd.DataFrame(rows)
    verts = pts.groupby(["panel", "budget"], as_index=False).first()
    ctx = pd.DataFrame([{"family": f, "ctx": c, "budget": f"{b:.0e}", "N_opt": 3e4 * (b / 1e11) ** 0.5,
                         "N_opt_lo": 2e4 * (b / 1e11) ** 0.5, "N_opt_hi": 5e4 * (b / 1e11) ** 0.5}
                        for f in ("xlstm", "llama") for c in (64, 256, 1024) for b in (1e11, 1e12)])
    cal = pd.DataFrame([{"family": f, "budget_flops": b, "lr": lr, "batch_size": bs, "val_loss": 1.6 + lr + bs / 1e3}
                        for f in ("xlstm", "llama") for b in (3e11, 1e12) for lr in (3e-3, 1e-2, 4e-2)
                        for bs in (4, 8, 16)])
    speed = pd.DataFrame([{"family": f, "d_model": d, "n_layers": 2, "N_params": 30 * d * d, "runs": 3,
                           "tokens_per_s": 4e4 / d, "model_flops_per_s": 1e9, "threads": "1"}
                          for f in ("xlstm", "llama") for d in (16, 32, 64, 128)])
    rates = pd.DataFrame({"label": ["xz -9", "zstd -19", "xLSTM d80, 1e13"], "bpb": [2.1, 2.15, 1.97],
                          "kind": ["compressor", "compressor", "model"]})
    return pts, verts, ctx, cal, speed, rates


def _measured_frames():
    rows = pd.DataFrame([{"family": f, "size": "small", "batch": 1, "prompt_tokens": t,
                          "ttft_s": t * 1e-5, "ttft_min_s": t * 0.9e-5, "ttft_max_s": t * 1.1e-5,
                          "step_s": 1e-3, "step_min_s": 0.9e-3, "step_max_s": 1.1e-3}
                         for f in ("xlstm", "llama") for t in (256, 1024, 4096)])
    terms = pd.DataFrame([{"family": f, "size": "small", "batch": 1, "prompt_tokens": t, "series": k,
                           "time_ms": t * 1e-2} for f in ("xlstm", "llama") for t in (256, 1024, 4096)
                          for k in ("measured", "model", "compute term", "memory at peak", "overhead")])
    mem = pd.DataFrame([{"family": f, "context": c, "state_bytes": 4096 * (c if f == "llama" else 1),
                         "state_bytes_predicted": 4096 * (c if f == "llama" else 1)}
                        for f in ("xlstm", "llama") for c in (256, 1024, 4096)])
    return rows, terms, mem


def _cases() -> dict:
    """Every chart function the chapters call, built from inputs of the documented shapes."""
    shapes = cc.shape_table()
    pts, curves, verts = _parabola_frames()
    optima, lines = _power_law_frames()
    runs, env = _runs_plane()
    ctx = _context_frame()
    timings = _timings()
    spts, slines, stable = _slope_frames()
    gcurves, gruns = _gadre_frames()
    grid, sruns, front, opt, boot = _surface_frames()
    device = "h100-sxm"
    roof_pts = il.roofline_points(("1.4b", "7b"), (512, 4096, 16384), (1, 16, 256), 4096, device)
    gap = pd.DataFrame({"gradient": ["dq", "dk"] * 2, "source": ["float64"] * 2 + ["H100"] * 2,
                        "rel_diff": [0.1, 0.2, 0.15, 0.25]})
    lpts, lverts, lctx, cal, speed, rates = _lab_frames()
    mrows, mterms, mem = _measured_frames()
    return {
        "lab_parabola_chart": lambda: lab.lab_parabola_chart(lpts, lpts, lverts),
        "lab_context_chart": lambda: lab.lab_context_chart(lctx),
        "holdout_chart": lambda: lab_scaling.holdout_chart(lpts, lpts),
        "calibration_chart": lambda: lab_training.calibration_chart(cal),
        "throughput_chart": lambda: lab_training.throughput_chart(speed),
        "bits_per_byte_chart": lambda: lab_training.bits_per_byte_chart(rates),
        "measured_chart": lambda: inference_measured.measured_chart(mrows, "ttft", 1, "TTFT"),
        "measured_terms_chart": lambda: inference_measured.measured_terms_chart(mterms, "TTFT terms"),
        "memory_chart": lambda: inference_measured.memory_chart(mem, "Decode state"),
        "breakdown_chart": lambda: accounting.breakdown_chart(shapes),
        "flops_per_token_chart": lambda: accounting.flops_per_token_chart(cc.flops_per_token()),
        "parabola_chart": lambda: isoflop.parabola_chart(pts, curves, verts),
        "power_law_chart": lambda: isoflop.power_law_chart(optima, lines),
        "compute_loss_chart": lambda: isoflop.compute_loss_chart(runs, env, title="Our runs, ctx 256"),
        "side_by_side": lambda: isoflop.side_by_side(isoflop.compute_loss_chart(runs, env),
                                                     isoflop.compute_loss_chart(runs, env)),
        "context_nopt_chart": lambda: isoflop.context_nopt_chart(ctx, budget=1e19),
        "seq_mix_chart": lambda: isoflop.seq_mix_chart(pd.DataFrame({"family": ["xlstm", "llama"] * 2,
                                                                     "ctx": [2048, 2048, 8192, 8192],
                                                                     "seq_mix_ratio": [0.1, 0.2, 0.1, 0.5]})),
        "flops_chart": lambda: kernels.flops_chart(mk.flops_table([128, 1024, 8192]), crossover=320.0),
        "convention_chart": lambda: kernels.convention_chart(gap),
        "training_chart": lambda: kernels.training_chart(mk.anchor_training()),
        "decode_chart": lambda: kernels.decode_chart(mk.anchor_decode()),
        "ttft_chart": lambda: latency.ttft_chart(timings),
        "step_chart": lambda: latency.step_chart(timings),
        "terms_chart": lambda: latency.terms_chart(_term_curves(), "TTFT terms"),
        "alpha_chart": lambda: latency.alpha_chart(pd.DataFrame({"family": ["xlstm", "llama"], "size": ["7b", "7b"],
                                                                 "num_params": [7e9, 7e9], "alpha/peak": [0.5, 0.6]})),
        "roofline_chart": lambda: latency.roofline_chart(il.roofline_curve(device), roof_pts,
                                                         HARDWARE[device].critical_intensity),
        "slope_chart": lambda: overtraining.slope_chart(spts, slines),
        "slope_interval_chart": lambda: overtraining.slope_interval_chart(stable),
        "gadre_chart": lambda: overtraining.gadre_chart(gcurves, gruns),
        "contour_chart": lambda: surface.contour_chart(grid, sruns, front),
        "residual_chart": lambda: surface.residual_chart(sruns),
        "bootstrap_chart": lambda: surface.bootstrap_chart(boot, boot.groupby("family", as_index=False).mean()),
        "compute_optimal_chart": lambda: surface.compute_optimal_chart(opt),
    }


CASES = _cases()


def _chapter_calls() -> set[str]:
    """Names of this package's chart functions that the chapters import from the six modules above."""
    names: set[str] = set()
    for md in (ROOT / "notebooks").glob("*.md"):
        text = md.read_text()
        for mod in MODULES:
            for m in re.finditer(rf"from xlstm_lab\.plots\.{mod} import \(?([^)\n]*(?:\n[^)\n]*)*?)\)?\n", text):
                names |= {n.strip() for n in m.group(1).replace("\n", ",").split(",") if n.strip()}
    return {n for n in names if n.endswith("_chart") or n == "side_by_side"}


def test_every_chart_the_chapters_call_is_checked():
    called = _chapter_calls()
    assert len(called) >= 15, f"the notebook scan found too few chart functions: {sorted(called)}"
    missing = called - set(CASES)
    assert not missing, f"chart functions used by the chapters without a layout case here: {sorted(missing)}"


def _views(spec: dict):
    """Every view-level spec (top level, concat items, facet inner spec, layers)."""
    yield spec
    for key in ("concat", "hconcat", "vconcat", "layer"):
        for sub in spec.get(key, []):
            yield from _views(sub)
    if isinstance(spec.get("spec"), dict):
        yield from _views(spec["spec"])


def _layout_problems(spec: dict) -> list[str]:
    """Why a chart would not fit a 390 px phone (empty when it does)."""
    if spec.get("width") == "container":
        nominal = spec.get("usermeta", {}).get("xlstm_lab", {}).get("width")
        return [] if isinstance(nominal, int) and nominal > 0 else ["container width without a desktop width"]
    problems = []
    for v in _views(spec):
        if "hconcat" in v:
            problems.append("hconcat does not wrap")
        if isinstance(v.get("facet"), dict) and ("column" in v["facet"] or "row" in v["facet"]):
            problems.append("column/row facet does not wrap")
        if ("concat" in v or "facet" in v) and "columns" not in v:
            problems.append("concat/facet without columns")
        if isinstance(v.get("width"), (int, float)) and v["width"] > MAX_PANEL_WIDTH:
            problems.append(f"panel {v['width']} px wide")
        if v.get("width") == "container" and v is not spec:
            problems.append("container width inside a compound chart")
        if "encoding" in v and "column" in v["encoding"]:
            problems.append("column encoding does not wrap")
    if not any("concat" in v or "facet" in v or "vconcat" in v for v in _views(spec)):
        # a single view with a numeric width: it must fit by itself
        w = spec.get("width")
        if not isinstance(w, (int, float)) or w > MAX_PANEL_WIDTH:
            problems.append(f"single view {w!r} px wide, not width='container'")
    return problems


@pytest.mark.parametrize("name", sorted(CASES))
def test_chart_follows_the_container_or_wraps(name):
    spec = CASES[name]().to_dict()  # validates against the Vega-Lite schema
    assert not _layout_problems(spec), f"{name}: {_layout_problems(spec)}"


def test_layout_check_rejects_the_old_layouts():
    """The check above can fail: a 560 px single view, a column facet and a row of panels are all rejected."""
    df = pd.DataFrame({"x": [1, 2], "y": [1, 2], "f": ["a", "b"]})
    base = alt.Chart(df).mark_point().encode(x="x", y="y")
    assert _layout_problems(base.properties(width=560).to_dict())
    assert _layout_problems(base.properties(width=280).facet(column="f:N").to_dict())
    assert _layout_problems(alt.hconcat(base.properties(width=200), base.properties(width=200)).to_dict())
    assert _layout_problems(alt.concat(base.properties(width=420), base, columns=2).to_dict())
    assert not _layout_problems(theme.fit_width(base, 560).to_dict())


# ---------------------------------------------------------------- one unit word for 1e9

def _si_formats(obj, path=""):
    """Paths of every d3 SI format ("~s", ".3s") left in a spec: those print 1e9 as "G"."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "format" and isinstance(v, str) and v.endswith("s") and obj.get("formatType") != "time":
                yield f"{path}/{k}={v}"
            elif k not in ("data", "datasets"):
                yield from _si_formats(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _si_formats(v, f"{path}/{i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_si_format_that_writes_g(name):
    spec = CASES[name]().to_dict()
    assert not list(_si_formats(spec)), f"{name} formats numbers with d3's SI 'G': {list(_si_formats(spec))}"


def _tick_labels(chart) -> list[str]:
    import vl_convert

    svg = vl_convert.vegalite_to_svg(theme.desktop_spec(chart.to_dict()))
    return re.findall(r'role-axis-label.*?</g></g>', svg, flags=re.S)


BILLIONS = {
    "power_law_chart": CASES["power_law_chart"],
    # sequences up to 4M tokens: the dense forms reach ~2e9 FLOPs per token and head
    "flops_chart": lambda: kernels.flops_chart(mk.flops_table([1024, 65536, 4194304])),
}


@pytest.mark.parametrize("name", sorted(BILLIONS))
def test_billions_are_written_b(name):
    """Rendered (vl-convert): the axis of billions reads 1B / 2B ..., never 1G."""
    labels = " ".join(_tick_labels(BILLIONS[name]()))
    texts = re.findall(r">([^<>]+)</text>", labels)
    assert any(re.fullmatch(r"\d+(\.\d+)?B", t) for t in texts), texts
    assert not any(re.fullmatch(r"\d+(\.\d+)?G", t) for t in texts), texts


def test_si_label_expression():
    assert theme.si_label("N") == "replace(format(datum[\"N\"], '.3s'), 'G', 'B')"
    with pytest.raises(ValueError, match="digits"):
        theme.si_label("N", 0)


# ---------------------------------------------------------------- legends say what the marks show

def _hex(c: str) -> np.ndarray:
    return np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def test_terms_legend_draws_lines_as_strokes_and_tells_model_from_overhead():
    spec = CASES["terms_chart"]().to_dict()
    layers = spec["spec"]["layer"]
    color = layers[0]["encoding"]["color"]["scale"]
    cmap = dict(zip(color["domain"], color["range"]))
    # "near-identical greys" before (#555555 / #8c8c8c): now far apart in RGB
    assert np.linalg.norm(_hex(cmap["model"]) - _hex(cmap["overhead"])) > 100
    shape = next(l["encoding"]["shape"]["scale"] for l in layers if "shape" in l["encoding"])
    smap = dict(zip(shape["domain"], shape["range"]))
    assert smap["measured"] == "circle" and all(smap[s] == "stroke" for s in TERM_SERIES if s != "measured")
    dash = next(l["encoding"]["strokeDash"]["scale"] for l in layers if "strokeDash" in l["encoding"])
    dmap = {k: tuple(v) for k, v in zip(dash["domain"], dash["range"])}
    assert dmap["model"] != dmap["compute term"] != dmap["compute at peak"] != dmap["overhead"]
    # every layer's legend channels use the one field, so Vega-Lite merges them into one legend
    legend_channels = ("color", "shape", "strokeDash")
    fields = {enc["field"] for l in layers for ch, enc in l["encoding"].items() if ch in legend_channels}
    assert fields == {"series"}


def _label_boxes(spec: dict, width: float) -> list[tuple[float, float, float, float, str]]:
    """Pixel boxes (x0, x1, y0, y1) of the roofline's text labels at plot width ``width`` (log x from the curve)."""
    layers = spec["layer"]
    data = spec.get("datasets", {})
    curve = data[layers[0]["data"]["name"]]
    xs = [r["intensity"] for r in curve]
    ys = [r["attainable_tflops"] for r in curve]
    lx0, lx1, ly0, ly1 = math.log(min(xs)), math.log(max(xs)), math.log(min(ys)), math.log(max(ys))
    boxes = []
    for layer in layers:
        mark = layer["mark"] if isinstance(layer["mark"], dict) else {"type": layer["mark"]}
        if mark["type"] != "text":
            continue
        for r in data[layer["data"]["name"]]:
            px = width * (math.log(r["intensity"]) - lx0) / (lx1 - lx0) + mark.get("dx", 0)
            py = 320 * (1 - (math.log(r["attainable_tflops"]) - ly0) / (ly1 - ly0)) + mark.get("dy", 0)
            w = 6.0 * len(r["setting"])  # 10 px font: about 6 px per character
            x0, x1 = (px - w, px) if mark.get("align") == "right" else (px, px + w)
            # padded by 3 px a side: labels that touch read as one ("T=4096T=16384")
            boxes.append((x0 - 3, x1 + 3, py - 11, py + 1, r["setting"]))
    return boxes


@pytest.mark.parametrize("width", [560, 260], ids=["desktop", "phone"])
def test_roofline_labels_do_not_collide(width):
    spec = CASES["roofline_chart"]().to_dict()
    boxes = _label_boxes(spec, width)
    assert {"T=4096", "T=16384"} <= {b[4] for b in boxes}
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = min(a[1], b[1]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[2], b[2]) > 0
            assert not overlap, f"labels {a[4]} and {b[4]} overlap at {width} px: {a[:4]} {b[:4]}"


def _scale_map(enc: dict) -> dict:
    return dict(zip(enc["scale"]["domain"], enc["scale"]["range"]))


def test_gadre_legend_separates_fit_other_observed_and_predicted():
    spec = CASES["gadre_chart"]().to_dict()
    point_layers = [l for panel in spec["concat"] for l in panel["layer"] if "shape" in l["encoding"]]
    enc = point_layers[0]["encoding"]
    shape, stroke, fill = (_scale_map(enc[ch]) for ch in ("shape", "stroke", "fill"))
    kinds = ["fit run", "other run", "held-out, observed", "held-out, predicted"]
    assert list(shape) == kinds
    looks = {k: (shape[k], stroke[k], fill[k]) for k in kinds}
    assert len(set(looks.values())) == 4, looks  # four distinct legend symbols
    assert fill["held-out, predicted"] == "transparent" and fill["held-out, observed"] != "transparent"
    # one legend: the three channels of every point layer use the same field and the same titled legend
    for layer in point_layers:
        assert {layer["encoding"][ch]["field"] for ch in ("shape", "stroke", "fill")} == {"kind"}
    # the predictions are drawn (a layer holds them) where the old chart drew them without a legend entry
    datasets = spec["datasets"]
    drawn = {r["kind"] for layer in point_layers for r in datasets[layer["data"]["name"]]}
    assert drawn == set(kinds)


def test_context_legend_is_open_where_the_marks_are_open():
    spec = CASES["context_nopt_chart"]().to_dict()
    legend_layer = next(l for l in spec["layer"] if "fill" in l["encoding"])
    legend_fill = _scale_map(legend_layer["encoding"]["fill"])
    drawn_filled = {}
    for layer in spec["layer"]:
        mark = layer["mark"]
        if mark["type"] != "point" or "fill" in layer["encoding"]:
            continue
        test = next(t["filter"] for t in layer.get("transform", []) if "filter" in t)
        for kind in legend_fill:
            if (f"== '{kind}'" in test) or ("!=" in test and f"'{kind}'" not in test):
                drawn_filled[kind] = bool(mark.get("filled", False))
    assert set(drawn_filled) == set(legend_fill)
    for kind, filled in drawn_filled.items():
        assert (legend_fill[kind] != "transparent") == filled, (kind, legend_fill[kind], filled)


# ---------------------------------------------------------------- renderers

def test_fit_width_keeps_a_desktop_width_for_static_images():
    df = pd.DataFrame({"x": [1, 2], "y": [1, 2]})
    chart = theme.fit_width(alt.Chart(df).mark_line().encode(x="x:Q", y="y:Q"), 500)
    spec = chart.to_dict()
    assert spec["width"] == "container" and spec["usermeta"]["xlstm_lab"]["width"] == 500
    assert theme.desktop_spec(spec)["width"] == 500 and spec["width"] == "container"  # input untouched
    svg = theme.svg_renderer(spec)["image/svg+xml"]
    drawn = float(re.search(r'<svg[^>]*\swidth="([\d.]+)"', svg).group(1))
    assert 500 < drawn < 600  # plot 500 px plus the y axis
    for bad in (0, -3, "wide", True):
        with pytest.raises(ValueError, match="width"):
            theme.fit_width(chart, bad)


def test_book_renderer_embeds_the_spec_and_the_narrowing_code():
    spec = CASES["roofline_chart"]().to_dict()
    html = theme.book_renderer(spec)["text/html"]
    assert 'class="xlstm-lab-chart"' in html and "window.vegaEmbed(el, s, OPTS)" in html
    assert '"width":"container"' in html and html.count("</script>") == 1  # the spec cannot close the script
    for step in ("n.width = 'container'", "n.columns = Math.max(1", "legendsBelow(n, avail)", "wrapTitles(n, avail)"):
        assert step in html, step


# ---------------------------------------------------------------- tables scroll in their own box

def test_tables_scroll_inside_their_box_at_every_width():
    css = (ROOT / "book" / "_static" / "xlstm-lab.css").read_text()
    top_level = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", css)  # rules outside any @media block
    rule = re.search(r"\.bd-article table\s*\{([^}]*)\}", top_level)
    assert rule, "no .bd-article table rule outside @media: wide tables would be cut off on a desktop"
    body = rule.group(1)
    assert "overflow-x: auto" in body and "display: block" in body and "max-width: 100%" in body
