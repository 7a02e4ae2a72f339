"""Parametric loss surface L = E + (A/N^alpha + B/D^beta)^gamma: log-space Huber fit, variable projection, frontier."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

from ._batched_lbfgs import CONVERGED, STALLED, batched_lbfgs
from ._surface_kernel import Prepared, huber_fg, polish
from .bootstrap import bootstrap_counts, bootstrap_indices, percentile_intervals
from .types import ConvergenceError, FitError, InvalidInputError, validate_arrays

__all__ = [
    "CHINCHILLA_GRID",
    "GAMMA_STARTS",
    "ParametricFit",
    "fit_parametric",
    "fit_varpro",
    "chinchilla_frontier",
    "surface_loss",
    "huber_objective",
]

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
_NAMES = ("e", "a", "b", "alpha", "beta", "gamma")


def _lse_log_loss(ln_n, ln_d, e, a, b, alpha, beta, gamma):
    """log L = LSE(gamma * LSE(a - alpha ln N, b - beta ln D), e), stable for any parameter size."""
    bracket = np.logaddexp(a - alpha * ln_n, b - beta * ln_d)
    return np.logaddexp(gamma * bracket, e)


def surface_loss(N, D, E: float, A: float, B: float, alpha: float, beta: float, gamma: float = 1.0) -> np.ndarray:
    """Loss of the surface L = E + (A/N^alpha + B/D^beta)^gamma.

    Args:
        N: parameters, any shape. D: tokens, broadcastable with N. E, A, B >= 0 (A, B may be huge: evaluated in
            log space), alpha, beta, gamma: exponents.

    Returns:
        Loss (nats/token), broadcast shape of N and D.
    """
    ln_n, ln_d = np.log(np.asarray(N, dtype=np.float64)), np.log(np.asarray(D, dtype=np.float64))
    with np.errstate(divide="ignore"):  # a coefficient pinned at 0 (varpro) has log -inf, which LSE handles
        e, a, b = np.log(np.array([E, A, B], dtype=np.float64))
    return np.exp(_lse_log_loss(ln_n, ln_d, e, a, b, alpha, beta, gamma))


def chinchilla_frontier(C, E: float, A: float, B: float, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Compute-optimal N and D under C = 6 N D for L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 4).

    N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6)^(alpha/(alpha+beta)) / G, with
    G = (alpha A / (beta B))^(1/(alpha+beta)).
    The same (N_opt, D_opt) minimise E + (A/N^alpha + B/D^beta)^gamma for any gamma > 0: raising the bracket to a
    positive power is monotone, so its argmin along 6ND = C does not move. E does not enter.

    Args:
        C: training FLOPs, scalar or array (> 0).
        E: irreducible loss (finite; unused by the formula, accepted so a fit's parameters can be splatted in).
        A, B, alpha, beta: > 0.

    Returns:
        (N_opt, D_opt): float64 arrays of C's shape (at least 1-D).
    """
    bad = {k: v for k, v in {"A": A, "B": B, "alpha": alpha, "beta": beta}.items() if not (np.isfinite(v) and v > 0)}
    if bad or not np.isfinite(E):
        raise InvalidInputError(
            f"chinchilla_frontier: A, B, alpha, beta must be finite and > 0 and E finite, got {bad or {'E': E}};"
            " a fit with a non-positive exponent has no compute-optimal frontier."
        )
    c = np.atleast_1d(np.asarray(C, dtype=np.float64))
    validate_arrays({"C": c.ravel()}, what="chinchilla_frontier")
    # Log space: A and B can be ~1e7 and C ~1e24, so the powers are formed as exponentials of sums.
    ln_g = (math.log(alpha * A) - math.log(beta * B)) / (alpha + beta)
    ln_c6 = np.log(c / 6.0)
    n_opt = np.exp(ln_g + beta / (alpha + beta) * ln_c6)
    d_opt = np.exp(-ln_g + alpha / (alpha + beta) * ln_c6)
    return n_opt, d_opt


@dataclass(frozen=True, eq=False)
class ParametricFit:
    """Result of :func:`fit_parametric` or :func:`fit_varpro` (immutable).

    Attributes:
        E, A, B, alpha, beta, gamma: surface parameters (gamma = 1.0 when not fitted).
        objective: the minimised objective (sum of Huber losses of log residuals for "huber-lbfgs"; sum of
            squared linear residuals for "varpro").
        n_starts: optimiser starts (huber-lbfgs) or exponent grid points (varpro).
        n_best: starts whose end objective is within ``best_rtol`` of the best (varpro: grid points within
            ``best_rtol`` of the grid's best).
        status: "ok"; "not_converged"; "nonphysical" (an exponent <= 0); "bound" (varpro: E, A or B pinned at 0,
            or an exponent at the grid edge without refinement).
        converged: huber-lbfgs: the final point passed the Newton check (positive-definite Hessian, predicted
            further decrease <= 1e-10 of the objective); varpro: ``least_squares`` reported success.
        residuals: log L_hat - log L per data point, shape (n,).
        x: raw vector (e, a, b, alpha, beta[, gamma]) with e = ln E, a = ln A, b = ln B.
        delta: Huber threshold (None for varpro). method: "huber-lbfgs" or "varpro".
        samples: bootstrap parameter sets, one row per resample (None without bootstrap).
        intervals: name -> (lo, hi) percentile interval. alpha_beta_corr: Pearson correlation of bootstrap
            alpha and beta (near +-1 means the exponents trade off and are poorly identified separately).
        message: the optimiser's last message.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    gamma: float
    objective: float
    n_starts: int
    n_best: int
    status: str
    converged: bool
    residuals: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    delta: float | None
    method: str
    fit_gamma: bool = False
    n_points: int = 0
    samples: pd.DataFrame | None = field(default=None, repr=False)
    intervals: dict[str, tuple[float, float]] | None = None
    alpha_beta_corr: float | None = None
    message: str = ""

    def predict(self, N, D) -> np.ndarray:
        """Predicted loss at (N, D) (broadcast), nats/token."""
        return surface_loss(N, D, self.E, self.A, self.B, self.alpha, self.beta, self.gamma)

    def frontier(self, C) -> tuple[np.ndarray, np.ndarray]:
        """Compute-optimal (N_opt, D_opt) under C = 6ND; exact for any gamma > 0 (see :func:`chinchilla_frontier`)."""
        if not self.gamma > 0:
            raise FitError(
                f"frontier: gamma = {self.gamma} <= 0 has no loss-minimising allocation; refit with gamma=False."
            )
        return chinchilla_frontier(C, self.E, self.A, self.B, self.alpha, self.beta)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary: E, A, B, alpha, beta, gamma, objective, plus fit diagnostics."""
        out: dict[str, object] = {
            k: float(getattr(self, k)) for k in ("E", "A", "B", "alpha", "beta", "gamma", "objective")
        }
        out.update(
            n_starts=int(self.n_starts),
            n_best=int(self.n_best),
            status=self.status,
            converged=bool(self.converged),
            method=self.method,
            delta=None if self.delta is None else float(self.delta),
            fit_gamma=bool(self.fit_gamma),
            n_points=int(self.n_points),
            alpha_beta_corr=None if self.alpha_beta_corr is None else float(self.alpha_beta_corr),
            intervals=None
            if self.intervals is None
            else {k: [float(v[0]), float(v[1])] for k, v in self.intervals.items()},
        )
        return out


def huber_objective(x, N, D, loss, *, delta: float = 1e-3) -> tuple[float, np.ndarray]:
    """The objective :func:`fit_parametric` minimises, with its analytic gradient, at one raw parameter vector.

    Args:
        x: (e, a, b, alpha, beta) (gamma = 1) or (e, a, b, alpha, beta, gamma); e = ln E, a = ln A, b = ln B.
        N, D, loss: data, shape (n,). delta: Huber threshold on log-loss residuals.

    Returns:
        (sum_i Huber_delta(log L_hat_i - log L_i), gradient w.r.t. x of shape (5,) or (6,)).
    """
    arr = validate_arrays({"N": N, "D": D, "loss": loss}, what="huber_objective")
    if not (np.isfinite(delta) and delta > 0):
        raise InvalidInputError(f"huber_objective: delta must be > 0, got {delta!r}.")
    P = Prepared(arr["N"], arr["D"], arr["loss"])
    xv = np.asarray(x, dtype=np.float64).ravel()
    if xv.size not in (5, 6):
        raise InvalidInputError(
            f"huber_objective: x must have 5 or 6 entries (e, a, b, alpha, beta[, gamma]), got {xv.size}."
        )
    h, g = huber_fg(P.to_centred(xv)[None, :], P, delta)
    return float(h[0]), P.grad_to_raw(g[0])


# ----------------------------------------------------------------------------------------------- fit_parametric


def _inputs(N, D, loss, data, what: str, min_points: int) -> dict[str, np.ndarray]:
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise InvalidInputError(f"{what}: data must be a pandas DataFrame, got {type(data).__name__}.")
        cols = {"N": "N" if N is None else N, "D": "D" if D is None else D, "loss": "loss" if loss is None else loss}
        for role, col in cols.items():
            if not isinstance(col, str) or col not in data.columns:
                raise InvalidInputError(
                    f"{what}: with data=, {role} must name a column (got {col!r}); columns are {list(data.columns)}."
                )
        arrays = {role: data[col].to_numpy() for role, col in cols.items()}
    else:
        if N is None or D is None or loss is None:
            raise InvalidInputError(f"{what}: pass N, D and loss arrays, or data=DataFrame with their column names.")
        arrays = {"N": N, "D": D, "loss": loss}
    return validate_arrays(arrays, min_points=min_points, what=what)


def _start_grid(grid: Mapping[str, Sequence[float]] | None, fit_gamma: bool) -> np.ndarray:
    names = _NAMES if fit_gamma else _NAMES[:5]
    spec: dict[str, Sequence[float]] = dict(CHINCHILLA_GRID, gamma=GAMMA_STARTS)
    if grid is not None:
        unknown = set(grid) - set(names)
        if unknown:
            raise InvalidInputError(f"fit_parametric: unknown grid key(s) {sorted(unknown)}; use {list(names)}.")
        spec.update({k: tuple(np.atleast_1d(np.asarray(v, dtype=np.float64))) for k, v in grid.items()})
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
) -> ParametricFit:
    """Fit L = E + (A/N^alpha + B/D^beta)^gamma by a sum of Huber losses on log residuals (Hoffmann et al. 2022).

    The model is log L_hat = LSE(gamma * LSE(a - alpha ln N, b - beta ln D), e) with a = ln A, b = ln B, e = ln E;
    the objective is sum_i Huber_delta(log L_hat_i - log L_i) (a sum, not a mean: it doubles when the data are
    duplicated). Every start of the grid (default :data:`CHINCHILLA_GRID`, 4500 starts, times
    :data:`GAMMA_STARTS` when gamma is fitted) is optimised by an L-BFGS with analytic gradients that runs all
    starts at once in numpy (screen: steps of at most 3 in centred parameter units, stop when an iteration
    lowers the objective by < 1e-7 relative, at most 500 iterations); starts
    that end within 1% of the best are refined (relative decrease < 1e-14), and the best is polished with
    ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``. ``n_best`` counts refined starts within
    ``best_rtol`` of the best objective (or within n*1e-15 absolute, for noiseless data); a start stuck on a
    plateau during the screen is not counted even if a much longer run might have escaped it.

    Args:
        N, D, loss: parameters, training tokens and final loss (nats/token), shape (n,), all > 0. With ``data=``,
            they are column names instead (default "N", "D", "loss").
        data: optional DataFrame holding the three columns.
        gamma: fit gamma (True) or fix it to 1 (False).
        delta: Huber threshold on log-loss residuals (> 0); 1e-3 is Chinchilla's and the paper's choice.
        grid: override some start values, e.g. {"gamma": [0.3, 1.0]}; keys e, a, b, alpha, beta, gamma.
        best_rtol: relative tolerance that defines "reached the best objective".
        n_bootstrap: number of bootstrap resamples (0: none, else >= 2). Each resample is refitted from the
            ``bootstrap_starts`` best distinct optima of the full-data grid run (not the whole grid).
        seed: seed of the resampling. level: coverage of the percentile intervals.

    Returns:
        :class:`ParametricFit` (method "huber-lbfgs").

    Raises:
        InvalidInputError / TooFewPointsError: bad data (NaN, inf, <= 0, mismatched lengths; rows named) or
            n <= number of free parameters; bad options.
        ConvergenceError: no start reached a finite objective.
    """
    p = 6 if gamma else 5
    arr = _inputs(N, D, loss, data, "fit_parametric", min_points=p + 1)
    if not (np.isfinite(delta) and delta > 0):
        raise InvalidInputError(f"fit_parametric: delta must be > 0, got {delta!r}; 1e-3 is the usual choice.")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0 or n_bootstrap == 1:
        raise InvalidInputError(f"fit_parametric: n_bootstrap must be 0 or an integer >= 2, got {n_bootstrap!r}.")
    P = Prepared(arr["N"], arr["D"], arr["loss"])
    starts = P.to_centred(_start_grid(grid, bool(gamma)))

    def fg(X, rows):
        return huber_fg(X, P, delta)

    X, f, _, _ = batched_lbfgs(fg, starts, ftol=1e-7, gtol=1e-12, max_iter=500, max_step=3.0)
    if not np.isfinite(f).any():
        raise ConvergenceError(
            "fit_parametric: no start reached a finite objective; check the data's units (N, D raw counts)."
        )
    fmin = np.min(f)
    sel = np.flatnonzero(f <= fmin + 1e-2 * abs(fmin) + P.n * 1e-15)
    Xr, fr, _, _ = batched_lbfgs(fg, X[sel], ftol=1e-14, gtol=1e-14, max_iter=2000, max_step=3.0)
    X[sel], f[sel] = Xr, fr
    xc, best, converged, message = polish(X[int(np.argmin(f))], P, delta)
    n_best = int(np.sum(f <= best + best_rtol * abs(best) + P.n * 1e-15))
    extra = (
        _bootstrap_parametric(P, X, f, xc, delta, int(n_bootstrap), seed, level, bootstrap_starts)
        if n_bootstrap
        else {}
    )
    return _make_fit(
        P, xc, best, starts.shape[0], max(n_best, 1), converged, message, delta, "huber-lbfgs", bool(gamma), **extra
    )


def _make_fit(
    P, xc, objective, n_starts, n_best, converged, message, delta, method, fit_gamma, **extra
) -> ParametricFit:
    x = P.to_raw(xc) if method == "huber-lbfgs" else np.asarray(xc, dtype=np.float64)
    g = float(x[5]) if x.size == 6 else 1.0
    resid = _lse_log_loss(P.ln + P.cn, P.ld + P.cd, x[0], x[1], x[2], x[3], x[4], g) - P.y
    status = "ok" if converged else "not_converged"
    if converged and not (x[3] > 0 and x[4] > 0 and g > 0):
        status = "nonphysical"
    if extra.pop("at_bound", False) and status == "ok":
        status = "bound"
    return ParametricFit(
        E=float(np.exp(x[0])),
        A=float(np.exp(x[1])),
        B=float(np.exp(x[2])),
        alpha=float(x[3]),
        beta=float(x[4]),
        gamma=g,
        objective=float(objective),
        n_starts=int(n_starts),
        n_best=int(n_best),
        status=status,
        converged=converged,
        residuals=resid,
        x=x,
        delta=delta,
        method=method,
        fit_gamma=fit_gamma,
        n_points=P.n,
        message=message,
        **extra,
    )


def _samples_frame(raw: np.ndarray, objective: np.ndarray, converged: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(raw, columns=list(_NAMES[: raw.shape[1]]))
    df.insert(0, "resample", np.arange(raw.shape[0]))
    df["E"], df["A"], df["B"] = np.exp(df["e"]), np.exp(df["a"]), np.exp(df["b"])
    if "gamma" not in df:
        df["gamma"] = 1.0
    df["objective"], df["converged"] = objective, converged
    return df


def _summarise(df: pd.DataFrame, level: float, fit_gamma: bool) -> dict[str, object]:
    names = ["E", "A", "B", "alpha", "beta"] + (["gamma"] if fit_gamma else [])
    ok = df[np.isfinite(df["objective"])]
    corr = float(np.corrcoef(ok["alpha"], ok["beta"])[0, 1]) if len(ok) > 1 else float("nan")
    return {"samples": df, "intervals": percentile_intervals(ok, level, names), "alpha_beta_corr": corr}


def _bootstrap_parametric(P, X, f, xc_best, delta, k, seed, level, n_starts) -> dict[str, object]:
    """All k resamples x n_starts starts in one batch: a resample is the same data with multiplicity weights."""
    starts = np.vstack([xc_best[None, :], X[_distinct(X, f, n_starts)]])
    counts = bootstrap_counts(P.n, k, seed)
    rows_w = np.repeat(counts, starts.shape[0], axis=0)
    X0 = np.tile(starts, (k, 1))

    def fg(Xb, rows):
        return huber_fg(Xb, P, delta, rows_w[rows])

    Xb, fb, _, flag = batched_lbfgs(fg, X0, ftol=1e-14, gtol=1e-14, max_iter=2000, max_step=3.0)
    flag = np.isin(flag, (CONVERGED, STALLED))
    fb = fb.reshape(k, -1)
    pick = np.argmin(np.where(np.isfinite(fb), fb, np.inf), axis=1)
    sel = np.arange(k) * starts.shape[0] + pick
    raw = P.to_raw(Xb[sel])
    return _summarise(_samples_frame(raw, fb[np.arange(k), pick], flag[sel]), level, X.shape[1] == 6)


# ----------------------------------------------------------------------------------------------- fit_varpro


def _profile(n, d, loss, alpha, beta):
    """NNLS for (E, A, B) >= 0 at fixed exponents; columns are normalised first (A/N^alpha spans decades)."""
    M = np.column_stack([np.ones_like(n), n**-alpha, d**-beta])
    scale = np.linalg.norm(M, axis=0)
    coef, rnorm = nnls(M / scale, loss)
    return coef / scale, rnorm**2


def fit_varpro(
    N=None,
    D=None,
    loss=None,
    *,
    data: pd.DataFrame | None = None,
    alpha_grid: Sequence[float] | None = None,
    beta_grid: Sequence[float] | None = None,
    refine: bool = True,
    best_rtol: float = 1e-6,
    n_bootstrap: int = 0,
    seed: int | None = 0,
    level: float = 0.95,
) -> ParametricFit:
    """Variable-projection fit of L = E + A/N^alpha + B/D^beta (gamma = 1) by least squares in linear loss space.

    Objective: sum_i (L_hat_i - L_i)^2 (loss units squared). For each (alpha, beta) on the grid the model is
    linear in (E, A, B), which are solved exactly under E, A, B >= 0 (``scipy.optimize.nnls``); the best grid
    point is then refined over all five parameters (``scipy.optimize.least_squares``, bounds >= 0). Compared
    with :func:`fit_parametric` it weights absolute rather than relative errors and is not robust to outliers;
    on clean data from the model both agree.

    Args:
        N, D, loss, data: as in :func:`fit_parametric`.
        alpha_grid, beta_grid: exponent grids (default 0.02, 0.04, ..., 2.0).
        refine: run the local refinement after the grid.
        best_rtol: grid points within this relative tolerance of the grid's best count towards ``n_best``.
        n_bootstrap, seed, level: bootstrap as in :func:`fit_parametric`; each resample is refined from the
            full-data optimum (no grid).

    Returns:
        :class:`ParametricFit` (method "varpro", delta None, gamma 1). status "bound" if a parameter ends at its
        bound 0, or (without refinement) an exponent at the edge of its grid.
    """
    arr = _inputs(N, D, loss, data, "fit_varpro", min_points=6)
    n, d, y = arr["N"], arr["D"], arr["loss"]
    ag = np.arange(1, 101) * 0.02 if alpha_grid is None else np.asarray(alpha_grid, dtype=np.float64).ravel()
    bg = np.arange(1, 101) * 0.02 if beta_grid is None else np.asarray(beta_grid, dtype=np.float64).ravel()
    if (
        ag.size == 0
        or bg.size == 0
        or not (np.isfinite(ag).all() and np.isfinite(bg).all() and (ag > 0).all() and (bg > 0).all())
    ):
        raise InvalidInputError("fit_varpro: alpha_grid and beta_grid must be non-empty and > 0.")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0 or n_bootstrap == 1:
        raise InvalidInputError(f"fit_varpro: n_bootstrap must be 0 or an integer >= 2, got {n_bootstrap!r}.")
    sse = np.array([[_profile(n, d, y, a, b)[1] for b in bg] for a in ag])
    i, j = np.unravel_index(np.argmin(sse), sse.shape)
    coef, best = _profile(n, d, y, ag[i], bg[j])
    theta = np.array([*coef, ag[i], bg[j]])
    n_best = int(np.sum(sse <= best * (1 + best_rtol) + 1e-300))
    converged, message, active = True, "grid", bool((theta <= 0).any())
    if refine:
        theta, best, converged, message, active = _refine_lsq(n, d, y, theta)
    at_edge = (not refine) and (i in (0, ag.size - 1) or j in (0, bg.size - 1))
    extra: dict[str, object] = {"at_bound": bool(at_edge or active)}
    with np.errstate(divide="ignore"):  # E, A or B pinned at 0 gives log -inf, which the LSE model handles
        if n_bootstrap:
            fits = [
                _refine_lsq(n[idx], d[idx], y[idx], theta) for idx in bootstrap_indices(n.size, int(n_bootstrap), seed)
            ]
            raws = np.array([_to_log(f[0]) for f in fits])
            objs, convs = np.array([f[1] for f in fits]), np.array([f[2] for f in fits])
            extra.update(_summarise(_samples_frame(raws, objs, convs), level, False))
        return _make_fit(
            Prepared(n, d, y),
            _to_log(theta),
            best,
            sse.size,
            max(n_best, 1),
            converged,
            message,
            None,
            "varpro",
            False,
            **extra,
        )


def _to_log(theta: np.ndarray) -> np.ndarray:
    """(E, A, B, alpha, beta) -> the raw vector (e, a, b, alpha, beta)."""
    return np.array([np.log(theta[0]), np.log(theta[1]), np.log(theta[2]), theta[3], theta[4]])


def _refine_lsq(n, d, y, theta0):
    """Least squares over (E, A, B, alpha, beta) >= 0 from theta0.

    Returns (theta, SSE, converged, message, at_bound); a parameter whose bound is active (scipy's
    ``active_mask``) is set to exactly 0, since the trust-region solver keeps iterates strictly inside.
    """

    def resid(t):
        return t[0] + t[1] * n ** -t[3] + t[2] * d ** -t[4] - y

    def jac(t):
        pn, pd_ = n ** -t[3], d ** -t[4]
        return np.column_stack([np.ones_like(n), pn, pd_, -t[1] * pn * np.log(n), -t[2] * pd_ * np.log(d)])

    res = least_squares(
        resid, theta0, jac=jac, bounds=(0.0, np.inf), x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=2000
    )
    sse0 = float(np.sum(resid(theta0) ** 2))
    theta = np.where(res.active_mask < 0, 0.0, res.x)
    sse = float(np.sum(resid(theta) ** 2))
    if sse > sse0:  # never return something worse than the grid point
        return theta0, sse0, bool(res.status > 0), str(res.message), bool((theta0 <= 0).any())
    return theta, sse, bool(res.status > 0), str(res.message), bool((res.active_mask != 0).any())
