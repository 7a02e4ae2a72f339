"""Counting compute chapter: exact parameter and FLOP counts in the paper's convention, checked against the runs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from xlstm_lab.accounting import (
    config_from_runs_row,
    count_params,
    flops_6nd,
    flops_per_sequence,
    param_breakdown,
    training_flops,
)
from xlstm_lab.anchors import PAPER, AnchorMismatch, CheckResult, load_isoflop_runs
from xlstm_lab.fit import FewPointsWarning, fit_isoflop
from xlstm_lab.models.shapes import get_shape

__all__ = [
    "SIZES",
    "shape_table",
    "runs_reproduction",
    "csv_check",
    "flops_per_token",
    "isoflop_conventions",
]

#: Named shapes of the paper (``get_shape(f"{family}-{size}")``) -> their label in ``PAPER["shapes.*"]``.
SIZES: dict[str, str] = {"160m": "160M", "400m": "400M", "830m": "830M", "1.4b": "1.4B", "2.7b": "2.7B", "7b": "7B"}
_FAMILIES = ("xlstm", "llama")


def shape_table(families: Iterable[str] = _FAMILIES, sizes: Iterable[str] = SIZES) -> pd.DataFrame:
    """Parameter breakdown of each named paper shape beside the paper's N (millions).

    Columns: family, size, d_model, n_layers, n_heads, d_ff, the ``param_breakdown`` components and the
    total ``count_params`` (all in millions), the published N (millions), ``ours - published`` and the
    PAPER key. The paper's table prints N in whole millions, truncated (406.86 M is printed 406).
    """
    rows = []
    for fam in families:
        for size in sizes:
            cfg = get_shape(f"{fam}-{size}")
            key = f"shapes.{fam}.{SIZES[size]}.N"
            parts = {f"{k} (M)": v / 1e6 for k, v in param_breakdown(cfg).items()}
            total = count_params(cfg) / 1e6
            pub = PAPER[key].value
            rows.append({"family": fam, "size": size, "d_model": cfg.d_model, "n_layers": cfg.n_layers,
                         "n_heads": cfg.n_heads, "d_ff": cfg.d_ff, **parts, "N (M)": total, "paper N (M)": pub,
                         "ours - paper (M)": total - pub, "key": key})
    return pd.DataFrame(rows)


def _rel(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(ours - ref) / np.abs(ref)


def runs_reproduction() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recount every run of runs.csv from its configuration and compare with the stored columns.

    Each run's config comes from ``config_from_runs_row``; FLOPs use the paper convention, except the
    ``isoflop_flops_chinchilla`` set, which was planned with the Chinchilla attention count.

    Returns:
        (summary, per_run). ``summary`` has one row per compared column: rows compared, largest relative
        error, the run where it occurs, and our and the CSV's value there. ``per_run`` holds our counts
        beside the CSV's for every run.
    """
    runs = load_isoflop_runs(selected_only=False, experiment_set=None)
    recs = []
    for row in runs.to_dict(orient="records"):
        cfg = config_from_runs_row(row)
        conv = "chinchilla" if row["experiment_set"] == "isoflop_flops_chinchilla" else "paper"
        seq = flops_per_sequence(cfg, int(row["context_length"]), convention=conv)
        recs.append({
            "N_params_calculated": float(count_params(cfg)),
            "flops_fw_per_sequence": seq.forward,
            "flops_fwbw_per_sequence": seq.forward_backward,
            "C_flops_training": training_flops(cfg, row["D_tokens"], int(row["context_length"]), convention=conv),
            "seq_mix_flop_ratio": seq.seq_mix_ratio,
        })
    ours = pd.DataFrame(recs, index=runs.index)
    ours["N_params"] = ours["N_params_calculated"]
    per_run = runs[["run_name", "family", "experiment_set", "context_length"]].copy()
    summary = []
    for col in ["N_params_calculated", "N_params", "flops_fw_per_sequence", "flops_fwbw_per_sequence",
                "C_flops_training", "seq_mix_flop_ratio"]:
        ref = runs[col].to_numpy(dtype=float)
        mine = ours[col].to_numpy(dtype=float)
        ok = np.isfinite(ref)  # N_params is NaN for the failed runs
        err = np.where(ok, _rel(mine, np.where(ok, ref, 1.0)), np.nan)
        per_run[f"{col} (ours)"], per_run[f"{col} (csv)"], per_run[f"{col} rel err"] = mine, ref, err
        worst = int(np.nanargmax(err))
        summary.append({"column": col, "rows": int(ok.sum()), "max rel err": float(np.nanmax(err)),
                        "worst run": runs["run_name"].iloc[worst], "ours": mine[worst], "csv": ref[worst]})
    return pd.DataFrame(summary), per_run


def csv_check(label: str, ours: float, csv_value: float, error: float, tol: float, *, why: str = "",
              source: str = "xlstm_lab/anchors/data/xlstm_scaling_laws/runs.csv") -> CheckResult:
    """Like ``anchors.check`` for a number recomputed against a data column rather than a ``PAPER`` entry.

    Args:
        label: what is compared (shown as the result's name).
        ours, csv_value: the two values at the worst row (for the table).
        error: the relative error to judge (e.g. the largest over all rows).
        tol: largest acceptable ``error`` (> 0).
        why: justification of the tolerance.

    Raises:
        AnchorMismatch: ``error`` is not finite or exceeds ``tol``.
    """
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    ok = math.isfinite(error) and error <= tol
    result = CheckResult(label, float(csv_value), float(ours), float(error), float(tol), True, ok, "", source, why)
    if not ok:
        raise AnchorMismatch(f"{label}: relative error {error:.3g} exceeds tolerance {tol:.3g} ({why}); "
                             f"ours = {ours:.10g}, csv = {csv_value:.10g}. Source: {source}")
    return result


def flops_per_token(size: str = "1.4b", contexts: Sequence[int] = (512, 2048, 8192, 32768, 131072)) -> pd.DataFrame:
    """Training FLOPs per token (forward + backward) against context, both families, three conventions.

    Series: "paper" (causal attention, chunkwise mLSTM, backward = 2 x forward), "6N" (Kaplan: 6 x the
    paper's N, embedding and head included), "Chinchilla-style" (non-causal attention core and the
    embedding counted as a matmul), and "paper: sequence mix" (the attention core or mLSTM cell alone).

    Returns:
        Long format: family, size, context, series, flops_per_token.
    """
    rows = []
    for fam in _FAMILIES:
        cfg = get_shape(f"{fam}-{size}")
        n = count_params(cfg)
        for t in contexts:
            t = int(t)
            paper = flops_per_sequence(cfg, t)
            chin = flops_per_sequence(cfg, t, convention="chinchilla", include_embedding=True)
            vals = {"paper": paper.per_token, "6N": flops_6nd(n, 1.0), "Chinchilla-style": chin.per_token,
                    "paper: sequence mix": 3.0 * paper.seq_mix / t}
            rows += [{"family": fam, "size": size, "context": t, "series": k, "flops_per_token": v}
                     for k, v in vals.items()]
    return pd.DataFrame(rows)


def isoflop_conventions(ctx: int = 8192, c_range: tuple[float, float] | None = (5e18, 2e20)) -> pd.DataFrame:
    """The Transformer IsoFLOP law N*, D* proportional to C^a, fitted with the paper's C and with C = 6ND.

    Both fits use the same runs (``repo_selected``, nominal budgets, "extra" runs left out) grouped by their
    nominal budget (``isoflop_bucket``), so only the compute axis changes. ``c_range`` selects budgets by
    their paper-convention C (the same budgets then enter the 6ND fit).

    Returns:
        One row per convention: k and a of N* and D*, a_N + a_D, the mean ratio C_6ND / C_paper and the
        budgets used.
    """
    runs = load_isoflop_runs("llama", ctx)
    runs = runs[runs["isoflop_bucket"] != "extra"].copy()
    runs["C_6ND"] = flops_6nd(1.0, 1.0) * runs["N_params"] * runs["D_tokens"]
    if c_range is not None:
        means = runs.groupby("isoflop_bucket")["C_flops_training"].mean()
        keep = means[(means >= c_range[0]) & (means <= c_range[1])].index
        runs = runs[runs["isoflop_bucket"].isin(keep)]
    rows = []
    with warnings.catch_warnings():
        # 3-4 budgets give a power law with 1-2 dof; the chapter says so, the warning would only repeat it
        warnings.simplefilter("ignore", FewPointsWarning)
        for label, col in (("paper C", "C_flops_training"), ("C = 6ND", "C_6ND")):
            fit = fit_isoflop(runs, c_col=col, budget_col="isoflop_bucket")
            rows.append({"convention": label, "k_N": fit.n_opt.k, "a_N": fit.n_opt.a, "se a_N": fit.n_opt.se_a,
                         "k_D": fit.d_opt.k, "a_D": fit.d_opt.a, "a_N + a_D": fit.n_opt.a + fit.d_opt.a,
                         "budgets": len(fit.optima), "runs": len(runs)})
    out = pd.DataFrame(rows)
    out["mean C_6ND / C_paper"] = float((runs["C_6ND"] / runs["C_flops_training"]).mean())
    return out
