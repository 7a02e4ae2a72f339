"""Variable-projection least-squares fit of the Chinchilla surface L = E + A/N^alpha + B/D^beta (gamma = 1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

from ._surface_kernel import Prepared
from .bootstrap import bootstrap_indices
from .parametric import _check_bootstrap, _inputs
from .surface import ParametricFit, _make_fit, _samples_frame, _summarise
from .types import InvalidInputError

__all__ = ["fit_varpro"]


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
        :class:`~xlstm_lab.fit.surface.ParametricFit` (method "varpro", delta None, gamma 1). status "bound" if a
        parameter ends at its bound 0, or (without refinement) an exponent at the edge of its grid.
    """
    arr = _inputs(N, D, loss, data, "fit_varpro", n_params=5)
    n, d, y = arr["N"], arr["D"], arr["loss"]
    n_bootstrap, level = _check_bootstrap(n_bootstrap, level, "fit_varpro")
    try:
        ag = np.arange(1, 101) * 0.02 if alpha_grid is None else np.asarray(alpha_grid, dtype=np.float64).ravel()
        bg = np.arange(1, 101) * 0.02 if beta_grid is None else np.asarray(beta_grid, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        ag = bg = np.array([])
    if (
        ag.size == 0
        or bg.size == 0
        or not (np.isfinite(ag).all() and np.isfinite(bg).all() and (ag > 0).all() and (bg > 0).all())
    ):
        raise InvalidInputError("fit_varpro: alpha_grid and beta_grid must be non-empty sequences of numbers > 0.")
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
            n_best,
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
