"""IsoFLOP optima (Chinchilla Approach 2): a parabola of loss in log N and log D per compute budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from xlstm_lab.fit.parabola import vertex_interval
from xlstm_lab.fit.powerlaw import PowerLawFit, fit_power_law
from xlstm_lab.fit.types import (
    InvalidInputError,
    NoInteriorMinimum,
    TooFewPointsError,
    check_level,
    row_labels,
    validate_arrays,
)

__all__ = ["LOSS_COLUMNS", "IsoflopFit", "fit_isoflop", "group_budgets"]

#: Loss columns tried in order when ``loss_col`` is None: the paper's released runs, then the lab's run store.
LOSS_COLUMNS: tuple[str, ...] = ("val_dclm_loss", "val_loss")


@dataclass(frozen=True, eq=False)
class IsoflopFit:
    """Result of :func:`fit_isoflop`.

    Attributes:
        optima: one row per fitted budget, sorted by C, columns: budget (label), C (mean FLOPs of its runs),
            n_runs, dof (n_runs - 3: residual degrees of freedom of its parabolas), N_opt, N_opt_lo, N_opt_hi,
            D_opt, D_opt_lo, D_opt_hi (NaN without a D column), L_opt, L_opt_lo, L_opt_hi (N parabola at its
            vertex, loss units), in_fit_range (C within c_range). The intervals are at level ``conf``: Fieller's
            interval for the vertex (exact for a parabola with normal errors) and a t interval for L_opt (see
            :func:`vertex_interval`); NaN where the budget has no residual degrees of freedom or its curvature is
            not significant at that level (the interval is then unbounded; a note says so).
        parabolas: one row per (budget, variable in {"N", "D"}): a, b, c with loss = a·x² + b·x + c,
            x = log10(value) (x_scale "log10") or value ("linear"); lo, hi = sampled range; vertex (value units);
            resid_sd (residual standard deviation, loss units).
        n_opt: N*(C) = k·C^a over budgets in c_range (None with fewer than 2 such budgets).
        d_opt: D*(C) likewise (None without a D column).
        assignments: budget label of every input row (index of the input DataFrame).
        c_range: (low, high) FLOPs used to select budgets for the power laws, or None (all).
        x_scale: "log10" or "linear".
        skipped: (budget, reason) for budgets dropped with on_no_minimum="skip".
        conf: level of every interval.
        n_exponent_interval, d_exponent_interval: t intervals of the power-law exponents (``n_opt.a_interval``;
            NaN without a law or with only 2 budgets).
        loss_col: the loss column that was fitted.
        status: "ok", "skipped_budgets" (some budgets dropped) or "no_power_law" (fewer than 2 budgets in range).
        notes: human-readable explanations of a non-"ok" status and of missing intervals.
    """

    optima: pd.DataFrame
    parabolas: pd.DataFrame
    n_opt: PowerLawFit | None
    d_opt: PowerLawFit | None
    assignments: pd.Series = field(repr=False)
    c_range: tuple[float, float] | None = None
    x_scale: str = "log10"
    skipped: tuple[tuple[str, str], ...] = ()
    conf: float = 0.95
    n_exponent_interval: tuple[float, float] = (math.nan, math.nan)
    d_exponent_interval: tuple[float, float] = (math.nan, math.nan)
    loss_col: str = "val_dclm_loss"
    status: str = "ok"
    notes: tuple[str, ...] = ()

    def parabola(self, budget: str, values: object, variable: Literal["N", "D"] = "N") -> np.ndarray:
        """Evaluate a budget's fitted parabola (for plotting).

        Args:
            budget: a label from ``optima["budget"]``.
            values: N (parameters) or D (tokens) values, any shape, > 0.
            variable: "N" or "D".

        Returns:
            Predicted loss, same shape as ``values``.
        """
        rows = self.parabolas[(self.parabolas["budget"] == str(budget)) & (self.parabolas["variable"] == variable)]
        if rows.empty:
            known = sorted(set(self.parabolas["budget"]))
            raise InvalidInputError(f"IsoflopFit.parabola: no {variable} parabola for budget {budget!r}; known: {known}.")
        a, b, c = (float(rows.iloc[0][k]) for k in ("a", "b", "c"))
        x = np.asarray(values, dtype=np.float64)
        if self.x_scale == "log10":
            x = np.log10(x)
        return a * x**2 + b * x + c

    def to_dict(self) -> dict[str, object]:
        """Optima rows, the two power laws, status and notes, as plain Python values."""
        return {
            "optima": self.optima.to_dict(orient="records"),
            "n_opt": None if self.n_opt is None else self.n_opt.to_dict(),
            "d_opt": None if self.d_opt is None else self.d_opt.to_dict(),
            "c_range": None if self.c_range is None else list(self.c_range),
            "x_scale": self.x_scale,
            "loss_col": self.loss_col,
            "conf": self.conf,
            "skipped": [{"budget": b, "reason": r} for b, r in self.skipped],
            "n_exponent_interval": list(self.n_exponent_interval),
            "d_exponent_interval": list(self.d_exponent_interval),
            "status": self.status,
            "notes": list(self.notes),
        }


def group_budgets(c: object, *, rtol: float = 0.2) -> np.ndarray:
    """Assign runs to compute budgets by clustering their FLOPs.

    Sorted C values whose ratio to the previous one is at most 1 + rtol join its budget; IsoFLOP grids
    place budgets a factor >= 1.6 apart while runs scatter a few percent around their nominal budget.

    Args:
        c: shape (n,), training FLOPs per run, > 0.
        rtol: relative gap that starts a new budget, finite and >= 0 (0: every distinct C is its own budget).

    Returns:
        shape (n,) string labels, the budget's mean C formatted as "%.3g" (more digits if needed to be unique).
    """
    try:
        rtol_f = float(rtol)
    except (TypeError, ValueError):
        rtol_f = math.nan
    if not (math.isfinite(rtol_f) and rtol_f >= 0):
        raise InvalidInputError(
            f"group_budgets: rtol (c_group_rtol) must be a finite number >= 0, got {rtol!r}; runs of one budget "
            "usually scatter a few percent, so 0.2 is the usual choice."
        )
    arr = validate_arrays({"C": c}, what="group_budgets")["C"]
    order = np.argsort(arr)
    group = np.zeros(arr.size, dtype=int)
    g = 0
    for prev, cur in zip(order[:-1], order[1:]):
        if arr[cur] > arr[prev] * (1.0 + rtol_f):
            g += 1
        group[cur] = g
    means = [arr[group == gi].mean() for gi in range(g + 1)]
    digits = 3
    while len({f"{m:.{digits}g}" for m in means}) < len(means) and digits < 17:  # small rtol: close means
        digits += 1
    labels = np.empty(arr.size, dtype=object)
    for gi, mean in enumerate(means):
        labels[group == gi] = f"{mean:.{digits}g}" if digits < 17 else repr(float(mean))
    return labels.astype(str)


def _check_vertex(fit: dict[str, float], x: np.ndarray, *, budget: str, name: str, log10: bool) -> None:
    """NoInteriorMinimum saying why a parabola has no minimum inside the sampled range."""
    a, xv = fit["a"], fit["vertex"]
    if not a > 0:
        raise NoInteriorMinimum(
            f"budget {budget}: the loss parabola in {'log10 ' if log10 else ''}{name} opens downward (a = {a:.3g}), "
            "so it has no minimum; add runs on both sides of the optimum, or drop the budget (on_no_minimum='skip')."
        )
    if not x.min() <= xv <= x.max():
        show = (lambda v: f"{10**v:.4g}") if log10 else (lambda v: f"{v:.4g}")
        raise NoInteriorMinimum(
            f"budget {budget}: the vertex of the loss parabola in {name} is at {name} = {show(xv)}, outside the "
            f"sampled range [{show(x.min())}, {show(x.max())}]; extend the grid past the optimum, or drop the "
            "budget (on_no_minimum='skip')."
        )


def _fit_budget(xs: dict[str, np.ndarray], loss: np.ndarray, budget: str, log10: bool, conf: float) -> dict:
    if loss.size < 3:
        raise TooFewPointsError(
            f"budget {budget}: {loss.size} run(s); a parabola needs at least 3; add runs or drop the budget "
            "(on_no_minimum='skip')."
        )
    out = {}
    for name, x in xs.items():
        distinct = np.unique(x).size
        if distinct < 3:
            raise TooFewPointsError(
                f"budget {budget}: {x.size} runs but only {distinct} distinct {name} values; a parabola needs at "
                "least 3; add runs or drop the budget (on_no_minimum='skip')."
            )
        fit = vertex_interval(x, loss, conf)
        _check_vertex(fit, x, budget=budget, name=name, log10=log10)
        out[name] = fit | {"lo_x": float(x.min()), "hi_x": float(x.max())}
    return out


def _columns(df: object, cols: dict[str, object]) -> str:
    """Check the DataFrame and the column arguments; returns the loss column (resolving loss_col=None)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"fit_isoflop: df must be a pandas DataFrame, got {type(df).__name__}.")
    if cols["loss_col"] is None:
        found = [c for c in LOSS_COLUMNS if c in df.columns]
        if not found:
            raise InvalidInputError(
                f"fit_isoflop: no loss column: none of {list(LOSS_COLUMNS)} is in the data (columns: "
                f"{list(df.columns)}); pass loss_col=..."
            )
        cols["loss_col"] = found[0]
    missing = []
    for arg, col in cols.items():
        if col is None and arg in ("n_col", "c_col"):
            raise InvalidInputError(f"fit_isoflop: {arg} must name a column, got None (only d_col and budget_col "
                                    "may be None).")
        try:
            present = col is None or col in df.columns
        except TypeError:  # unhashable, e.g. a list
            present = False
        if not present:
            missing.append(f"{arg}={col!r}")
    if missing:
        raise InvalidInputError(
            f"fit_isoflop: column(s) not found: {', '.join(missing)}; available columns: {list(df.columns)}. "
            "Pass the right names via n_col/d_col/c_col/loss_col/budget_col."
        )
    return str(cols["loss_col"])


def _options(conf: object, on_no_minimum: object, c_range: object) -> tuple[float, tuple[float, float] | None]:
    level = check_level(conf, "conf", "fit_isoflop")
    if on_no_minimum not in ("raise", "skip"):
        raise InvalidInputError(f"fit_isoflop: on_no_minimum must be 'raise' or 'skip', got {on_no_minimum!r}.")
    if c_range is None:
        return level, None
    try:
        lo, hi = (float(v) for v in c_range)  # type: ignore[union-attr]
    except (TypeError, ValueError, OverflowError):
        lo = hi = math.nan
    if not (0 < lo < hi and math.isfinite(hi)):
        raise InvalidInputError(
            f"fit_isoflop: c_range must be two numbers (low, high) with 0 < low < high, got {c_range!r}; "
            "e.g. c_range=(5e18, 2e20)."
        )
    return level, (lo, hi)


def fit_isoflop(
    df: pd.DataFrame,
    *,
    n_col: str = "N_params",
    d_col: str | None = "D_tokens",
    c_col: str = "C_flops_training",
    loss_col: str | None = None,
    budget_col: str | None = None,
    in_log10: bool = True,
    c_range: tuple[float, float] | None = None,
    conf: float = 0.95,
    on_no_minimum: Literal["raise", "skip"] = "raise",
    c_group_rtol: float = 0.2,
    exclude_budgets: Sequence[str] = (),
) -> IsoflopFit:
    """Fit IsoFLOP parabolas per budget and power laws N*(C), D*(C) through their vertices.

    The paper's method: per budget, a least-squares parabola of loss in log10 N, N* = 10^(−b/2a), L* = the
    parabola at its vertex; D* from a separate parabola in log10 D; the budget's C is the mean C of its runs.
    Then ln N* = ln k + a·ln C by OLS over budgets with C in c_range (:func:`fit_power_law`). Intervals (level
    ``conf``): Fieller's for each vertex and a t interval for L* (:func:`vertex_interval`), and the power law's
    t interval for each exponent, which is honest with 3-5 budgets because it uses the scatter of the vertices
    around the line. No resampling is involved, so the result is deterministic.

    Args:
        df: one row per run; repeated (N, D) points (several seeds of a shape) are fine.
        n_col, d_col, c_col: parameters, tokens (None: skip D), training FLOPs.
        loss_col: final loss (> 0); None takes the first of :data:`LOSS_COLUMNS` present ("val_dclm_loss" of the
            paper's runs, "val_loss" of the lab's run store) and records it in ``loss_col`` of the result.
        budget_col: column naming each run's budget; None groups by C (:func:`group_budgets`, ``c_group_rtol``).
        in_log10: parabola in log10 of N and D (the paper); False fits in N and D themselves.
        c_range: (low, high) FLOPs, inclusive; only budgets whose C lies inside enter the power laws.
        conf: level of the intervals.
        on_no_minimum: "raise" NoInteriorMinimum (or TooFewPointsError for a budget with fewer than 3 runs or
            distinct N), or "skip" such a budget and record it in ``skipped``.
        c_group_rtol: relative gap between sorted C values that starts a new budget (budget_col=None), >= 0.
        exclude_budgets: budget labels whose runs are dropped before fitting (needs ``budget_col``), e.g.
            ``("extra",)``: the paper's runs.csv labels off-grid runs "extra" in sets upstream never filtered.

    Returns:
        IsoflopFit.

    Raises:
        InvalidInputError: missing columns (the message lists the available ones), NaN/inf, non-positive N/D/C/loss
            (rows named by the DataFrame's index labels), bad options.
        TooFewPointsError: a budget with fewer than 3 runs or distinct N (or D) values, named (with "raise").
        NoInteriorMinimum: a parabola opens downward or has its vertex outside the sampled range (with "raise"),
            or no budget is left (with "skip").
    """
    cols = {"n_col": n_col, "d_col": d_col, "c_col": c_col, "loss_col": loss_col, "budget_col": budget_col}
    loss_col = _columns(df, cols)
    level, c_range = _options(conf, on_no_minimum, c_range)
    if isinstance(exclude_budgets, str):
        exclude_budgets = (exclude_budgets,)
    if exclude_budgets:
        if budget_col is None:
            raise InvalidInputError("fit_isoflop: exclude_budgets needs budget_col (the column holding the labels).")
        df = df[~df[budget_col].astype(str).isin([str(b) for b in exclude_budgets])]
    names = {"N": n_col, "C": c_col, "loss": loss_col} | ({"D": d_col} if d_col is not None else {})
    arrs = validate_arrays({k: df[v] for k, v in names.items()}, min_points=3, columns=names, what="fit_isoflop")
    if budget_col is not None:
        missing = df[budget_col].isna().to_numpy()
        if missing.any():
            raise InvalidInputError(
                f"fit_isoflop: budget column {budget_col!r} has missing values at {row_labels(missing, df.index)}; "
                "label every run or drop those rows."
            )
        labels = df[budget_col].astype(str).to_numpy()
    else:
        labels = group_budgets(arrs["C"], rtol=c_group_rtol)
    log10 = bool(in_log10)
    xs_all = {k: (np.log10(arrs[k]) if log10 else arrs[k]) for k in ("N", "D") if k in arrs}
    back = (lambda v: 10.0**v) if log10 else (lambda v: v)

    budgets = sorted(set(labels), key=lambda lab: float(arrs["C"][labels == lab].mean()))
    rows, par_rows, skipped, notes = [], [], [], []
    for lab in budgets:
        m = labels == lab
        try:
            fits = _fit_budget({k: v[m] for k, v in xs_all.items()}, arrs["loss"][m], lab, log10, level)
        except (NoInteriorMinimum, TooFewPointsError) as exc:
            if on_no_minimum == "raise":
                raise
            skipped.append((lab, str(exc)))
            continue
        c_mean = float(arrs["C"][m].mean())
        row = {"budget": lab, "C": c_mean, "n_runs": int(m.sum()), "dof": int(fits["N"]["dof"])}
        for var in ("N", "D"):
            f = fits.get(var, {})
            row[f"{var}_opt"], row[f"{var}_opt_lo"], row[f"{var}_opt_hi"] = (
                back(f.get(k, math.nan)) for k in ("vertex", "vertex_lo", "vertex_hi"))
        f = fits["N"]
        row["L_opt"], row["L_opt_lo"], row["L_opt_hi"] = f["loss_at_vertex"], f["loss_lo"], f["loss_hi"]
        row["in_fit_range"] = c_range is None or c_range[0] <= c_mean <= c_range[1]
        rows.append(row)
        notes += _interval_notes(lab, fits, level)
        for var, f in fits.items():
            par_rows.append({"budget": lab, "C": c_mean, "variable": var, "a": f["a"], "b": f["b"], "c": f["c"],
                             "x_scale": "log10" if log10 else "linear", "lo": back(f["lo_x"]), "hi": back(f["hi_x"]),
                             "vertex": back(f["vertex"]), "loss_at_vertex": f["loss_at_vertex"],
                             "resid_sd": f["resid_sd"]})
    if not rows:
        raise NoInteriorMinimum("fit_isoflop: no budget has an interior minimum: " + " | ".join(r for _, r in skipped))
    return _assemble(pd.DataFrame(rows), pd.DataFrame(par_rows), labels, df.index, c_range, log10, skipped, notes,
                     level, loss_col, has_d="D" in arrs)


def _interval_notes(budget: str, fits: dict, conf: float) -> list[str]:
    out = []
    for var, f in fits.items():
        if f["dof"] < 1:
            out.append(f"budget {budget}: 3 runs leave no residual degrees of freedom, so {var}_opt has no interval; "
                       "add runs.")
        elif not math.isfinite(f["vertex_lo"]):
            out.append(f"budget {budget}: the curvature of the {var} parabola is not significant at {conf:.0%}, so "
                       f"the {var}_opt interval is unbounded (NaN); add runs or widen the grid.")
    return out


def _assemble(optima, parabolas, labels, index, c_range, log10, skipped, notes, conf, loss_col, *, has_d):
    """Power laws, exponent intervals and status (split out of fit_isoflop to keep functions short)."""
    sel = optima[optima["in_fit_range"]]
    notes = [f"budget {b} skipped: {r}" for b, r in skipped] + notes
    n_opt = d_opt = None
    n_int = d_int = (math.nan, math.nan)
    if len(sel) >= 2:
        n_opt = fit_power_law(sel["C"], sel["N_opt"], conf=conf, x_name="C", y_name="N_opt")
        n_int = n_opt.a_interval
        if has_d:
            d_opt = fit_power_law(sel["C"], sel["D_opt"], conf=conf, x_name="C", y_name="D_opt")
            d_int = d_opt.a_interval
        status = "skipped_budgets" if skipped else "ok"
    else:
        status = "no_power_law"
        notes.append(
            f"only {len(sel)} budget(s) with C in c_range={c_range}; a power law needs at least 2, so n_opt and "
            "d_opt are None."
        )
    return IsoflopFit(
        optima=optima.reset_index(drop=True),
        parabolas=parabolas,
        n_opt=n_opt,
        d_opt=d_opt,
        assignments=pd.Series(labels, index=index, name="budget"),
        c_range=c_range,
        x_scale="log10" if log10 else "linear",
        skipped=tuple(skipped),
        conf=conf,
        n_exponent_interval=tuple(float(v) for v in n_int),
        d_exponent_interval=tuple(float(v) for v in d_int),
        loss_col=loss_col,
        status=status,
        notes=tuple(notes),
    )
