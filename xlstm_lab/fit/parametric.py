"""The log-space Huber fit of the parametric loss surface (Hoffmann et al. 2022, Approach 3), batched multi-start."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._batched_lbfgs import CONVERGED, STALLED, batched_lbfgs
from ._progress import stage
from ._surface_kernel import Prepared, huber_fg, polish
from .bootstrap import bootstrap_counts
from .surface import _NAMES, ParametricFit, _check_delta, _make_fit, _samples_frame, _summarise
from .types import ConvergenceError, InvalidInputError, TooFewPointsError, check_level, validate_arrays

__all__ = ["CHINCHILLA_GRID", "GAMMA_STARTS", "SCREEN_ROWS", "fit_parametric"]

# Hoffmann et al. (2022), Approach 3: the L-BFGS start grid, in the log-parameters e = ln E, a = ln A, b = ln B.
CHINCHILLA_GRID: dict[str, tuple[float, ...]] = {
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
# gamma starts when gamma is fitted: 1 is Chinchilla's form; the paper's stored gamma-fits sit at 0.24-0.29; 0.5
# bridges them. gamma mostly rescales the effective exponents (alpha*gamma, beta*gamma), which the alpha/beta starts
# already span, so three values suffice (checked: the paper's token/param runs reach the stored objective).
GAMMA_STARTS: tuple[float, ...] = (0.25, 0.5, 1.0)
# Large inputs: the grid of starts is ranked on a fixed random subsample of this many rows, and only the best
# _FULL_STARTS distinct optima are refined on every row (a 4500-start screen costs ~1 s per 1000 rows).
SCREEN_ROWS = 1000
_FULL_STARTS = 8
_PROGRESS_ROWS = 20_000  # progress=None shows a bar from this many rows on


def _inputs(N, D, loss, data, what: str, n_params: int) -> dict[str, np.ndarray]:
    """The three data arrays, validated; at least n_params + 1 distinct (N, D) points."""
    columns = None
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise InvalidInputError(f"{what}: data must be a pandas DataFrame, got {type(data).__name__}.")
        columns = {"N": "N" if N is None else N, "D": "D" if D is None else D, "loss": "loss" if loss is None else loss}
        for role, col in columns.items():
            if not isinstance(col, str) or col not in data.columns:
                raise InvalidInputError(
                    f"{what}: with data=, {role} must name a column (got {col!r}); columns are {list(data.columns)}."
                )
        arrays = {role: data[col] for role, col in columns.items()}
    else:
        if N is None or D is None or loss is None:
            raise InvalidInputError(f"{what}: pass N, D and loss arrays, or data=DataFrame with their column names.")
        arrays = {"N": N, "D": D, "loss": loss}
    arr = validate_arrays(arrays, min_points=n_params + 1, what=what, columns=columns)
    distinct = np.unique(np.column_stack([arr["N"], arr["D"]]), axis=0).shape[0]
    if distinct < n_params + 1:
        raise TooFewPointsError(
            f"{what}: {arr['N'].size} runs but only {distinct} distinct (N, D) point(s); a surface with {n_params} "
            f"free parameters needs at least {n_params + 1} distinct points (repeated seeds of one shape count "
            "once); add runs at other shapes" + (" or fix gamma (gamma=False)." if n_params == 6 else ".")
        )
    return arr

def _check_bootstrap(n_bootstrap: object, level: object, what: str) -> tuple[int, float]:
    """Validated (n_bootstrap, level), checked before any work is done."""
    try:
        k = int(n_bootstrap)  # type: ignore[arg-type]
        ok = k == n_bootstrap and k >= 0 and k != 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InvalidInputError(f"{what}: n_bootstrap must be 0 or an integer >= 2, got {n_bootstrap!r}.")
    return k, check_level(level, "level", what)


def _start_grid(grid: Mapping[str, Sequence[float]] | None, fit_gamma: bool) -> np.ndarray:
    names = _NAMES if fit_gamma else _NAMES[:5]
    spec: dict[str, Sequence[float]] = dict(CHINCHILLA_GRID, gamma=GAMMA_STARTS)
    if grid is not None:
        if not isinstance(grid, Mapping):
            raise InvalidInputError(f"fit_parametric: grid must be a dict of start values, got {type(grid).__name__}.")
        unknown = set(grid) - set(names)
        if unknown:
            raise InvalidInputError(f"fit_parametric: unknown grid key(s) {sorted(unknown)}; use {list(names)}.")
        try:
            spec.update({k: tuple(np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()) for k, v in grid.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"fit_parametric: grid values must be numbers ({exc}).") from exc
    starts = np.array(list(itertools.product(*(spec[k] for k in names))), dtype=np.float64)
    if starts.size == 0 or not np.isfinite(starts).all():
        raise InvalidInputError("fit_parametric: the start grid is empty or not finite.")
    return starts


def _distinct(X: np.ndarray, f: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to k lowest-objective rows whose parameters differ (rounded to 4 significant digits)."""
    order = np.argsort(f)
    keep, seen = [], set()
    for i in order[np.isfinite(f[order])]:
        key = tuple(np.format_float_positional(v, precision=4, fractional=False) for v in X[i])
        if key not in seen:
            seen.add(key)
            keep.append(i)
            if len(keep) == k:
                break
    return np.array(keep, dtype=int)


def fit_parametric(
    N=None,
    D=None,
    loss=None,
    *,
    data: pd.DataFrame | None = None,
    gamma: bool = False,
    delta: float = 1e-3,
    grid: Mapping[str, Sequence[float]] | None = None,
    best_rtol: float = 1e-6,
    n_bootstrap: int = 0,
    seed: int | None = 0,
    level: float = 0.95,
    bootstrap_starts: int = 8,
    screen_rows: int = SCREEN_ROWS,
    progress: bool | None = None,
) -> ParametricFit:
    """Fit L = E + (A/N^alpha + B/D^beta)^gamma by a sum of Huber losses on log residuals (Hoffmann et al. 2022).

    The model is log L_hat = LSE(gamma * LSE(a - alpha ln N, b - beta ln D), e) with a = ln A, b = ln B, e = ln E;
    the objective is sum_i Huber_delta(log L_i - log L_hat_i) (a sum, not a mean: it doubles when the data are
    duplicated). Every start of the grid (default :data:`CHINCHILLA_GRID`, 4500 starts, times
    :data:`GAMMA_STARTS` when gamma is fitted) is optimised by an L-BFGS with analytic gradients that runs all
    starts at once in numpy (screen: steps of at most 3 in centred parameter units, stop when an iteration
    lowers the objective by < 1e-7 relative, at most 500 iterations); starts that end within 1% of the best are
    refined (relative decrease < 1e-14), and the best is polished with ``scipy.optimize.minimize(method=
    "L-BFGS-B", jac=True)`` and checked by Newton steps. With more than ``screen_rows`` rows, the screen and the
    refinement run on a fixed random subsample of ``screen_rows`` rows (ranking starts needs no more), and the
    best ``8`` distinct optima are then refined on every row. ``n_best`` counts refined starts within
    ``best_rtol`` of the best objective (or within n*1e-15 absolute, for noiseless data); a start stuck on a
    plateau during the screen is not counted even if a much longer run might have escaped it.

    Args:
        N, D, loss: parameters, training tokens and final loss (nats/token), shape (n,), all > 0. With ``data=``,
            they are column names instead (default "N", "D", "loss"). Repeated (N, D) points are fine; at least
            6 (7 with gamma) must be distinct.
        data: optional DataFrame holding the three columns.
        gamma: fit gamma (True) or fix it to 1 (False).
        delta: Huber threshold on log-loss residuals (> 0); 1e-3 is Chinchilla's and the paper's choice.
        grid: override some start values, e.g. {"gamma": [0.3, 1.0]}; keys e, a, b, alpha, beta, gamma.
        best_rtol: relative tolerance that defines "reached the best objective".
        n_bootstrap: number of bootstrap resamples (0: none, else >= 2). Each resample is refitted from the
            ``bootstrap_starts`` best distinct optima of the full-data grid run (not the whole grid).
        seed: seed of the resampling (fixed by default: the intervals are reproducible).
        level: coverage of the percentile intervals, in (0, 1).
        screen_rows: rows used to rank the starts on large inputs (>= 100).
        progress: show progress bars on stderr (None: only from 20,000 rows on).

    Returns:
        :class:`ParametricFit` (method "huber-lbfgs").

    Raises:
        InvalidInputError / TooFewPointsError: bad data (NaN, inf, <= 0, mismatched lengths; rows named), fewer
            distinct (N, D) points than free parameters + 1; bad options.
        ConvergenceError: no start reached a finite objective.
    """
    p = 6 if gamma else 5
    arr = _inputs(N, D, loss, data, "fit_parametric", n_params=p)
    delta = _check_delta(delta, "fit_parametric")
    n_bootstrap, level = _check_bootstrap(n_bootstrap, level, "fit_parametric")
    if not (isinstance(screen_rows, (int, np.integer)) and screen_rows >= 100):
        raise InvalidInputError(f"fit_parametric: screen_rows must be an integer >= 100, got {screen_rows!r}.")
    P = Prepared(arr["N"], arr["D"], arr["loss"])
    show = P.n >= _PROGRESS_ROWS if progress is None else bool(progress)
    raw_starts = _start_grid(grid, bool(gamma))
    X, f = _multistart(arr, P, raw_starts, delta, int(screen_rows), show)
    with stage(show, "polish (L-BFGS-B + Newton check)", 1):
        xc, best, converged, message = polish(X[int(np.argmin(f))], P, delta)
    n_best = int(np.sum(f <= best + best_rtol * abs(best) + P.n * 1e-15))
    notes = [] if n_best else [
        "no refined start reached the polished optimum within best_rtol (the polish went further), so the grid "
        "gives no independent confirmation that this is the global optimum; refit with a denser grid to check."
    ]
    extra = (
        _bootstrap_parametric(P, X, f, xc, delta, n_bootstrap, seed, level, bootstrap_starts, show)
        if n_bootstrap
        else {}
    )
    return _make_fit(P, xc, best, raw_starts.shape[0], n_best, converged, message, delta, "huber-lbfgs", bool(gamma),
                     notes=notes, **extra)


def _multistart(arr, P: Prepared, raw_starts: np.ndarray, delta: float, screen_rows: int, show: bool):
    """Screen and refine every start; returns refined points (centred for P) and their objectives on all rows."""
    sub = P.n > screen_rows
    if sub:  # a fixed subsample: the result does not depend on any global random state
        idx = np.sort(np.random.default_rng(0).choice(P.n, screen_rows, replace=False))
        Ps = Prepared(arr["N"][idx], arr["D"][idx], arr["loss"][idx])
    else:
        Ps = P
    starts = Ps.to_centred(raw_starts)

    def fg(X, rows):
        return huber_fg(X, Ps, delta)

    on = f" on {Ps.n} of {P.n} rows" if sub else ""
    with stage(show, f"screen {starts.shape[0]} starts{on}", 500) as cb:
        X, f, _, _ = batched_lbfgs(fg, starts, ftol=1e-7, gtol=1e-12, max_iter=500, max_step=3.0, callback=cb)
    if not np.isfinite(f).any():
        raise ConvergenceError(
            "fit_parametric: no start reached a finite objective; check the data's units (N, D raw counts)."
        )
    fmin = np.min(f)
    sel = np.flatnonzero(f <= fmin + 1e-2 * abs(fmin) + Ps.n * 1e-15)
    with stage(show, f"refine {sel.size} starts{on}", 2000) as cb:
        Xr, fr, _, _ = batched_lbfgs(fg, X[sel], ftol=1e-14, gtol=1e-14, max_iter=2000, max_step=3.0, callback=cb)
    X[sel], f[sel] = Xr, fr
    if not sub:
        return X, f
    top = P.to_centred(Ps.to_raw(X[_distinct(X, f, _FULL_STARTS)]))
    with stage(show, f"refine {top.shape[0]} best starts on all {P.n} rows", 2000) as cb:
        Xf, ff, _, _ = batched_lbfgs(lambda Z, rows: huber_fg(Z, P, delta), top, ftol=1e-14, gtol=1e-14,
                                     max_iter=2000, max_step=3.0, callback=cb)
    return Xf, ff


def _bootstrap_parametric(P, X, f, xc_best, delta, k, seed, level, n_starts, show) -> dict[str, object]:
    """All k resamples x n_starts starts in one batch: a resample is the same data with multiplicity weights."""
    starts = np.vstack([xc_best[None, :], X[_distinct(X, f, n_starts)]])
    s = starts.shape[0]
    counts = bootstrap_counts(P.n, k, seed)
    X0 = np.tile(starts, (k, 1))

    def fg(Xb, rows):
        return huber_fg(Xb, P, delta, counts, W_index=rows // s)

    with stage(show, f"bootstrap {k} resamples x {s} starts", 2000) as cb:
        Xb, fb, _, flag = batched_lbfgs(fg, X0, ftol=1e-14, gtol=1e-14, max_iter=2000, max_step=3.0, callback=cb)
    flag = np.isin(flag, (CONVERGED, STALLED))
    fb = fb.reshape(k, -1)
    pick = np.argmin(np.where(np.isfinite(fb), fb, np.inf), axis=1)
    sel = np.arange(k) * s + pick
    raw = P.to_raw(Xb[sel])
    return _summarise(_samples_frame(raw, fb[np.arange(k), pick], flag[sel]), level, X.shape[1] == 6)
