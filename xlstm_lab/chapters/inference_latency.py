"""Inference latency chapter: the paper's timings with exact counts, runtime-model fits, roofline placement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from xlstm_lab.accounting import decode_state_bytes, decode_step_bytes, prefill_flops, weight_bytes
from xlstm_lab.anchors import HARDWARE, load_inference
from xlstm_lab.anchors.loaders import load_inference_fit_table
from xlstm_lab.fit import InvalidInputError, LatencyFit, fit_latency
from xlstm_lab.fit.latency import LATENCY_FORMS
from xlstm_lab.models.config import ModelConfig
from xlstm_lab.models.shapes import config_from_inference_row
from xlstm_lab.plots import tables

__all__ = [
    "FAMILY_OF", "SIZES", "inference_config", "decode_step_flops", "prefill_bytes", "load_timings", "select",
    "fit_runtime", "fit_row", "per_model_fits", "form_comparison", "model_or_family_fit", "term_curves",
    "spot_values", "step_ratio", "hardware_table", "roofline_points", "roofline_curve", "ridge_sentence", "show",
]

#: inference.csv family -> the book's family label (the Transformer timings are Llama-2 models).
FAMILY_OF: dict[str, str] = {"xlstm": "xlstm", "llama2": "llama"}
#: Model sizes of the released timings, smallest first.
SIZES: tuple[str, ...] = ("160m", "400m", "830m", "1.4b", "2.7b", "7b")
_SOURCE_OF = {v: k for k, v in FAMILY_OF.items()}
_DTYPE_BYTES = 2  # bf16 weights and activations, as in the paper's inference setup


def _hardware(device: str):
    try:
        return HARDWARE[device]
    except KeyError:
        raise ValueError(f"unknown device {device!r}; use one of {sorted(HARDWARE)}") from None


def _source(family: str) -> str:
    if family in _SOURCE_OF:
        return _SOURCE_OF[family]
    if family in FAMILY_OF:
        return family
    raise ValueError(f"unknown family {family!r}; use 'xlstm' or 'llama' (Llama-2 timings)")


@lru_cache(maxsize=None)
def inference_config(family: str, size: str) -> ModelConfig:
    """The ModelConfig of one timed model (``family`` "xlstm"/"llama", ``size`` e.g. "7b") from inference.csv.

    Uses the CSV's own model columns (the Llama-2 FFN widths there, e.g. 11008 at 7B, differ from the
    training shapes' 10944), so counts match the models that were timed.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {SIZES}")
    df = load_inference(_source(family), valid_only=False)
    row = df[df["size_tag"] == size].iloc[0]
    return config_from_inference_row(row.to_dict())


def decode_step_flops(config: ModelConfig, tokens: int, batch: int = 1) -> float:
    """FLOPs of one decode step after ``tokens`` context tokens, for ``batch`` sequences.

    Built from ``accounting.prefill_flops`` (runtime-model convention) so counts keep one home: the
    increment from ``tokens`` to ``tokens + 1`` prefilled tokens (backbone of one token plus attention
    over the context, or one chunkwise mLSTM token) plus the logits of the new token
    (``prefill_flops(config, 0, batch)`` is exactly those logits).
    """
    t = int(tokens)
    return (
        prefill_flops(config, t + 1, batch) - prefill_flops(config, t, batch) + prefill_flops(config, 0, batch)
    )


def prefill_bytes(config: ModelConfig, tokens: int, batch: int = 1, dtype_bytes: int = _DTYPE_BYTES) -> float:
    """Minimum bytes moved by a prefill of ``tokens`` tokens for ``batch`` sequences (a lower bound).

    All weights read once, the decode state written (KV cache of ``tokens`` positions, or the fixed
    float32 mLSTM state), and each block reading and writing its residual stream once
    (2 x L_b x B x T x d x dtype_bytes). Attention-internal and FFN-internal traffic is ignored, so the
    arithmetic intensity FLOPs / bytes computed with it is an upper bound.
    """
    residual = 2.0 * config.n_layers * batch * int(tokens) * config.d_model * dtype_bytes
    state = decode_state_bytes(config, int(tokens), batch, dtype_bytes) if tokens else 0
    return float(weight_bytes(config, dtype_bytes) + state + residual)


_TABLES = {"inference_csv": load_inference, "fit_table": load_inference_fit_table}


def load_timings(source: str = "inference_csv") -> pd.DataFrame:
    """The xLSTM and Llama-2 timings of one released table with exact work counts per row.

    ``source`` "inference_csv" (default; ``inference.csv``) or "fit_table" (``inference_fit_table.csv``, the
    table upstream's runtime-model fits read; it differs in 142 Llama-2 TTFT values, see
    :func:`xlstm_lab.anchors.loaders.compare_inference_tables`). Step times are the same in both.

    Returns:
        One row per measured (model, batch, prefill) with columns ``family`` ("xlstm"/"llama"), ``size``,
        ``num_params``, ``batch``, ``prefill``, ``ttft_s``, ``step_s``, ``flops_prefill``, ``bytes_prefill``,
        ``flops_step``, ``bytes_step`` (upstream runtime-model memops, averaged over 100 generated tokens
        for Llama) and ``bytes_step_physical``.

    Note on ``step_s``: the loader's ``decode_step_s``, the time of one decode step of the whole batch
    (inference.csv's ``steptime_ms`` is B times that; see :func:`xlstm_lab.anchors.load_inference`).
    """
    if source not in _TABLES:
        raise ValueError(f"unknown timing table {source!r}; use one of {sorted(_TABLES)}")
    parts = []
    for src, fam in FAMILY_OF.items():
        df = _TABLES[source](src)
        rows = []
        for size, g in df.groupby("size_tag", sort=False):
            cfg = inference_config(fam, size)
            for r in g.itertuples(index=False):
                t, b = int(r.prefill_len), int(r.batch_size)
                rows.append({
                    "family": fam, "size": size, "num_params": int(r.num_params), "batch": b, "prefill": t,
                    "ttft_s": r.ttft_s, "step_s": r.decode_step_s,  # one step of the whole batch (see Note)
                    "flops_prefill": prefill_flops(cfg, t, b), "bytes_prefill": prefill_bytes(cfg, t, b),
                    "flops_step": decode_step_flops(cfg, t, b),
                    "bytes_step": decode_step_bytes(cfg, t, b, convention="runtime_model"),
                    "bytes_step_physical": decode_step_bytes(cfg, t, b),
                })
        parts.append(pd.DataFrame(rows))
    out = pd.concat(parts, ignore_index=True)
    out["size"] = pd.Categorical(out["size"], categories=list(SIZES), ordered=True)
    return out


def select(
    timings: pd.DataFrame,
    kind: str,
    *,
    family: str | None = None,
    sizes: Iterable[str] | None = None,
    batches: Iterable[int] | None = None,
    min_prefill: int = 1,
    max_prefill: int | None = None,
) -> pd.DataFrame:
    """Rows with a measured time of ``kind`` ("ttft" or "step"), filtered by family, size, batch and prefill.

    ``min_prefill`` defaults to 1 because upstream drops prefill 0 (no prompt: no TTFT work to count).
    """
    col = {"ttft": "ttft_s", "step": "step_s"}.get(kind)
    if col is None:
        raise ValueError(f"kind must be 'ttft' or 'step', got {kind!r}")
    m = timings[col].notna() & (timings["prefill"] >= min_prefill)
    if max_prefill is not None:
        m &= timings["prefill"] <= max_prefill
    if family is not None:
        m &= timings["family"] == family
    if sizes is not None:
        m &= timings["size"].isin(list(sizes))
    if batches is not None:
        m &= timings["batch"].isin([int(b) for b in batches])
    out = timings[m]
    if out.empty:
        raise ValueError(f"no {kind} timings for family={family!r}, sizes={sizes}, batches={batches}, "
                         f"prefill in [{min_prefill}, {max_prefill}]")
    return out


def _bytes_col(kind: str, step_bytes: str) -> str:
    if kind == "ttft":
        return "bytes_prefill"
    cols = {"runtime_model": "bytes_step", "physical": "bytes_step_physical"}
    if step_bytes not in cols:
        raise ValueError(f"step_bytes must be 'runtime_model' or 'physical', got {step_bytes!r}")
    return cols[step_bytes]


def fit_runtime(
    rows: pd.DataFrame,
    kind: str,
    form: str | None = None,
    *,
    f_scale: float = 0.05,
    device: str = "h100-sxm",
    step_bytes: str = "runtime_model",
) -> LatencyFit:
    """Fit the runtime model to selected rows (see :func:`select`).

    ``kind`` "ttft": t = g(F/alpha, bytes/beta) + eps with F the prefill FLOPs (default form "compute").
    ``kind`` "step": t = g(F/alpha, bytes/beta) + eps + B eps_b with the step bytes and the batch (default
    form "memory"). ``step_bytes`` "runtime_model" uses upstream's memops (for Llama averaged over 100
    generated tokens, so the weights count 1/100 per step and their read time lands in eps); "physical"
    reads all weights every step. Fractions of peak are against ``HARDWARE[device]``.
    """
    if kind not in ("ttft", "step"):
        raise ValueError(f"kind must be 'ttft' or 'step', got {kind!r}")
    form = form or ("compute" if kind == "ttft" else "memory")
    hw = _hardware(device)
    phase = "prefill" if kind == "ttft" else "step"
    t = rows["ttft_s" if kind == "ttft" else "step_s"].to_numpy()
    needs = LATENCY_FORMS[form] if form in LATENCY_FORMS else ("alpha", "beta")
    return fit_latency(
        t,
        flops=rows[f"flops_{phase}"].to_numpy() if "alpha" in needs else None,
        bytes=rows[_bytes_col(kind, step_bytes)].to_numpy() if "beta" in needs else None,
        batch=rows["batch"].to_numpy(dtype=float) if kind == "step" else None,
        form=form,
        f_scale=f_scale,
        peak_flops=hw.peak_flops,
        peak_bandwidth=hw.bandwidth,
    )


_FIT_COLUMNS = ("form", "alpha_eff", "alpha/peak", "beta_eff", "beta/peak", "eps_ms", "eps_b_ms", "rms_log_resid",
                "median_abs_err_%", "n", "status", "bound_hits")


def fit_row(fit: LatencyFit, **labels: object) -> dict[str, object]:
    """One table row of a fit: labels, alpha/beta (and fractions of peak), eps and eps_b in ms, quality."""
    res = np.asarray(fit.residuals)
    return {
        **labels,
        "form": fit.form,
        "alpha_eff": fit.alpha_eff,
        "alpha/peak": fit.frac_peak_flops,
        "beta_eff": fit.beta_eff,
        "beta/peak": fit.frac_peak_bandwidth,
        "eps_ms": fit.eps * 1e3,
        "eps_b_ms": None if fit.eps_b is None else fit.eps_b * 1e3,
        "rms_log_resid": float(np.sqrt(np.mean(res**2))),
        "median_abs_err_%": float(100 * np.median(np.abs(np.expm1(-res)))),
        "n": fit.n_points,
        "status": fit.status,
        "bound_hits": ", ".join(fit.bound_hits),
    }


def per_model_fits(
    timings: pd.DataFrame,
    kind: str = "ttft",
    *,
    batches: Iterable[int] | None = None,
    min_prefill: int = 1,
    max_prefill: int | None = None,
    form: str | None = None,
    f_scale: float = 0.05,
    device: str = "h100-sxm",
    step_bytes: str = "runtime_model",
) -> pd.DataFrame:
    """One fit per (family, size): the rows of :func:`fit_row` plus ``num_params``.

    A model whose inputs cannot separate the parameters gets a row with status "unidentifiable" instead of
    a fit. This is the case for one xLSTM model's decode steps: its step bytes are a + b x B (weights
    plus a per-sequence state), exactly collinear with eps + B x eps_b, whatever the prefill length.
    """
    rows = []
    for fam in FAMILY_OF.values():
        for size in SIZES:
            sel = select(timings, kind, family=fam, sizes=[size], batches=batches, min_prefill=min_prefill,
                         max_prefill=max_prefill)
            labels = {"family": fam, "size": size, "num_params": int(sel["num_params"].iloc[0])}
            try:
                fit = fit_runtime(sel, kind, form, f_scale=f_scale, device=device, step_bytes=step_bytes)
            except InvalidInputError:
                rows.append({**labels, "n": len(sel), "status": "unidentifiable"})
                continue
            rows.append(fit_row(fit, **labels))
    return pd.DataFrame(rows).reindex(columns=["family", "size", "num_params", *_FIT_COLUMNS])


def form_comparison(
    rows: pd.DataFrame, kind: str, *, forms: Sequence[str] = ("compute", "memory", "max", "sum", "smooth"),
    f_scale: float = 0.05, device: str = "h100-sxm", step_bytes: str = "runtime_model", **labels: object,
) -> pd.DataFrame:
    """Fit each roofline form to the same rows; one :func:`fit_row` per form (compare ``rms_log_resid``)."""
    return pd.DataFrame([fit_row(fit_runtime(rows, kind, f, f_scale=f_scale, device=device, step_bytes=step_bytes),
                                 **labels) for f in forms])


def model_or_family_fit(
    timings: pd.DataFrame, family: str, kind: str, size: str, form: str | None = None, *, f_scale: float = 0.05,
    device: str = "h100-sxm", step_bytes: str = "runtime_model", **subset: object,
) -> tuple[LatencyFit, str]:
    """Fit one model's rows; if its inputs cannot separate the parameters, fit the whole family instead.

    Returns:
        (fit, scope): scope is "model" or "family" (the fallback; e.g. a single xLSTM model's decode steps).
    """
    kw = dict(f_scale=f_scale, device=device, step_bytes=step_bytes)
    try:
        return fit_runtime(select(timings, kind, family=family, sizes=[size], **subset), kind, form, **kw), "model"
    except InvalidInputError:
        return fit_runtime(select(timings, kind, family=family, **subset), kind, form, **kw), "family"


def term_curves(fit: LatencyFit, rows: pd.DataFrame, kind: str, *, step_bytes: str = "runtime_model",
                device: str | None = None) -> pd.DataFrame:
    """Measured time, model time and its separate terms against prefill length, in ms (long format).

    Series: "measured", "model", "compute term" (F/alpha), "memory term" (bytes/beta), "overhead"
    (eps [+ B eps_b]). With ``device``, a term the fit's form lacks is drawn at the device's ceiling instead
    ("compute at peak" = F/peak FLOP/s, "memory at peak" = bytes/peak bandwidth): the least time it can take.
    """
    phase = "prefill" if kind == "ttft" else "step"
    t = rows["ttft_s" if kind == "ttft" else "step_s"].to_numpy()
    base = rows[["family", "size", "batch", "prefill"]].reset_index(drop=True)
    inputs = {"flops": rows[f"flops_{phase}"].to_numpy(), "bytes": rows[_bytes_col(kind, step_bytes)].to_numpy(),
              "batch": rows["batch"].to_numpy(dtype=float)}
    series = {"measured": t, "model": fit.predict(**inputs)}
    hw = _hardware(device) if device is not None else None
    if fit.alpha_eff is not None:
        series["compute term"] = fit.compute_term(inputs["flops"])
    elif hw is not None:
        series["compute at peak"] = inputs["flops"] / hw.peak_flops
    if fit.beta_eff is not None:
        series["memory term"] = fit.memory_term(inputs["bytes"])
    elif hw is not None:
        series["memory at peak"] = inputs["bytes"] / hw.bandwidth
    series["overhead"] = np.broadcast_to(fit.overhead(inputs["batch"]), t.shape)
    parts = [base.assign(series=name, time_ms=np.asarray(v) * 1e3) for name, v in series.items()]
    return pd.concat(parts, ignore_index=True)


def spot_values(timings: pd.DataFrame, sizes: Sequence[str] = ("160m", "1.4b", "7b"), prefill: int = 16384,
                batch: int = 1) -> pd.DataFrame:
    """Measured TTFT and step time (ms) per family and size at one (batch, prefill), as in the data card."""
    m = (timings["batch"] == batch) & (timings["prefill"] == prefill) & timings["size"].isin(list(sizes))
    sel = timings[m].assign(ttft_ms=lambda d: d["ttft_s"] * 1e3, step_ms=lambda d: d["step_s"] * 1e3)
    return sel.pivot_table(index="size", columns="family", values=["ttft_ms", "step_ms"], observed=True)


def step_ratio(timings: pd.DataFrame, size: str = "7b", prefill: int = 16384, batch: int = 1) -> float:
    """Decode step time of Llama-2 over xLSTM at one (size, prefill, batch)."""
    m = (timings["size"] == size) & (timings["prefill"] == prefill) & (timings["batch"] == batch)
    by = timings[m].set_index("family")["step_s"]
    return float(by["llama"] / by["xlstm"])


def hardware_table(keys: Iterable[str] | None = None) -> pd.DataFrame:
    """Peak bf16 FLOP/s, memory bandwidth and critical intensity (FLOP/byte) of the accelerators, with sources."""
    rows = []
    for key in keys if keys is not None else HARDWARE:
        hw = _hardware(key)
        rows.append({"device": key, "name": hw.name, "peak bf16 TFLOP/s": hw.peak_flops / 1e12,
                     "bandwidth TB/s": hw.bandwidth / 1e12, "critical FLOP/byte": hw.critical_intensity,
                     "measured": hw.measured, "source": hw.source})
    return pd.DataFrame(rows)


def roofline_points(
    sizes: Sequence[str] = ("1.4b", "7b"),
    prefill_lengths: Sequence[int] = (512, 4096, 16384),
    batch_sizes: Sequence[int] = (1, 16, 256),
    decode_context: int = 4096,
    device: str = "h100-sxm",
) -> pd.DataFrame:
    """Prefill (batch 1, several lengths) and decode steps (several batches at ``decode_context``) on a roofline.

    Intensity = FLOPs / bytes with :func:`decode_step_flops` and the physical ``decode_step_bytes`` for a
    step, and ``prefill_flops`` with :func:`prefill_bytes` (a lower bound on traffic) for a prefill.
    ``attainable`` = min(peak FLOP/s, bandwidth x intensity) on ``HARDWARE[device]``.
    """
    hw = _hardware(device)
    rows = []
    for fam in FAMILY_OF.values():
        for size in sizes:
            cfg = inference_config(fam, size)
            for t in prefill_lengths:
                f, b = prefill_flops(cfg, t, 1), prefill_bytes(cfg, t, 1)
                rows.append({"family": fam, "size": size, "phase": "prefill", "setting": f"T={t}", "flops": f,
                             "bytes": b})
            for bs in batch_sizes:
                f = decode_step_flops(cfg, decode_context, bs)
                b = decode_step_bytes(cfg, decode_context, bs)
                rows.append({"family": fam, "size": size, "phase": "decode", "setting": f"B={bs}", "flops": f,
                             "bytes": b})
    df = pd.DataFrame(rows)
    df["intensity"] = df["flops"] / df["bytes"]
    df["attainable_tflops"] = np.minimum(hw.peak_flops, hw.bandwidth * df["intensity"]) / 1e12
    df["bound"] = np.where(df["intensity"] < hw.critical_intensity, "memory", "compute")
    df["label"] = df["family"].map({"xlstm": "xLSTM", "llama": "Llama-2"}) + " " + df["size"] + " " + \
        df["phase"] + " " + df["setting"]
    return df


def roofline_curve(device: str = "h100-sxm", i_min: float = 0.1, i_max: float = 1e5, n: int = 60) -> pd.DataFrame:
    """The roofline min(peak, bandwidth x I) of ``HARDWARE[device]`` on a log grid of intensities I (FLOP/byte)."""
    hw = _hardware(device)
    i = np.unique(np.concatenate([np.geomspace(i_min, i_max, n), [hw.critical_intensity]]))
    return pd.DataFrame({"intensity": i, "attainable_tflops": np.minimum(hw.peak_flops, hw.bandwidth * i) / 1e12,
                         "device": hw.name})


def ridge_sentence(points: pd.DataFrame, critical: float) -> str:
    """Where the :func:`roofline_points` sit against the ridge ``critical`` (FLOP/byte), as a sentence built
    from the numbers: which side each phase is on, and how close its nearest point comes (as a multiple of the
    ridge). "far" is said only when every point of the phase is at least 10 times away."""
    parts = []
    for phase, what, side in (("prefill", "prefill", "right"), ("decode", "decode step", "left")):
        p = points[points["phase"] == phase]
        if p.empty:
            continue
        ratio = p["intensity"] / critical
        on_side = ratio > 1 if side == "right" else ratio < 1
        nearest = p.loc[np.abs(np.log(ratio)).idxmin()]
        far = " far" if on_side.all() and (np.abs(np.log10(ratio)) >= 1).all() else ""
        subject = f"every {what} sits" if on_side.all() else f"{int(on_side.sum())} of {len(p)} {what}s sit"
        parts.append(f"{subject}{far} {side} of the ridge, the nearest ({nearest['label']}) at "
                     f"{nearest['intensity'] / critical:.2g} times it")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


#: Short display names of the fit-table columns (the book's column is ~700 px wide).
_DISPLAY = {"alpha_eff": "α_eff", "alpha/peak": "α/peak", "beta_eff": "β_eff", "beta/peak": "β/peak",
            "eps_ms": "ε ms", "eps_b_ms": "ε_b ms", "rms_log_resid": "rms ln-res", "median_abs_err_%": "med |err| %",
            "bound_hits": "bound hits", "num_params": "N"}


def show(df: pd.DataFrame, digits: int = 3) -> object:
    """The book's table style (:func:`xlstm_lab.plots.tables.show`) with this chapter's short column names
    (``alpha_eff`` -> "α_eff", ...)."""
    return tables.show(df, digits, rename=_DISPLAY)
