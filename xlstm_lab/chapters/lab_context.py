"""The context chapter's lab half: our own IsoFLOP grids at several contexts, and how each family's optimum moves."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xlstm_lab.chapters import lab
from xlstm_lab.chapters.lab_isoflop import budget_label
from xlstm_lab.fit import fit_isoflop

__all__ = ["gather", "optima", "movement"]


def gather(contexts: Sequence[int], budgets: Sequence[float], families: Sequence[str], *,
           seeds: Sequence[int] = (0,), train: bool = True) -> lab.LabRuns:
    """The runs of the lab context sweep (contexts x budgets x sizes), shipped or trained now.

    Raises:
        ParameterError: naming ``lab_budgets`` (a budget or context the corpus cannot hold).
    """
    plan = lab.plan("context", families=families, param="lab_budgets", budgets=budgets,
                    contexts=[int(c) for c in contexts], seeds=seeds)
    return lab.gather(plan, train=train)


def optima(runs: pd.DataFrame) -> pd.DataFrame:
    """IsoFLOP vertices per (family, context, budget), with Fieller's 95% interval of N*.

    Returns:
        family, ctx, budget, C, n_runs, N_opt, N_opt_lo, N_opt_hi, L_opt; a budget whose parabola has no interior
        minimum has NaN N_opt and its reason in ``note``.
    """
    rows = []
    for (family, ctx), g in runs.groupby(["family", "context_length"]):
        g = g.assign(budget=g["budget_flops"].map(budget_label))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_isoflop(g, loss_col="val_loss", budget_col="budget", on_no_minimum="skip")
        o = fit.optima[["budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "L_opt"]].assign(
            family=family, ctx=int(ctx), note="")
        skipped = pd.DataFrame([{"budget": b, "family": family, "ctx": int(ctx), "note": r} for b, r in fit.skipped])
        rows.extend([o, skipped])
    out = pd.concat([r for r in rows if len(r)], ignore_index=True)
    cols = ["family", "ctx", "budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "L_opt", "note"]
    return out.reindex(columns=cols).sort_values(["family", "budget", "ctx"]).reset_index(drop=True)


def movement(opt: pd.DataFrame) -> pd.DataFrame:
    """How N* moves from the shortest to the longest context, per family and budget.

    ``shift`` is "smaller" or "larger" when the two vertices' 95% intervals do not overlap, else "within the
    uncertainty" (also when an interval is undefined: an unbounded interval overlaps everything).

    Returns:
        family, budget, ctx_short, ctx_long, N_short, N_long, ratio (N_long / N_short), shift.
    """
    rows = []
    for (family, budget), g in opt.dropna(subset=["N_opt"]).groupby(["family", "budget"]):
        s, e = g.loc[g["ctx"].idxmin()], g.loc[g["ctx"].idxmax()]
        if s["ctx"] == e["ctx"]:
            continue
        bounded = np.isfinite([s["N_opt_lo"], s["N_opt_hi"], e["N_opt_lo"], e["N_opt_hi"]]).all()
        if bounded and e["N_opt_hi"] < s["N_opt_lo"]:
            shift = "smaller"
        elif bounded and e["N_opt_lo"] > s["N_opt_hi"]:
            shift = "larger"
        else:
            shift = "within the uncertainty"
        rows.append({"family": family, "budget": budget, "ctx_short": int(s["ctx"]), "ctx_long": int(e["ctx"]),
                     "N_short": s["N_opt"], "N_long": e["N_opt"], "ratio": e["N_opt"] / s["N_opt"], "shift": shift})
    return pd.DataFrame(rows, columns=["family", "budget", "ctx_short", "ctx_long", "N_short", "N_long", "ratio",
                                       "shift"])
