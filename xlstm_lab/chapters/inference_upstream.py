"""Inference chapter, released data: the paper's stored runtime-model constants reproduced with upstream's recipe
(:mod:`xlstm_lab.fit.latency_upstream`) on either released timing table, beside our robust fits, and the two
tables' disagreement on the Llama-2 time to first token."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from xlstm_lab.anchors import PAPER
from xlstm_lab.anchors.loaders import compare_inference_tables
from xlstm_lab.chapters.inference_latency import SIZES, fit_runtime, load_timings, select
from xlstm_lab.fit.latency_upstream import UPSTREAM_RECIPES, UpstreamFit, fit_upstream

__all__ = [
    "REPRODUCED", "SOURCES", "half_unit", "load_both", "upstream_fit", "robust_value", "reproduction_table",
    "ttft_disagreement", "ttft_differences",
]

#: Timing tables: the one upstream's fits read, and the released ``inference.csv``.
SOURCES: dict[str, str] = {"fit_table": "fit table", "inference_csv": "inference.csv"}

#: Every stored constant we reproduce: (label, PAPER key, significant digits printed, family, size, recipe,
#: parameter "rate" / "eps" / "eps_b"). The Llama-2 rows are issue 11's five constants and six per-model rates.
REPRODUCED: tuple[tuple[str, str, int, str, str, str, str], ...] = (
    ("Llama-2 α_eff (7B)", "inference.ttft_model.llama.alpha_eff", 3, "llama", "7b", "llama_ttft", "rate"),
    ("Llama-2 ε (7B)", "inference.ttft_model.llama.eps", 3, "llama", "7b", "llama_ttft", "eps"),
    ("Llama-2 step β_eff (7B)", "inference.step_model.llama.beta_eff", 3, "llama", "7b", "llama_step", "rate"),
    ("Llama-2 step ε (7B)", "inference.step_model.llama.eps", 3, "llama", "7b", "llama_step", "eps"),
    ("Llama-2 step ε_b (7B)", "inference.step_model.llama.eps_b", 3, "llama", "7b", "llama_step", "eps_b"),
    *((f"Llama-2 α_eff, {s.upper()} alone", f"inference.ttft_model.llama.per_model.{s}.alpha_eff", 4, "llama", s,
       "llama_ttft_per_model", "rate") for s in SIZES),
    ("xLSTM α_eff (400M)", "inference.ttft_model.xlstm.alpha_eff", 3, "xlstm", "400m", "xlstm_ttft", "rate"),
    ("xLSTM ε (400M)", "inference.ttft_model.xlstm.eps", 3, "xlstm", "400m", "xlstm_ttft", "eps"),
    ("xLSTM α_eff, 160M alone (min)", "inference.ttft_model.xlstm.alpha_eff_min", 3, "xlstm", "160m",
     "xlstm_ttft_per_model", "rate"),
    ("xLSTM α_eff, 7B alone (max)", "inference.ttft_model.xlstm.alpha_eff_max", 3, "xlstm", "7b",
     "xlstm_ttft_per_model", "rate"),
)


def half_unit(value: float, digits: int) -> float:
    """Half a unit of the last printed digit of ``value`` printed to ``digits`` significant digits (absolute)."""
    if not (math.isfinite(value) and value != 0) or digits < 1:
        raise ValueError(f"half_unit: need a finite non-zero value and digits >= 1, got {value!r}, {digits!r}")
    return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)


def load_both() -> dict[str, pd.DataFrame]:
    """:func:`~xlstm_lab.chapters.inference_latency.load_timings` of each table in :data:`SOURCES`."""
    return {src: load_timings(src) for src in SOURCES}


def _model_rows(timings: pd.DataFrame, family: str, size: str) -> pd.DataFrame:
    rows = timings[(timings["family"] == family) & (timings["size"] == size)]
    if rows.empty:
        raise ValueError(f"no timings for family={family!r}, size={size!r}; use 'xlstm'/'llama' and one of {SIZES}")
    return rows


def upstream_fit(timings: pd.DataFrame, family: str, size: str, recipe: str) -> UpstreamFit:
    """Fit one model's rows of ``timings`` (a :func:`load_timings` frame) with upstream's ``recipe``.

    The prefill recipes read ``ttft_s`` and the prefill FLOPs, the step recipe the time of one decode step of
    the batch (``step_s``) and upstream's step memops (``bytes_step``); all rows of the model go in, and
    :func:`~xlstm_lab.fit.latency_upstream.fit_upstream` selects and resamples them as upstream did.
    """
    if recipe not in UPSTREAM_RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; use one of {sorted(UPSTREAM_RECIPES)}")
    rows = _model_rows(timings, family, size)
    ttft = UPSTREAM_RECIPES[recipe].kind == "ttft"
    t_ms = rows["ttft_s" if ttft else "step_s"].to_numpy() * 1e3
    work = rows["flops_prefill" if ttft else "bytes_step"].to_numpy()
    return fit_upstream(t_ms, work, batch=rows["batch"].to_numpy(), prefill=rows["prefill"].to_numpy(),
                        recipe=recipe)


def robust_value(timings: pd.DataFrame, family: str, size: str, kind: str, param: str, f_scale: float = 0.05) -> float:
    """Our well-posed counterpart: :func:`fit_runtime` on all of one model's rows with a prompt (all batches;
    form "compute" for "ttft", "memory" for "step"); ``param`` "rate", "eps" or "eps_b" (s)."""
    fit = fit_runtime(select(timings, kind, family=family, sizes=[size]), kind, f_scale=f_scale)
    value = {"rate": fit.alpha_eff if kind == "ttft" else fit.beta_eff, "eps": fit.eps, "eps_b": fit.eps_b}[param]
    if value is None:
        raise ValueError(f"the {kind} fit has no parameter {param!r}")
    return float(value)


def reproduction_table(timings: Mapping[str, pd.DataFrame], f_scale: float = 0.05) -> pd.DataFrame:
    """Every constant of :data:`REPRODUCED`: published, upstream's recipe and our robust fit on each table.

    Args:
        timings: source name -> :func:`load_timings` frame (e.g. :func:`load_both`).
        f_scale: robust-loss scale of our fits (ln units).

    Returns:
        One row per constant: ``quantity``, ``unit``, ``published``, ``tol`` (half a unit of the last printed
        digit, absolute), ``recipe · <table>`` and ``robust · <table>`` per table, ``reproduced · <table>``
        (|recipe − published| <= tol) and the PAPER ``key``.
    """
    fits: dict[tuple, UpstreamFit] = {}
    robust: dict[tuple, float] = {}
    out = []
    for label, key, digits, fam, size, recipe, param in REPRODUCED:
        pub = PAPER[key].value
        row: dict[str, object] = {"quantity": label, "unit": PAPER[key].unit, "published": pub,
                                  "tol": half_unit(pub, digits)}
        kind = UPSTREAM_RECIPES[recipe].kind
        for src, frame in timings.items():
            name = SOURCES.get(src, src)
            if (src, fam, size, recipe) not in fits:
                fits[src, fam, size, recipe] = upstream_fit(frame, fam, size, recipe)
            value = {"rate": fits[src, fam, size, recipe].rate, "eps": fits[src, fam, size, recipe].eps,
                     "eps_b": fits[src, fam, size, recipe].eps_b}[param]
            if (src, fam, size, kind, param) not in robust:
                robust[src, fam, size, kind, param] = robust_value(frame, fam, size, kind, param, f_scale)
            row[f"recipe · {name}"] = value
            row[f"robust · {name}"] = robust[src, fam, size, kind, param]
            row[f"reproduced · {name}"] = bool(abs(value - pub) <= row["tol"])
        row["key"] = key
        out.append(row)
    return pd.DataFrame(out)


def ttft_disagreement(comparison: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model: TTFT rows measured in both tables, how many differ, and by how much (inference.csv / fit table).

    Args:
        comparison: :func:`xlstm_lab.anchors.loaders.compare_inference_tables` output (loaded if None).

    Returns:
        One row per model: ``family``, ``model``, ``measured`` (rows with a TTFT in both), ``differ``,
        ``ratio_min``, ``ratio_max`` (over the differing rows; NaN if none), ``prefill_differing`` (the prompt
        lengths of the differing rows, as text).
    """
    cmp = compare_inference_tables() if comparison is None else comparison
    both = cmp[cmp["ttft_ms_csv"].notna() & cmp["ttft_ms_fit"].notna()]
    rows = []
    for (fam, model), g in both.groupby(["family", "model"], sort=False):
        d = g[g["ttft_differs"]]
        rows.append({"family": fam, "model": model, "measured": len(g), "differ": len(d),
                     "ratio_min": d["ttft_ratio"].min() if len(d) else np.nan,
                     "ratio_max": d["ttft_ratio"].max() if len(d) else np.nan,
                     "prefill_differing": ", ".join(str(p) for p in sorted(set(d["prefill_len"])))})
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(f"{f}_{s}" for f in ("llama2", "xlstm") for s in SIZES)}
    return out.sort_values("model", key=lambda s: s.map(order)).reset_index(drop=True)


def ttft_differences(model: str = "llama2_7b", comparison: pd.DataFrame | None = None) -> pd.DataFrame:
    """The differing TTFT rows of one model: batch, prefill, both TTFTs (ms) and their ratio."""
    cmp = compare_inference_tables() if comparison is None else comparison
    if model not in set(cmp["model"]):
        raise ValueError(f"unknown model {model!r}; use one of {sorted(set(cmp['model']))}")
    d = cmp[(cmp["model"] == model) & cmp["ttft_differs"]]
    return d[["batch_size", "prefill_len", "ttft_ms_csv", "ttft_ms_fit", "ttft_ratio"]].reset_index(drop=True)
