"""The compute–loss plane: every released run, each family's Pareto front, and like-for-like optimal losses."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from xlstm_lab import anchors
from xlstm_lab.fit import FewPointsWarning, IsoflopFit, fit_power_law
from xlstm_lab.fit.types import validate_arrays

__all__ = ["compute_loss_runs", "lower_envelope", "envelope_frame", "like_for_like"]


def compute_loss_runs() -> pd.DataFrame:
    """Every released IsoFLOP run with a loss (all sets, both families), minus runs upstream's filter rejects.

    Returns:
        DataFrame: family ("xlstm"/"llama"), ctx, set, C (FLOPs), loss (nats/token), N, D, budget.
    """
    df = anchors.load_isoflop_runs(selected_only=False, experiment_set=None)
    # repo_selected is False for diverged / spiking runs of the main set; NA where a set has no filter.
    keep = df["val_dclm_loss"].notna() & df["C_flops_training"].notna() & (df["repo_selected"] != False)  # noqa: E712
    df = df[keep.fillna(True)]
    return pd.DataFrame({
        "family": df["family_label"], "ctx": df["context_length"].astype(int), "set": df["experiment_set"],
        "C": df["C_flops_training"], "loss": df["val_dclm_loss"], "N": df["N_params"], "D": df["D_tokens"],
        "budget": df["isoflop_bucket"],
    }).reset_index(drop=True)


def lower_envelope(c: object, loss: object) -> tuple[np.ndarray, np.ndarray]:
    """Pareto front of loss against compute: the running minimum of loss over increasing C.

    A run is on the front if no run with less (or equal) compute reached a lower loss.

    Args:
        c: shape (n,), training FLOPs, > 0.
        loss: shape (n,), final loss (any finite real).

    Returns:
        (c_sorted, envelope): both shape (n,); c ascending (stable for ties), envelope[i] = min(loss over the
        i+1 cheapest runs), non-increasing.

    Raises:
        InvalidInputError: NaN/inf, non-positive C, mismatched lengths or no points.
    """
    arrs = validate_arrays({"C": c, "loss": loss}, positive=("C",), what="lower_envelope")
    order = np.argsort(arrs["C"], kind="stable")
    return arrs["C"][order], np.minimum.accumulate(arrs["loss"][order])


def envelope_frame(runs: pd.DataFrame, by: tuple[str, ...] = ("family",)) -> pd.DataFrame:
    """The runs on each group's lower envelope (where the running minimum drops), for a step line.

    Returns:
        DataFrame with the ``by`` columns, C and loss; one row per Pareto-optimal run, plus a last row at the
        group's largest C so the step reaches the end of the data.
    """
    out = []
    for key, g in runs.groupby(list(by), sort=True):
        cs, env = lower_envelope(g["C"], g["loss"])
        drop = np.r_[True, env[1:] < env[:-1]]
        drop[-1] = True
        part = pd.DataFrame({"C": cs[drop], "loss": env[drop]})
        for col, val in zip(by, key if isinstance(key, tuple) else (key,)):
            part[col] = val
        out.append(part)
    return pd.concat(out, ignore_index=True)[[*by, "C", "loss"]]


def like_for_like(x_fit: IsoflopFit, l_fit: IsoflopFit, label: str) -> pd.DataFrame:
    """Loss at the IsoFLOP optimum of both families on budgets they share, and the Transformer compute to match.

    The Transformer's optimal loss is fitted as L*(C) = k·C^a through its budgets' vertices (log-log OLS);
    inverting it gives the compute the Transformer would need to reach xLSTM's optimal loss.

    Returns:
        DataFrame: grid (``label``), budget, L_xlstm, L_tf (optimal losses, nats/token), dL = L_tf - L_xlstm,
        C_tf_match (FLOPs at which the Transformer's L*(C) equals L_xlstm), ratio = C_tf_match / the budget's C,
        extrapolated (C_tf_match outside the Transformer's budgets).
    """
    lo = l_fit.optima
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewPointsWarning)  # 3-4 points; used only to interpolate
        l_law = fit_power_law(lo["C"], lo["L_opt"], x_name="C", y_name="L_opt")
    shared = x_fit.optima.merge(lo, on="budget", suffixes=("_x", "_l"))
    c_match = (shared["L_opt_x"] / l_law.k) ** (1.0 / l_law.a)
    return pd.DataFrame({
        "grid": label, "budget": shared["budget"], "L_xlstm": shared["L_opt_x"], "L_tf": shared["L_opt_l"],
        "dL": shared["L_opt_l"] - shared["L_opt_x"], "C_tf_match": c_match, "ratio": c_match / shared["C_x"],
        "extrapolated": (c_match < lo["C"].min()) | (c_match > lo["C"].max()),
    })

