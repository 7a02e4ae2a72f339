"""Context-dependence chapter: per-context IsoFLOP laws, N_opt at a fixed budget against context, and why (FLOP shares)."""

from __future__ import annotations

import math

import pandas as pd

from xlstm_lab import anchors
from xlstm_lab.accounting import flops_per_sequence
from xlstm_lab.chapters.isoflop_optima import BUDGETS, GridLaws, Law, grid_laws, law_table
from xlstm_lab.fit.types import InvalidInputError
from xlstm_lab.models.shapes import get_shape

__all__ = ["CONTEXTS", "FAMILIES", "context_fits", "context_law_table", "n_opt_at_budget", "seq_mix_table"]

#: Context lengths of the paper's context study.
CONTEXTS: tuple[int, ...] = (2048, 8192, 16384)
FAMILIES: tuple[str, ...] = ("llama", "xlstm")


def context_fits(c_range: tuple[float, float]) -> dict[tuple[str, int], GridLaws]:
    """Every per-context law: recomputed where runs.csv has the grid, the paper's where it does not.

    Args:
        c_range: (low, high) FLOPs of the budgets that enter the laws (the paper's context study: [5e18, 5e19]).

    Returns:
        (family, ctx) -> GridLaws, for both families and every context in CONTEXTS. Recomputed laws carry
        analytic intervals (t for the exponents, the OLS value interval for N*(C); see :func:`n_opt_at_budget`).
    """
    return {(f, c): grid_laws(f, c, c_range=c_range) for f in FAMILIES for c in CONTEXTS}


def context_law_table(fits: dict[tuple[str, int], GridLaws]) -> pd.DataFrame:
    """Our per-context laws beside the paper's (:func:`~xlstm_lab.chapters.isoflop_optima.law_table` rows)."""
    return law_table(list(fits.values()))


def _budget_label(budget: float) -> str | None:
    # A released budget within 10% of the requested one (runs.csv buckets runs within +-10% of nominal).
    for label, c in BUDGETS.items():
        if abs(budget / c - 1.0) <= 0.1:
            return label
    return None


def n_opt_at_budget(fits: dict[tuple[str, int], GridLaws], budget: float) -> pd.DataFrame:
    """Compute-optimal N at one budget for every (family, context), from the laws and from the budget's parabola.

    Args:
        fits: from :func:`context_fits`.
        budget: FLOPs.

    Returns:
        DataFrame: family, ctx, source, N_opt (our law at the budget, or the published law where the runs are not
        released), lo, hi (95% interval of our law's value at the budget: the OLS mean-response interval in log
        space, :meth:`~xlstm_lab.fit.PowerLawFit.value_interval`, t with n_budgets − 2 dof; NaN for published
        laws, which come without their runs), N_paper_law (the published law at the budget), N_vertex,
        N_vertex_lo, N_vertex_hi (the parabola vertex of the released budget within 10%
        of ``budget``, if any), N_card (the data card's quoted value, Transformer at 1e19 only).
    """
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        raise InvalidInputError(f"n_opt_at_budget: budget must be a positive number of FLOPs, got {budget!r}.")
    label = _budget_label(budget)
    rows = []
    for (family, ctx), g in fits.items():
        row = {"family": family, "ctx": ctx, "source": g.source, "N_opt": math.nan, "lo": math.nan,
               "hi": math.nan, "N_paper_law": math.nan, "N_vertex": math.nan, "N_vertex_lo": math.nan,
               "N_vertex_hi": math.nan, "N_card": math.nan}
        if g.n_law is not None:
            row["N_opt"] = float(g.n_law(budget))
        if g.prefix is not None:
            p = anchors.lookup(f"{g.prefix}.n_opt")
            row["N_paper_law"] = float(Law(p["k"].value, p["a"].value)(budget))
        if g.fit is not None and g.fit.n_opt is not None:
            row["lo"], row["hi"] = g.fit.n_opt.value_interval(float(budget))
        if g.fit is not None and label is not None:
            o = g.fit.optima.set_index("budget")
            if label in o.index:
                row["N_vertex"] = float(o.at[label, "N_opt"])
                row["N_vertex_lo"] = float(o.at[label, "N_opt_lo"]) if "N_opt_lo" in o else math.nan
                row["N_vertex_hi"] = float(o.at[label, "N_opt_hi"]) if "N_opt_hi" in o else math.nan
        key = f"isoflop.context_effect.{family}.ctx{ctx}.n_opt_at_1e19"
        if label == "1e+19" and key in anchors.PAPER:
            row["N_card"] = anchors.PAPER[key].value
        rows.append(row)
    return pd.DataFrame(rows)


def seq_mix_table(model_size: str = "400m", contexts: object = (512, 2048, 8192, 16384, 32768)) -> pd.DataFrame:
    """Where the training FLOPs of one model go as context grows (paper convention, ``flops_per_sequence``).

    Args:
        model_size: a paper shape tag ("160m", "400m", "830m", "1.4b", "2.7b", "7b"); both families are built.
        contexts: sequence lengths in tokens.

    Returns:
        DataFrame: family, ctx, seq_mix_ratio (attention core or mLSTM cell share of the FLOPs), flops_per_token
        (forward + backward), per_token_vs_shortest (ratio to the shortest context of the list), runs_csv_ratio
        (``seq_mix_flop_ratio`` of released runs of the same shape and context: an independent check; NaN where
        none was trained).
    """
    ctxs = [int(c) for c in contexts]
    if not ctxs or min(ctxs) <= 0:
        raise InvalidInputError(f"seq_mix_table: contexts must be positive token counts, got {contexts!r}.")
    runs = anchors.load_isoflop_runs(selected_only=False, experiment_set=None)
    rows = []
    for family in FAMILIES:
        cfg = get_shape(f"{family}-{model_size}")
        same = runs[(runs["family_label"] == family) & (runs["d_model"] == cfg.d_model)
                    & (runs["num_blocks"] == cfg.n_layers) & (runs["num_heads"] == cfg.n_heads)
                    & (runs["experiment_set"] != "isoflop_flops_chinchilla")]  # that set counts attention otherwise
        base = flops_per_sequence(cfg, min(ctxs)).per_token
        for t in sorted(ctxs):
            seq = flops_per_sequence(cfg, t)
            match = same.loc[same["context_length"] == t, "seq_mix_flop_ratio"]
            rows.append({"family": family, "ctx": t, "seq_mix_ratio": seq.seq_mix_ratio,
                         "flops_per_token": seq.per_token, "per_token_vs_shortest": seq.per_token / base,
                         "runs_csv_ratio": float(match.mean()) if len(match) else math.nan})
    return pd.DataFrame(rows)
