"""Inference chapter, lab half: our own TTFT and step timings on this machine, the runtime model fitted to them
beside this machine's measured roofline, and the context where xLSTM starts to win (measured, and by the model).

The measurement runs live (``xlstm_lab.inference``); every number a sentence of the chapter states is computed
here from the rows, the fits or the roofline, never typed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xlstm_lab.accounting import decode_step_bytes, prefill_flops
from xlstm_lab.fit import LatencyFit, fit_latency
from xlstm_lab.inference import (
    BenchGrid,
    Roofline,
    TimingSettings,
    mean_step_bytes,
    measure_roofline,
    memory_vs_context,
    model_config,
    run_grid,
)

__all__ = ["LAB_GRID", "LabInference", "measure_lab", "fit_measured", "lab_fits", "term_curves", "predict_time",
           "crossover", "measured_crossover", "released_crossover", "model_crossover", "crossover_sentence", "paper_gpu_crossover",
           "crossover_table", "paper_crossover_table", "fit_table", "memory_table", "load_gpu_results",
           "gpu_sentence", "RESULTS"]

#: The grid measured in the book build: two lab shapes per family, prompts 32-4096 tokens, batch 1 and 4
#: (about 30-40 s of timing on two loaded CPU cores).
LAB_GRID = BenchGrid(families=("xlstm", "llama"), sizes=("mini", "small"), prompts=(32, 256, 1024, 2048, 4096),
                     batches=(1, 4))
#: Where benchmarks/bench_inference_gpu.py writes its GPU measurements.
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
_KIND_COL = {"ttft": "ttft_s", "step": "step_s"}


@dataclass(frozen=True)
class LabInference:
    """One live measurement: the rows (one per family, size, prompt, batch), the roofline, the seconds taken."""

    rows: pd.DataFrame
    roofline: Roofline
    seconds: float


def measure_lab(grid: BenchGrid = LAB_GRID, *, steps: int = 8, repeats: int = 3, warmup: int = 1) -> LabInference:
    """Measure this machine's roofline and ``grid`` on the CPU in float32 (see ``xlstm_lab.inference``)."""
    t0 = time.perf_counter()
    roof = measure_roofline("cpu", "float32")
    rows = run_grid(grid, TimingSettings(device="cpu", dtype="float32", warmup=warmup, repeats=repeats,
                                         steps=steps))
    return LabInference(pd.DataFrame(rows), roof, time.perf_counter() - t0)


def _family_rows(rows: pd.DataFrame, family: str) -> pd.DataFrame:
    sel = rows[rows["family"] == family]
    if sel.empty:
        raise ValueError(f"no measured rows for family {family!r}; measure it first (families in the rows: "
                         f"{sorted(rows['family'].unique())})")
    return sel


def fit_measured(rows: pd.DataFrame, kind: str, family: str, roofline: Roofline | None = None,
                 f_scale: float = 0.05) -> LatencyFit:
    """The runtime model fitted to one family's measured rows (all sizes pooled).

    ``kind`` "ttft": t = F / alpha_eff + eps with F = ``flops_prefill`` (compute-bound). ``kind`` "step":
    t = bytes / beta_eff + eps + B eps_b with the physical ``bytes_step`` (memory-bound). With a
    ``roofline``, fractions of this machine's measured peaks are reported.
    """
    if kind not in _KIND_COL:
        raise ValueError(f"kind must be 'ttft' or 'step', got {kind!r}")
    sel = _family_rows(rows, family)
    peaks = dict(peak_flops=roofline.peak_flops, peak_bandwidth=roofline.bandwidth) if roofline else {}
    if kind == "ttft":
        return fit_latency(sel["ttft_s"].to_numpy(float), flops=sel["flops_prefill"].to_numpy(float),
                           form="compute", f_scale=f_scale, **peaks)
    return fit_latency(sel["step_s"].to_numpy(float), bytes=sel["bytes_step"].to_numpy(float),
                       batch=sel["batch"].to_numpy(float), form="memory", f_scale=f_scale, **peaks)


def lab_fits(lab: LabInference) -> dict[tuple[str, str], LatencyFit]:
    """(family, kind) -> the fit of :func:`fit_measured`, for both families and both kinds."""
    return {(fam, kind): fit_measured(lab.rows, kind, fam, lab.roofline)
            for fam in lab.rows["family"].unique() for kind in ("ttft", "step")}


def term_curves(fit: LatencyFit, rows: pd.DataFrame, kind: str, roofline: Roofline) -> pd.DataFrame:
    """Measured time, model and its separate terms (ms) against the prompt, long format with a ``series`` column.

    Series: "measured", "model", the fitted work term ("compute term" F/alpha_eff or "memory term"
    bytes/beta_eff), the other work term at this machine's measured ceiling ("memory at peak" = prefill bytes /
    copy bandwidth, a lower bound; "compute at peak" = step FLOPs / matmul peak), and "overhead" (eps [+ B eps_b]).
    """
    r = rows.reset_index(drop=True)
    base = r[["family", "size", "batch", "prompt_tokens"]]
    series = {"measured": r[_KIND_COL[kind]].to_numpy(float)}
    if kind == "ttft":
        series["model"] = fit.predict(flops=r["flops_prefill"].to_numpy(float))
        series["compute term"] = fit.compute_term(r["flops_prefill"])
        # least traffic of a prefill: the weights once and the state written
        series["memory at peak"] = (r["weight_bytes"] + r["state_bytes"]).to_numpy(float) / roofline.bandwidth
        series["overhead"] = np.full(len(r), fit.eps)
    else:
        b = r["batch"].to_numpy(float)
        series["model"] = fit.predict(bytes=r["bytes_step"].to_numpy(float), batch=b)
        series["memory term"] = fit.memory_term(r["bytes_step"])
        series["compute at peak"] = r["flops_step"].to_numpy(float) / roofline.peak_flops
        series["overhead"] = np.asarray(fit.overhead(b), float)
    return pd.concat([base.assign(series=k, time_ms=np.asarray(v, float) * 1e3) for k, v in series.items()],
                     ignore_index=True)


def predict_time(fit: LatencyFit, family: str, size: str, kind: str, contexts: np.ndarray, batch: int = 1,
                 dtype_bytes: int = 4, steps: int = 8) -> np.ndarray:
    """The fitted model's time (s) at each context, from ``accounting``'s counts for the lab shape ``size``."""
    cfg = model_config(family, size, context_length=int(np.max(contexts)) + steps + 1)
    if kind == "ttft":
        return fit.predict(flops=np.array([prefill_flops(cfg, int(t), batch) for t in contexts]))
    by = np.array([mean_step_bytes(cfg, int(t) + 1, steps, batch, dtype_bytes) for t in contexts])
    return fit.predict(bytes=by, batch=np.full(len(by), float(batch)))


def crossover(contexts: np.ndarray, t_xlstm: np.ndarray, t_llama: np.ndarray) -> float | None:
    """The smallest context from which xLSTM is faster at every larger context of ``contexts`` (sorted).

    Returns contexts[0] when xLSTM is faster throughout and None when it is not faster at the last context.
    Between two grid points the crossing is interpolated linearly in log(context) on the log-time difference.
    """
    c = np.asarray(contexts, float)
    d = np.log(np.asarray(t_llama, float)) - np.log(np.asarray(t_xlstm, float))  # > 0: xLSTM wins
    if d[-1] <= 0:
        return None
    losing = np.nonzero(d <= 0)[0]
    if losing.size == 0:
        return float(c[0])
    i = losing[-1]  # the last context where the Transformer is as fast or faster
    w = d[i] / (d[i] - d[i + 1])
    return float(np.exp(np.log(c[i]) + w * (np.log(c[i + 1]) - np.log(c[i]))))


def measured_crossover(rows: pd.DataFrame, kind: str, size: str, batch: int) -> float | None:
    """:func:`crossover` on the measured medians of one lab size and batch (prompt lengths of the grid)."""
    sel = rows[(rows["size"] == size) & (rows["batch"] == batch)]
    piv = sel.pivot_table(index="prompt_tokens", columns="family", values=_KIND_COL[kind]).sort_index()
    return crossover(piv.index.to_numpy(), piv["xlstm"].to_numpy(), piv["llama"].to_numpy())


def released_crossover(timings: pd.DataFrame, kind: str, size: str, batch: int = 1) -> tuple[float | None, int, int]:
    """:func:`crossover` on the paper's own GPU timings (``inference_latency.load_timings``), no model: the
    measured times of one size and batch at every prompt length timed (prompts > 0).

    Returns:
        (crossover context or None, smallest prompt, largest prompt timed).
    """
    col = _KIND_COL[kind]
    sel = timings[(timings["size"] == size) & (timings["batch"] == batch) & (timings["prefill"] > 0)
                  & timings[col].notna()]
    piv = sel.pivot_table(index="prefill", columns="family", values=col).sort_index().dropna()
    if piv.empty or not {"xlstm", "llama"} <= set(piv.columns):
        raise ValueError(f"released_crossover: no prompt timed for both families at size {size!r}, batch {batch}.")
    c = piv.index.to_numpy()
    return crossover(c, piv["xlstm"].to_numpy(), piv["llama"].to_numpy()), int(c[0]), int(c[-1])


def crossover_sentence(where: str, kind: str, value: float | None, lo: float, hi: float) -> str:
    """A sentence for one crossover ("xLSTM's decode step is faster from about 1,900 tokens on ...")."""
    what = {"ttft": "time to first token", "step": "decode step"}[kind]
    if value is None:
        return f"{where}, the Transformer's {what} stays as fast as xLSTM's up to {hi:,.0f} tokens."
    if value <= lo:
        return f"{where}, xLSTM's {what} is faster at every context from {lo:,.0f} tokens."
    return f"{where}, xLSTM's {what} is faster from about {value:,.0f} tokens on."


def paper_gpu_crossover(timings: pd.DataFrame, size: str, kind: str, batch: int = 1,
                        contexts: np.ndarray | None = None) -> tuple[float | None, np.ndarray]:
    """Crossover on the paper's GPU by the runtime model fitted to the released timings (a model extrapolation).

    Each family's model is fitted as in the released-data half (``inference_latency.model_or_family_fit``,
    compute form for TTFT, memory form with upstream's step bytes for a step) and evaluated with
    ``accounting``'s counts for the timed ``size`` at each context.

    Returns:
        (crossover context or None, contexts used).
    """
    from xlstm_lab.chapters import inference_latency as il

    ctx = np.unique(np.geomspace(16, 65536, 97).round()) if contexts is None else np.asarray(contexts, float)
    times = {}
    for fam in ("xlstm", "llama"):
        fit, _ = il.model_or_family_fit(timings, fam, kind, size)
        cfg = il.inference_config(fam, size)
        if kind == "ttft":
            times[fam] = fit.predict(flops=np.array([prefill_flops(cfg, int(t), batch) for t in ctx]))
        else:
            by = np.array([decode_step_bytes(cfg, int(t), batch, convention="runtime_model") for t in ctx])
            times[fam] = fit.predict(bytes=by, batch=np.full(len(ctx), float(batch)))
    return crossover(ctx, times["xlstm"], times["llama"]), ctx


def memory_table(size: str = "small", contexts: tuple[int, ...] = (256, 1024, 4096, 16384),
                 batch: int = 1) -> pd.DataFrame:
    """The decode state after each context for both families: measured tensor bytes beside ``accounting``'s."""
    rows = memory_vs_context("llama", size, contexts, batch=batch) + memory_vs_context("xlstm", size, contexts,
                                                                                        batch=batch)
    df = pd.DataFrame(rows)
    df["agree"] = df["state_bytes"] == df["state_bytes_predicted"]
    return df


def load_gpu_results(folder: Path = RESULTS) -> pd.DataFrame | None:
    """Rows of every ``inference_gpu_*.csv`` under ``folder`` (smoke runs excluded), or None when there are none."""
    files = sorted(p for p in Path(folder).glob("inference_gpu_*.csv") if "smoke" not in p.name)
    if not files:
        return None
    df = pd.concat([pd.read_csv(p).assign(source=p.name) for p in files], ignore_index=True)
    return df[df.get("error", pd.Series("", index=df.index)).fillna("") == ""]


def gpu_sentence(gpu: pd.DataFrame | None, folder: Path = RESULTS) -> str:
    """What the GPU measurements are, or that there are none yet."""
    if gpu is None or gpu.empty:
        return (f"No GPU measurements are shipped yet: benchmarks/bench_inference_gpu.py writes them to "
                f"benchmarks/{folder.name}/ on a CUDA machine, and this section shows them once they are there.")
    devices = ", ".join(sorted(gpu["device_name"].astype(str).unique()))
    return (f"{len(gpu)} GPU measurements ({devices}; files {', '.join(sorted(gpu['source'].unique()))}): sizes "
            f"{', '.join(map(str, gpu['size'].unique()))}, prompts {gpu['prompt_tokens'].min():,}-"
            f"{gpu['prompt_tokens'].max():,} tokens, batch {gpu['batch'].min()}-{gpu['batch'].max()}.")


def model_crossover(fits: dict[tuple[str, str], LatencyFit], kind: str, size: str, batch: int,
                    contexts: np.ndarray | None = None) -> float | None:
    """:func:`crossover` of the runtime models fitted on this machine, evaluated for ``size`` on a fine grid
    of contexts (16 to 65,536 tokens by default: beyond the measured prompts it is an extrapolation)."""
    ctx = np.unique(np.geomspace(16, 65536, 97).round()) if contexts is None else np.asarray(contexts, float)
    t = {fam: predict_time(fits[fam, kind], fam, size, kind, ctx, batch) for fam in ("xlstm", "llama")}
    return crossover(ctx, t["xlstm"], t["llama"])


def crossover_table(lab: LabInference, fits: dict[tuple[str, str], LatencyFit]) -> pd.DataFrame:
    """Per (phase, size, batch): the crossover context measured on the prompt grid and by the fitted model."""
    rows = []
    for kind in ("ttft", "step"):
        for size in lab.rows["size"].unique():
            for batch in sorted(lab.rows["batch"].unique()):
                rows.append({"phase": {"ttft": "TTFT", "step": "decode step"}[kind], "size": size,
                             "batch": int(batch), "measured": measured_crossover(lab.rows, kind, size, batch),
                             "fitted model": model_crossover(fits, kind, size, int(batch))})
    return pd.DataFrame(rows)


def paper_crossover_table(timings: pd.DataFrame, sizes: tuple[str, ...] = ("160m", "1.4b", "7b"),
                          batch: int = 1) -> pd.DataFrame:
    """Per (phase, size): the crossover on the paper's GPU in its released timings ("measured (GPU)", on the
    prompts timed) and by the runtime model fitted to them ("fitted model (GPU)", on 16-65,536 tokens)."""
    return pd.DataFrame([{"phase": {"ttft": "TTFT", "step": "decode step"}[kind], "size": size, "batch": batch,
                          "measured (GPU)": released_crossover(timings, kind, size, batch)[0],
                          "fitted model (GPU)": paper_gpu_crossover(timings, size, kind, batch)[0]}
                         for kind in ("ttft", "step") for size in sizes])


def fit_table(fits: dict[tuple[str, str], LatencyFit], roofline: Roofline) -> pd.DataFrame:
    """One row per (family, phase): alpha_eff or beta_eff, its fraction of this machine's measured peak, eps,
    eps_b and the RMS of the ln-time residuals."""
    rows = []
    for (fam, kind), f in fits.items():
        rate, peak = (f.alpha_eff, roofline.peak_flops) if kind == "ttft" else (f.beta_eff, roofline.bandwidth)
        rows.append({"family": fam, "phase": "TTFT" if kind == "ttft" else "decode step",
                     "rate": "α_eff FLOP/s" if kind == "ttft" else "β_eff B/s", "fitted": rate,
                     "measured peak": peak, "fraction of peak": rate / peak, "ε ms": f.eps * 1e3,
                     "ε_b ms": None if f.eps_b is None else f.eps_b * 1e3,
                     "rms ln-res": float(np.sqrt(np.mean(np.asarray(f.residuals) ** 2))), "status": f.status})
    return pd.DataFrame(rows)
