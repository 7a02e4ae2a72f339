"""The over-training chapter's lab half: our models at fixed tokens-per-parameter ratios, slopes per ratio.

With three sizes per ratio each slope's own t interval rests on one residual degree of freedom (t = 12.7 at 95%),
so "the intervals overlap" would say little. :func:`parallel_table` therefore compares the two families with
the residual variance pooled over every (family, ratio) fit -- the same OLS fits, one common noise level -- which
gives the differences a t interval on the summed degrees of freedom. The judged sentences are made here, from the
numbers, and tested both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from xlstm_lab.chapters import lab
from xlstm_lab.chapters import overtraining as ot

__all__ = ["gather", "as_tokenparam_runs", "slopes", "pooled_fits", "parallel_table", "parallel_verdict",
           "versus_paper", "AVERAGE"]

AVERAGE = "mean"
"""The ``ratio`` label of :func:`parallel_table`'s row for the difference averaged over the ratios."""

FAMILIES = ("xlstm", "llama")  # parallel_table's difference is xLSTM's slope minus the Transformer's


def gather(ratios: Sequence[float], families: Sequence[str], *, n_sizes: int = 3, around: float = 3e11,
           train: bool = True) -> lab.LabRuns:
    """The runs of the lab token/param sweep (sizes around the optimum at ``around``, D = ratio x N).

    Raises:
        ParameterError: naming ``lab_ratios`` (a ratio the corpus cannot hold at any size).
    """
    plan = lab.plan("tokenparam", families=families, param="lab_ratios", ratios=ratios, n_sizes=n_sizes,
                    around=around)
    return lab.gather(plan, train=train)


def as_tokenparam_runs(runs: pd.DataFrame, ratios: Sequence[float]) -> pd.DataFrame:
    """Lab runs in the columns of the paper's token/param table, so the released-data half's slope code applies.

    Each run's ``preset`` is the requested ratio nearest (in log) to its D/N: the trainer spends the budget to
    within one step, so D/N lands within a step of the ratio. FLOPs are the paper convention for both families.
    """
    r = np.asarray(sorted(float(x) for x in ratios))
    dn = (runs["D_tokens"] / runs["N_params"]).to_numpy(float)
    preset = r[np.abs(np.log(dn[:, None] / r[None, :])).argmin(axis=1)]
    return pd.DataFrame({"family_label": runs["family"].to_numpy(), "preset": preset,
                         "model_size": [f"d{d}" for d in runs["d_model"]], "N_params": runs["N_params"].to_numpy(),
                         "D_tokens": runs["D_tokens"].to_numpy(),
                         "C_flops_training": runs["C_flops_training"].to_numpy(),
                         "C_flops_training_mlstm_tfla": runs["C_flops_training"].to_numpy(),
                         "val_dclm_loss": runs["val_loss"].to_numpy()})


def slopes(runs: pd.DataFrame, ratios: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, table): ``overtraining.slope_points`` and ``overtraining.slope_table`` on the lab runs."""
    tp = as_tokenparam_runs(runs, ratios)
    present = sorted(set(tp["preset"]))
    return ot.slope_points(tp, present), ot.slope_table(tp, present)


def pooled_fits(points: pd.DataFrame) -> tuple[pd.DataFrame, float, int]:
    """OLS of ln L on ln C per (family, preset), with the residual variance pooled over all of them.

    Args:
        points: ``slope_points`` (family, preset, C in FLOPs, loss in nats).

    Returns:
        (fits, sigma2, dof): fits has family, preset, n, slope (= -d ln L / d ln C), sxx (sum of squared deviations
        of ln C); sigma2 is the pooled residual variance of ln L, dof its degrees of freedom (sum of n - 2; 0 when
        every fit is exact, then sigma2 is NaN). A group with fewer than 2 distinct C is left out.
    """
    rows, rss, dof = [], 0.0, 0
    for (family, preset), g in points.groupby(["family", "preset"]):
        x, y = np.log(g["C"].to_numpy(float)), np.log(g["loss"].to_numpy(float))
        sxx = float(((x - x.mean()) ** 2).sum())
        if len(g) < 2 or sxx <= 0:
            continue
        b = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
        rss += float(((y - y.mean() - b * (x - x.mean())) ** 2).sum())
        dof += len(g) - 2
        rows.append({"family": family, "preset": float(preset), "n": len(g), "slope": -b, "sxx": sxx})
    return (pd.DataFrame(rows, columns=["family", "preset", "n", "slope", "sxx"]),
            rss / dof if dof else float("nan"), dof)


def parallel_table(points: pd.DataFrame, conf: float = 0.95) -> pd.DataFrame:
    """Per ratio, and averaged over the ratios both families have: xLSTM's slope minus the Transformer's.

    The difference's variance is sigma2 (1/sxx_xlstm + 1/sxx_llama) with the pooled sigma2 of :func:`pooled_fits`
    (for the average: the mean of the per-ratio variances over the number of ratios), and its interval is Student-t
    on the pooled degrees of freedom: the exact interval of the joint least-squares model with one intercept and
    one slope per (family, ratio) and a common noise level. ``parallel`` is True when the interval holds 0, False
    when it does not, NaN (unknown) when the pooled fits have no residual degree of freedom.

    Returns:
        ratio (a number, or :data:`AVERAGE` for the last row), slope_xlstm, slope_llama, diff, diff_lo, diff_hi,
        dof, parallel.
    """
    cols = ["ratio", "slope_xlstm", "slope_llama", "diff", "diff_lo", "diff_hi", "dof", "parallel"]
    fits, sigma2, dof = pooled_fits(points)
    wide = fits.pivot(index="preset", columns="family", values=["slope", "sxx"])
    if not all((k, f) in wide.columns for k in ("slope", "sxx") for f in FAMILIES):
        return pd.DataFrame(columns=cols)
    wide = wide.dropna()
    t = float(stats.t.ppf(0.5 + conf / 2, dof)) if dof else float("nan")
    diff = (wide[("slope", "xlstm")] - wide[("slope", "llama")]).to_numpy()
    var = sigma2 * (1 / wide[("sxx", "xlstm")] + 1 / wide[("sxx", "llama")]).to_numpy()
    rows = [(r, wide.loc[r, ("slope", "xlstm")], wide.loc[r, ("slope", "llama")], d, v)
            for r, d, v in zip(wide.index, diff, var)]
    if len(wide) > 1:
        rows.append((AVERAGE, float(wide[("slope", "xlstm")].mean()), float(wide[("slope", "llama")].mean()),
                     float(diff.mean()), float(var.sum() / len(var) ** 2)))
    out = []
    for r, sx, sl, d, v in rows:
        half = t * np.sqrt(v)
        lo, hi = d - half, d + half
        out.append({"ratio": r, "slope_xlstm": float(sx), "slope_llama": float(sl), "diff": float(d),
                    "diff_lo": float(lo), "diff_hi": float(hi), "dof": dof,
                    "parallel": bool(lo <= 0 <= hi) if np.isfinite(half) else np.nan})
    return pd.DataFrame(out, columns=cols)


def _ratios(values) -> str:
    return ", ".join(f"{float(r):g}" for r in values)


def parallel_verdict(par: pd.DataFrame) -> str:
    """A clause (no capital, no full stop) on whether the families' curves stay parallel, from :func:`parallel_table`.

    Not parallel when the averaged difference's interval excludes 0; otherwise the ratios whose own interval
    excludes 0 are named; otherwise parallel, with the largest averaged difference the data still allow.
    """
    known = par.dropna(subset=["parallel"])
    if known.empty:
        return "the runs leave no residual degree of freedom, so the data cannot say whether the curves are parallel"
    per_ratio = known[known["ratio"] != AVERAGE]
    apart = per_ratio[~per_ratio["parallel"].astype(bool)]
    avg = known[known["ratio"] == AVERAGE]
    if len(avg) and not bool(avg["parallel"].iloc[0]):
        a = avg.iloc[0]
        way = "steeper" if a["diff"] > 0 else "shallower"
        return (f"the curves are not parallel: averaged over the ratios, xLSTM's slope is {way} than the "
                f"Transformer's by {abs(a['diff']):.4f} ({a['diff_lo']:+.4f} to {a['diff_hi']:+.4f})")
    if len(apart):
        return (f"the slopes differ beyond the uncertainty at ratio {_ratios(apart['ratio'])} but not at "
                f"{'the other ratios' if len(apart) < len(per_ratio) else 'any other'}"
                + (", nor on average" if len(avg) else "") + ": parallel at most ratios, not at every one")
    last = known.iloc[-1]  # the average, or the only ratio
    bound = max(abs(float(last["diff_lo"])), abs(float(last["diff_hi"])))
    scope = ("at every ratio: averaged over the ratios," if len(avg) else
             f"at ratio {_ratios(per_ratio['ratio'])}:")
    return (f"the curves are parallel within the uncertainty {scope} the slopes differ by {float(last['diff']):+.4f} "
            f"(interval {float(last['diff_lo']):+.4f} to {float(last['diff_hi']):+.4f}), so a difference larger "
            f"than {bound:.4f} is ruled out")


def versus_paper(lab_summary: pd.DataFrame, paper_summary: pd.DataFrame) -> str:
    """A sentence placing our slopes' range against the paper's, per family (``overtraining.slope_summary``,
    indexed by family): steeper/shallower when every lab slope is beyond every paper slope of that family."""
    parts = []
    for family, name in lab.FAMILY_NAMES.items():
        if family not in lab_summary.index or family not in paper_summary.index:
            continue
        ours, theirs = lab_summary.loc[family], paper_summary.loc[family]
        where = ("steeper than every one of the paper's" if ours["slope_min"] > theirs["slope_max"] else
                 "shallower than every one of the paper's" if ours["slope_max"] < theirs["slope_min"] else
                 "overlapping the paper's range")
        parts.append(f"{name}'s lab slopes ({ours['slope_min']:.3f}–{ours['slope_max']:.3f}) are {where} "
                     f"({theirs['slope_min']:.3f}–{theirs['slope_max']:.3f})")
    return ("; ".join(parts) + ".") if parts else "No family has slopes in both our runs and the paper's."
