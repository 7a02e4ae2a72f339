"""IsoFLOP optima (Chinchilla Approach 2): a parabola of loss in log N and log D per compute budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from xlstm_lab.fit.powerlaw import PowerLawFit, fit_power_law
from xlstm_lab.fit.types import (
    FitError,
    InvalidInputError,
    NoInteriorMinimum,
    TooFewPointsError,
    validate_arrays,
)

__all__ = ["IsoflopFit", "fit_isoflop", "group_budgets"]

_OPT_COLS = ["N_opt", "D_opt", "L_opt"]


@dataclass(frozen=True, eq=False)
class IsoflopFit:
    """Result of :func:`fit_isoflop`.

    Attributes:
        optima: one row per fitted budget, sorted by C, columns: budget (label), C (mean FLOPs of its runs),
            n_runs, N_opt, D_opt (NaN without a D column), L_opt (N parabola at its vertex, loss units),
            in_fit_range (C within c_range), and, with a bootstrap, N_opt_lo/hi, D_opt_lo/hi, L_opt_lo/hi
            (percentile intervals at ``conf``) and n_boot_failed (resamples whose parabola opened downward).
        parabolas: one row per (budget, variable in {"N", "D"}): a, b, c with loss = a·x² + b·x + c,
            x = log10(value) (x_scale "log10") or value ("linear"); lo, hi = sampled range; vertex (value units).
        n_opt: N*(C) = k·C^a over budgets in c_range (None with fewer than 2 such budgets).
        d_opt: D*(C) likewise (None without a D column).
        assignments: budget label of every input row (index of the input DataFrame).
        c_range: (low, high) FLOPs used to select budgets for the power laws, or None (all).
        x_scale: "log10" or "linear".
        skipped: (budget, reason) for budgets dropped with on_no_minimum="skip".
        n_bootstrap: resamples per budget (0: no intervals).
        conf: level of the bootstrap intervals.
        n_exponent_interval, d_exponent_interval: bootstrap percentile intervals of the power-law exponents
            (NaN without a bootstrap).
        status: "ok", "skipped_budgets" (some budgets dropped) or "no_power_law" (fewer than 2 budgets in range).
        notes: human-readable explanations of a non-"ok" status.
    """

    optima: pd.DataFrame
    parabolas: pd.DataFrame
    n_opt: PowerLawFit | None
    d_opt: PowerLawFit | None
    assignments: pd.Series = field(repr=False)
    c_range: tuple[float, float] | None = None
    x_scale: str = "log10"
    skipped: tuple[tuple[str, str], ...] = ()
    n_bootstrap: int = 0
    conf: float = 0.95
    n_exponent_interval: tuple[float, float] = (math.nan, math.nan)
    d_exponent_interval: tuple[float, float] = (math.nan, math.nan)
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
        """Optima rows and the two power laws, as plain Python values."""
        return {
            "optima": self.optima.to_dict(orient="records"),
            "n_opt": None if self.n_opt is None else self.n_opt.to_dict(),
            "d_opt": None if self.d_opt is None else self.d_opt.to_dict(),
            "c_range": None if self.c_range is None else list(self.c_range),
            "x_scale": self.x_scale,
            "skipped": [{"budget": b, "reason": r} for b, r in self.skipped],
            "n_bootstrap": self.n_bootstrap,
            "n_exponent_interval": list(self.n_exponent_interval),
            "d_exponent_interval": list(self.d_exponent_interval),
            "status": self.status,
            "notes": list(self.notes),
        }


def group_budgets(c: object, *, rtol: float = 0.2) -> np.ndarray:
    """Assign runs to compute budgets by clustering their FLOPs.

    Sorted C values whose ratio to the previous one is below 1 + rtol join its budget; IsoFLOP grids
    place budgets a factor >= 1.6 apart while runs scatter a few percent around their nominal budget.

    Args:
        c: shape (n,), training FLOPs per run, > 0.
        rtol: relative gap that starts a new budget.

    Returns:
        shape (n,) string labels, the budget's mean C formatted as "%.3g" (more digits if needed to be unique).
    """
    arr = validate_arrays({"C": c}, what="group_budgets")["C"]
    order = np.argsort(arr)
    group = np.zeros(arr.size, dtype=int)
    g = 0
    for prev, cur in zip(order[:-1], order[1:]):
        if arr[cur] > arr[prev] * (1.0 + rtol):
            g += 1
        group[cur] = g
    means = [arr[group == gi].mean() for gi in range(g + 1)]
    digits = 3
    while len({f"{m:.{digits}g}" for m in means}) < len(means):  # a small rtol can split one "%.3g" value
        digits += 1
    labels = np.empty(arr.size, dtype=object)
    for gi, mean in enumerate(means):
        labels[group == gi] = f"{mean:.{digits}g}"
    return labels.astype(str)


def _parabola(x: np.ndarray, loss: np.ndarray) -> tuple[float, float, float]:
    a, b, c = np.polyfit(x, loss, 2)
    return float(a), float(b), float(c)


def _vertex(coef: tuple[float, float, float], x: np.ndarray, *, budget: str, name: str, log10: bool) -> float:
    """Vertex of the parabola, or NoInteriorMinimum saying why there is none inside the sampled range."""
    a, b, _ = coef
    if a <= 0:
        raise NoInteriorMinimum(
            f"budget {budget}: the loss parabola in {'log10 ' if log10 else ''}{name} opens downward (a = {a:.3g}), "
            "so it has no minimum; add runs on both sides of the optimum, or drop the budget (on_no_minimum='skip')."
        )
    xv = -b / (2.0 * a)
    if not x.min() <= xv <= x.max():
        show = (lambda v: f"{10**v:.4g}") if log10 else (lambda v: f"{v:.4g}")
        raise NoInteriorMinimum(
            f"budget {budget}: the vertex of the loss parabola in {name} is at {name} = {show(xv)}, outside the "
            f"sampled range [{show(x.min())}, {show(x.max())}]; extend the grid past the optimum, or drop the "
            "budget (on_no_minimum='skip')."
        )
    return xv


def _fit_budget(xs: dict[str, np.ndarray], loss: np.ndarray, budget: str, log10: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, x in xs.items():
        if np.unique(x).size < 3:
            raise TooFewPointsError(
                f"budget {budget}: {x.size} runs but only {np.unique(x).size} distinct {name} values; "
                "a parabola needs at least 3; add runs or drop the budget."
            )
        coef = _parabola(x, loss)
        xv = _vertex(coef, x, budget=budget, name=name, log10=log10)
        a, b, c = coef
        out[name] = (coef, xv, a * xv * xv + b * xv + c, x.min(), x.max())
    return out


def _boot_budget(xs: dict[str, np.ndarray], loss: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Optima of resampled runs: shape (n_boot, 3) = (x*_N, x*_D, L*), x in fit units.

    A resample whose parabola cannot have a minimum (fewer than 3 distinct x, or opening downward) is NaN in
    every column. A resampled vertex outside the sampled range is kept: dropping it would bias the interval inward.
    """
    n = loss.size
    res = np.full((n_boot, 3), np.nan)
    for i in range(n_boot):
        idx = rng.integers(0, n, n)
        row = [math.nan, math.nan, math.nan]
        for j, name in enumerate(("N", "D")):
            if name not in xs:
                continue
            xb = xs[name][idx]
            a, b, c = _parabola(xb, loss[idx]) if np.unique(xb).size >= 3 else (0.0, 0.0, 0.0)
            if a <= 0:
                break
            row[j] = -b / (2.0 * a)
            if j == 0:
                row[2] = a * row[0] ** 2 + b * row[0] + c
        else:
            res[i] = row
    return res


def _check_columns(df: object, cols: dict[str, str | None]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"fit_isoflop: df must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [f"{arg}={col!r}" for arg, col in cols.items() if col is not None and col not in df.columns]
    if missing:
        raise InvalidInputError(
            f"fit_isoflop: column(s) not found: {', '.join(missing)}; available columns: {list(df.columns)}. "
            "Pass the right names via n_col/d_col/c_col/loss_col/budget_col."
        )


def fit_isoflop(
    df: pd.DataFrame,
    *,
    n_col: str = "N_params",
    d_col: str | None = "D_tokens",
    c_col: str = "C_flops_training",
    loss_col: str = "val_dclm_loss",
    budget_col: str | None = None,
    in_log10: bool = True,
    n_bootstrap: int = 0,
    seed: int | None = None,
    c_range: tuple[float, float] | None = None,
    conf: float = 0.95,
    on_no_minimum: Literal["raise", "skip"] = "raise",
    c_group_rtol: float = 0.2,
    exclude_budgets: Sequence[str] = (),
) -> IsoflopFit:
    """Fit IsoFLOP parabolas per budget and power laws N*(C), D*(C) through their vertices.

    The paper's method: per budget, ``np.polyfit(log10 N, loss, 2)``, N* = 10^(−b/2a), L* = the parabola at its
    vertex; D* from a separate parabola in log10 D; the budget's C is the mean C of its runs. Then
    ln N* = ln k + a·ln C by OLS over budgets with C in c_range (:func:`fit_power_law`).

    Args:
        df: one row per run.
        n_col, d_col, c_col, loss_col: parameters, tokens (None: skip D), training FLOPs, final loss.
        budget_col: column naming each run's budget; None groups by C (:func:`group_budgets`, ``c_group_rtol``).
        in_log10: parabola in log10 of N and D (the paper); False fits in N and D themselves.
        n_bootstrap: resamples of runs within each budget for percentile intervals (0: none).
        seed: seed of the bootstrap generator.
        c_range: (low, high) FLOPs, inclusive; only budgets whose C lies inside enter the power laws.
        conf: level of the bootstrap intervals.
        on_no_minimum: "raise" NoInteriorMinimum, or "skip" the budget and record it in ``skipped``.
        c_group_rtol: relative gap between sorted C values that starts a new budget (budget_col=None).
        exclude_budgets: budget labels whose runs are dropped before fitting (needs ``budget_col``), e.g.
            ``("extra",)``: the paper's runs.csv labels off-grid runs "extra" in sets upstream never filtered.

    Returns:
        IsoflopFit.

    Raises:
        InvalidInputError: missing columns (the message lists the available ones), NaN/inf, non-positive N/D/C,
            bad options.
        TooFewPointsError: a budget with fewer than 3 distinct N (or D) values, named in the message.
        NoInteriorMinimum: a parabola opens downward or has its vertex outside the sampled range (with "raise"),
            or no budget is left (with "skip").
    """
    _check_columns(df, {"n_col": n_col, "d_col": d_col, "c_col": c_col, "loss_col": loss_col, "budget_col": budget_col})
    if isinstance(exclude_budgets, str):
        exclude_budgets = (exclude_budgets,)
    if exclude_budgets:
        if budget_col is None:
            raise InvalidInputError("fit_isoflop: exclude_budgets needs budget_col (the column holding the labels).")
        df = df[~df[budget_col].astype(str).isin([str(b) for b in exclude_budgets])]
    if on_no_minimum not in ("raise", "skip"):
        raise InvalidInputError(f"fit_isoflop: on_no_minimum must be 'raise' or 'skip', got {on_no_minimum!r}.")
    if not 0.0 < conf < 1.0:
        raise InvalidInputError(f"fit_isoflop: conf must be in (0, 1), got {conf!r}.")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise InvalidInputError(f"fit_isoflop: n_bootstrap must be a non-negative integer, got {n_bootstrap!r}.")
    if c_range is not None:
        lo, hi = (float(v) for v in c_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise InvalidInputError(f"fit_isoflop: c_range must be (low, high) with 0 < low < high, got {c_range!r}.")
        c_range = (lo, hi)
    names = {"N": n_col, "C": c_col, "loss": loss_col} | ({"D": d_col} if d_col is not None else {})
    arrs = validate_arrays(
        {k: df[v] for k, v in names.items()},
        positive=tuple(k for k in names if k != "loss"),
        min_points=3,
        what=f"fit_isoflop ({', '.join(f'{k}={v!r}' for k, v in names.items())})",
    )
    if budget_col is not None:
        if df[budget_col].isna().any():
            raise InvalidInputError(
                f"fit_isoflop: budget column {budget_col!r} has missing values; label every run or drop those rows."
            )
        labels = df[budget_col].astype(str).to_numpy()
    else:
        labels = group_budgets(arrs["C"], rtol=c_group_rtol)
    log10 = bool(in_log10)
    xs_all = {k: (np.log10(arrs[k]) if log10 else arrs[k]) for k in ("N", "D") if k in arrs}

    budgets = sorted(set(labels), key=lambda lab: float(arrs["C"][labels == lab].mean()))
    rows, par_rows, skipped, boots = [], [], [], {}
    rng = np.random.default_rng(seed)
    for lab in budgets:
        m = labels == lab
        c_mean = float(arrs["C"][m].mean())
        if m.sum() < 3:
            raise TooFewPointsError(
                f"budget {lab}: {int(m.sum())} run(s); a parabola needs at least 3; add runs or drop the budget."
            )
        xs = {k: v[m] for k, v in xs_all.items()}
        try:
            fits = _fit_budget(xs, arrs["loss"][m], lab, log10)
        except NoInteriorMinimum as exc:
            if on_no_minimum == "raise":
                raise
            skipped.append((lab, str(exc)))
            continue
        back = (lambda v: 10.0**v) if log10 else (lambda v: v)
        row = {"budget": lab, "C": c_mean, "n_runs": int(m.sum())}
        row["N_opt"] = back(fits["N"][1])
        row["D_opt"] = back(fits["D"][1]) if "D" in fits else math.nan
        row["L_opt"] = fits["N"][2]
        row["in_fit_range"] = c_range is None or c_range[0] <= c_mean <= c_range[1]
        rows.append(row)
        for var, (coef, xv, lv, xlo, xhi) in fits.items():
            par_rows.append({"budget": lab, "C": c_mean, "variable": var, "a": coef[0], "b": coef[1], "c": coef[2],
                             "x_scale": "log10" if log10 else "linear", "lo": back(xlo), "hi": back(xhi),
                             "vertex": back(xv), "loss_at_vertex": lv})
        if n_bootstrap:
            boots[lab] = _boot_budget(xs, arrs["loss"][m], rng, int(n_bootstrap))
            boots[lab][:, :2] = back(boots[lab][:, :2])
    if not rows:
        raise NoInteriorMinimum("fit_isoflop: no budget has an interior minimum: " + " | ".join(r for _, r in skipped))
    optima = pd.DataFrame(rows)
    return _assemble(optima, pd.DataFrame(par_rows), boots, labels, df.index, c_range, log10, skipped,
                     int(n_bootstrap), conf, has_d="D" in arrs)


def _assemble(optima, parabolas, boots, labels, index, c_range, log10, skipped, n_boot, conf, *, has_d):
    """Bootstrap intervals, power laws and status (split out of fit_isoflop to keep functions short)."""
    q = (50.0 * (1.0 - conf), 50.0 * (1.0 + conf))
    n_int = d_int = (math.nan, math.nan)
    if n_boot:
        for j, col in enumerate(_OPT_COLS):
            lo_hi = [np.nanpercentile(boots[b][:, j], q) if np.isfinite(boots[b][:, j]).any() else (math.nan,) * 2
                     for b in optima["budget"]]
            optima[f"{col}_lo"] = [float(v[0]) for v in lo_hi]
            optima[f"{col}_hi"] = [float(v[1]) for v in lo_hi]
        optima["n_boot_failed"] = [int(np.isnan(boots[b][:, 0]).sum()) for b in optima["budget"]]
    sel = optima[optima["in_fit_range"]]
    notes = [f"budget {b} skipped: {r}" for b, r in skipped]
    n_opt = d_opt = None
    if len(sel) >= 2:
        n_opt = fit_power_law(sel["C"], sel["N_opt"], x_name="C", y_name="N_opt")
        if has_d:
            d_opt = fit_power_law(sel["C"], sel["D_opt"], x_name="C", y_name="D_opt")
        if n_boot:
            n_int = _boot_exponent(sel, boots, 0, q)
            d_int = _boot_exponent(sel, boots, 1, q) if has_d else d_int
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
        n_bootstrap=n_boot,
        conf=conf,
        n_exponent_interval=n_int,
        d_exponent_interval=d_int,
        status=status,
        notes=tuple(notes),
    )


def _boot_exponent(sel: pd.DataFrame, boots: dict, j: int, q: tuple[float, float]) -> tuple[float, float]:
    """Percentile interval of the OLS exponent refitted on each bootstrap replicate's optima."""
    lc = np.log(sel["C"].to_numpy())
    ly = np.log(np.column_stack([boots[b][:, j] for b in sel["budget"]]))  # (n_boot, n_budgets)
    ok = np.isfinite(ly).all(axis=1)
    if not ok.any():
        raise FitError("fit_isoflop: every bootstrap replicate failed; the optima are too poorly determined.")
    lcc = lc - lc.mean()
    slopes = (ly[ok] - ly[ok].mean(axis=1, keepdims=True)) @ lcc / (lcc @ lcc)
    lo, hi = np.percentile(slopes, q)
    return float(lo), float(hi)
