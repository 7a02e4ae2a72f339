"""The over-training chapter's lab half: our models at fixed tokens-per-parameter ratios, slopes per ratio."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from xlstm_lab.chapters import lab
from xlstm_lab.chapters import overtraining as ot

__all__ = ["gather", "as_tokenparam_runs", "parallel_table"]


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
                         "D_tokens": runs["D_tokens"].to_numpy(), "C_flops_training": runs["C_flops_training"].to_numpy(),
                         "C_flops_training_mlstm_tfla": runs["C_flops_training"].to_numpy(),
                         "val_dclm_loss": runs["val_loss"].to_numpy()})


def parallel_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per ratio: both families' slopes, their difference, and whether their t intervals overlap.

    ``parallel`` is True when the two slope intervals share a point (the data cannot tell the slopes apart) and
    False when they are disjoint; NaN (unknown) where either interval is undefined.
    """
    t = table.dropna(subset=["slope"]).set_index(["family", "preset"])
    rows = []
    for preset in sorted({p for _, p in t.index}):
        if ("xlstm", preset) not in t.index or ("llama", preset) not in t.index:
            continue
        x, tf = t.loc[("xlstm", preset)], t.loc[("llama", preset)]
        bounded = np.isfinite([x["slope_lo"], x["slope_hi"], tf["slope_lo"], tf["slope_hi"]]).all()
        overlap = max(x["slope_lo"], tf["slope_lo"]) <= min(x["slope_hi"], tf["slope_hi"]) if bounded else np.nan
        rows.append({"ratio": preset, "slope_xlstm": x["slope"], "slope_llama": tf["slope"],
                     "diff": x["slope"] - tf["slope"], "parallel": overlap})
    return pd.DataFrame(rows, columns=["ratio", "slope_xlstm", "slope_llama", "diff", "parallel"])


def slopes(runs: pd.DataFrame, ratios: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, table): the slope points and ``overtraining.slope_table`` on the lab runs."""
    tp = as_tokenparam_runs(runs, ratios)
    present = sorted(set(tp["preset"]))
    return ot.slope_points(tp, present), ot.slope_table(tp, present)


__all__.append("slopes")
