"""The context chapter's lab half: our own IsoFLOP grids at several contexts, and how each family's optimum moves.

The judged sentences of the section (does an optimum move beyond the uncertainty; how our movement compares with
the paper's) are made here from the numbers, so they stay true for any parameters and are tested both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from xlstm_lab.chapters import lab
from xlstm_lab.chapters.lab import FAMILY_NAMES
from xlstm_lab.chapters.lab_isoflop import budget_label, fit_families

__all__ = ["FAMILY_NAMES", "gather", "optima", "movement", "paper_movement", "verdict", "beside_paper",
           "contrast"]

MOVE_COLUMNS = ["family", "budget", "ctx_short", "ctx_long", "N_short", "N_long", "ratio", "ratio_lo", "ratio_hi",
                "per_doubling", "per_doubling_lo", "per_doubling_hi", "shift"]


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
    for ctx, at_ctx in runs.groupby("context_length"):
        for family, fit in fit_families(at_ctx).items():  # the IsoFLOP lab half's recipe, per context
            o = fit.optima[["budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "L_opt"]].assign(
                family=family, ctx=int(ctx), note="")
            skipped = pd.DataFrame([{"budget": b, "family": family, "ctx": int(ctx), "note": r}
                                    for b, r in fit.skipped])
            rows.extend([o, skipped])
    out = pd.concat([r for r in rows if len(r)], ignore_index=True)
    cols = ["family", "ctx", "budget", "C", "n_runs", "N_opt", "N_opt_lo", "N_opt_hi", "L_opt", "note"]
    return out.reindex(columns=cols).sort_values(["family", "budget", "ctx"]).reset_index(drop=True)


def _move_row(family: str, budget: str, s: pd.Series, e: pd.Series, cols: tuple[str, str, str]) -> dict:
    """One row of :data:`MOVE_COLUMNS` from the short-context row ``s`` and the long-context row ``e``.

    ``ratio_lo``-``ratio_hi`` is every ratio of two values that each lie inside their own 95% interval,
    [lo_long / hi_short, hi_long / lo_short]; it excludes 1 exactly when the two intervals do not overlap, which is
    the ``shift`` rule. NaN where either interval is undefined or unbounded (an unbounded interval overlaps all).
    """
    n, lo, hi = cols
    ends = np.array([s[lo], s[hi], e[lo], e[hi]], dtype=float)
    bounded = bool(np.isfinite(ends).all() and (ends > 0).all())
    ratio = float(e[n] / s[n])
    r_lo, r_hi = (float(e[lo] / s[hi]), float(e[hi] / s[lo])) if bounded else (np.nan, np.nan)
    shift = "smaller" if r_hi < 1 else "larger" if r_lo > 1 else "within the uncertainty"  # NaN compares False
    doublings = float(np.log2(e["ctx"] / s["ctx"]))
    return {"family": family, "budget": budget, "ctx_short": int(s["ctx"]), "ctx_long": int(e["ctx"]),
            "N_short": float(s[n]), "N_long": float(e[n]), "ratio": ratio, "ratio_lo": r_lo, "ratio_hi": r_hi,
            "per_doubling": ratio ** (1 / doublings), "per_doubling_lo": r_lo ** (1 / doublings),
            "per_doubling_hi": r_hi ** (1 / doublings), "shift": shift}


def movement(opt: pd.DataFrame) -> pd.DataFrame:
    """How N* moves from the shortest to the longest context, per family and budget.

    ``shift`` is "smaller" or "larger" when the two vertices' 95% intervals do not overlap, else "within the
    uncertainty" (also when an interval is undefined: an unbounded interval overlaps everything).
    ``per_doubling`` is the factor N* changes by per doubling of the context (``ratio`` spread evenly over the
    doublings between the two contexts, as a power of the context would), so grids of different context spans
    compare; ``*_lo``/``*_hi`` bound the ratios both intervals allow.

    Returns:
        :data:`MOVE_COLUMNS`: family, budget, ctx_short, ctx_long, N_short, N_long, ratio (N_long / N_short),
        ratio_lo, ratio_hi, per_doubling, per_doubling_lo, per_doubling_hi, shift.
    """
    rows = []
    for (family, budget), g in opt.dropna(subset=["N_opt"]).groupby(["family", "budget"]):
        s, e = g.loc[g["ctx"].idxmin()], g.loc[g["ctx"].idxmax()]
        if s["ctx"] != e["ctx"]:
            rows.append(_move_row(family, budget, s, e, ("N_opt", "N_opt_lo", "N_opt_hi")))
    return pd.DataFrame(rows, columns=MOVE_COLUMNS)


def paper_movement(at_budget: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The paper's movement of N* between its shortest and longest context, in :func:`movement`'s columns.

    Like the lab's, it compares the budget's parabola vertices (with their Fieller intervals) where the released
    runs give a vertex at both contexts; otherwise (xLSTM: no released runs at ctx 2048) the per-context laws'
    values at ``budget`` and their intervals (a published law has none, so the range is NaN). ``budget`` becomes
    "paper law 1e+19" or "paper vertex 1e+19".

    Args:
        at_budget: ``context_dependence.n_opt_at_budget`` (family, ctx, N_opt, lo, hi, N_vertex, N_vertex_lo,
            N_vertex_hi).
        budget: the FLOPs the table was read at.
    """
    rows = []
    for family, g in at_budget.groupby("family"):
        s, e = g.loc[g["ctx"].idxmin()], g.loc[g["ctx"].idxmax()]
        if s["ctx"] == e["ctx"]:
            continue
        vertex = bool(np.isfinite([s["N_vertex"], e["N_vertex"]]).all())
        cols = ("N_vertex", "N_vertex_lo", "N_vertex_hi") if vertex else ("N_opt", "lo", "hi")
        label = f"paper {'vertex' if vertex else 'law'} {budget_label(budget)}"
        rows.append(_move_row(family, label, s, e, cols))
    return pd.DataFrame(rows, columns=MOVE_COLUMNS)


def verdict(move: pd.DataFrame) -> str:
    """One sentence: which families' optima move beyond the uncertainty of the vertices (``movement``)."""
    if move.empty:
        return "No family has a vertex at two contexts of one budget, so the data cannot say how N* moves."
    moved = move[move["shift"] != "within the uncertainty"]
    if moved.empty:
        return ("No family's optimum moves beyond the uncertainty of its vertices between the shortest and the "
                "longest context.")
    parts = [f"{FAMILY_NAMES.get(r.family, r.family)} at {r.budget} ({r.shift} at the longer context)"
             for r in moved.itertuples()]
    rest = "; every other shift is within the uncertainty." if len(moved) < len(move) else "."
    return "Beyond the uncertainty of the vertices, the optimum moves for: " + "; ".join(parts) + rest


def beside_paper(move: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our movement per (family, budget) and the paper's per family, in one table (``source``: lab or paper)."""
    out = pd.concat([move.assign(source="lab"), paper.assign(source="paper")], ignore_index=True)
    out = out[["family", "source"] + [c for c in MOVE_COLUMNS if c != "family"]]
    return out.sort_values(["family", "source", "budget"]).reset_index(drop=True)


def contrast(table: pd.DataFrame) -> str:
    """Sentences setting our per-doubling factor beside the paper's, per family, judged from our ranges.

    For each family in both sources: the paper's factor is "inside" our range at a budget when it lies in
    [per_doubling_lo, per_doubling_hi] there, "outside" when not, and the budget is left out of the judgement when
    our range is undefined.

    Args:
        table: :func:`beside_paper`.
    """
    out = []
    for family in sorted(set(table["family"])):
        g = table[table["family"] == family]
        ours, theirs = g[g["source"] == "lab"], g[g["source"] == "paper"]
        if ours.empty or theirs.empty:
            continue
        p = theirs.iloc[0]
        name = FAMILY_NAMES.get(family, family)
        each = [f"×{r.per_doubling:.2f} at {r.budget}" for r in ours.itertuples()]
        here = each[0] if len(each) == 1 else ", ".join(each[:-1]) + " and " + each[-1]
        judged = ours.dropna(subset=["per_doubling_lo", "per_doubling_hi"])
        inside = (judged["per_doubling_lo"] <= p["per_doubling"]) & (p["per_doubling"] <= judged["per_doubling_hi"])
        if judged.empty:
            judge = "our ranges are unbounded, so the data cannot compare them"
        elif inside.all():
            judge = "inside our range at " + ("every budget" if len(judged) == len(ours) else
                                             "every budget with a bounded range")
        elif not inside.any():
            judge = "outside our range at " + ("every budget" if len(judged) == len(ours) else
                                              "every budget with a bounded range")
        else:
            judge = "outside our range at " + ", ".join(judged.loc[~inside, "budget"])
        out.append(f"{name}: N* changes by {here} per doubling of the context here, by ×{p['per_doubling']:.2f} "
                   f"in the paper (ctx {int(p['ctx_short'])} to {int(p['ctx_long'])}): {judge}.")
    return " ".join(out) if out else "No family is in both our grid and the paper's, so nothing compares."
