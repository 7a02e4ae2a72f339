"""Synthetic loss data from a known surface L = E + (A/N^alpha + B/D^beta)^gamma, for tests and teaching."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .surface import chinchilla_frontier, surface_loss
from .types import InvalidInputError, validate_arrays

__all__ = ["simulate_surface", "simulate_isoflop"]

# Default grids span the token/parameter regime of the paper's runs (80M-7B parameters, 1e9-2e12 tokens).
_DEFAULT_N = np.geomspace(8e7, 7e9, 12)
_DEFAULT_D = np.geomspace(1.5e9, 2e12, 12)


def _check_params(E: float, A: float, B: float, alpha: float, beta: float, gamma: float, noise: float) -> None:
    values = {"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta, "gamma": gamma}
    bad = {k: v for k, v in values.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise InvalidInputError(f"simulate: surface parameters must be finite and > 0, got {bad}.")
    if not (np.isfinite(noise) and noise >= 0):
        raise InvalidInputError(f"simulate: noise is a log-space standard deviation and must be >= 0, got {noise!r}.")


def _noisy(loss_true: np.ndarray, noise: float, seed: int | None) -> np.ndarray:
    if noise == 0:
        return loss_true.copy()
    # Multiplicative (log-normal) noise: the fitter's residuals live in log space, so this is the noise it models.
    return loss_true * np.exp(noise * np.random.default_rng(seed).standard_normal(loss_true.shape))


def simulate_surface(
    E: float,
    A: float,
    B: float,
    alpha: float,
    beta: float,
    gamma: float = 1.0,
    *,
    N: Sequence[float] | np.ndarray | None = None,
    D: Sequence[float] | np.ndarray | None = None,
    grid: bool = True,
    noise: float = 0.0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Losses of a known surface at chosen (N, D) points.

    Args:
        E, A, B, alpha, beta, gamma: surface parameters (all > 0); L = E + (A/N^alpha + B/D^beta)^gamma.
        N: parameter counts (default: 12 log-spaced values, 8e7 to 7e9).
        D: token counts (default: 12 log-spaced values, 1.5e9 to 2e12).
        grid: True: every (N, D) pair of the two lists (len(N)*len(D) rows, N varying fastest);
            False: pair N[i] with D[i] (equal lengths).
        noise: log-space standard deviation; loss = loss_true * exp(noise * z), z ~ N(0, 1).
        seed: seed of the noise.

    Returns:
        DataFrame with columns N, D, C (= 6 N D, FLOPs), loss (noisy, nats/token), loss_true.
    """
    _check_params(E, A, B, alpha, beta, gamma, noise)
    n_arr = _DEFAULT_N if N is None else np.atleast_1d(np.asarray(N, dtype=np.float64))
    d_arr = _DEFAULT_D if D is None else np.atleast_1d(np.asarray(D, dtype=np.float64))
    if grid:
        n_arr, d_arr = (m.ravel() for m in np.meshgrid(n_arr, d_arr))
    arrs = validate_arrays({"N": n_arr, "D": d_arr}, what="simulate_surface")
    loss_true = surface_loss(arrs["N"], arrs["D"], E, A, B, alpha, beta, gamma)
    return pd.DataFrame(
        {
            "N": arrs["N"],
            "D": arrs["D"],
            "C": 6.0 * arrs["N"] * arrs["D"],
            "loss": _noisy(loss_true, noise, seed),
            "loss_true": loss_true,
        }
    )


def simulate_isoflop(
    E: float,
    A: float,
    B: float,
    alpha: float,
    beta: float,
    gamma: float = 1.0,
    *,
    budgets: Sequence[float] | np.ndarray = (6e18, 1e19, 3e19, 1e20),
    n_per_budget: int = 9,
    span: float = 4.0,
    noise: float = 0.0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """IsoFLOP-style runs: for each compute budget C, a log-spaced N grid around the compute-optimal N.

    Each run trains on D = C / (6 N) tokens, so every run of a budget costs exactly C under C = 6ND.
    The true optimum is :func:`~xlstm_lab.fit.surface.chinchilla_frontier` (exact for any gamma > 0).

    Args:
        E, A, B, alpha, beta, gamma: surface parameters (all > 0).
        budgets: training FLOPs C of each IsoFLOP curve.
        n_per_budget: runs per budget (>= 3, so a parabola can be fitted).
        span: the N grid runs from N_opt/span to N_opt*span (> 1).
        noise: log-space noise standard deviation, as in :func:`simulate_surface`.
        seed: seed of the noise.

    Returns:
        DataFrame with columns C, N, D, loss, loss_true, N_opt, D_opt (the true optimum of that budget),
        sorted by C then N.
    """
    _check_params(E, A, B, alpha, beta, gamma, noise)
    if int(n_per_budget) != n_per_budget or n_per_budget < 3:
        raise InvalidInputError(f"simulate_isoflop: n_per_budget must be an integer >= 3, got {n_per_budget!r}.")
    if not (np.isfinite(span) and span > 1):
        raise InvalidInputError(
            f"simulate_isoflop: span must be > 1 (N grid from N_opt/span to N_opt*span), got {span!r}."
        )
    c = validate_arrays({"budgets": np.atleast_1d(np.asarray(budgets, dtype=np.float64))}, what="simulate_isoflop")
    c = np.sort(c["budgets"])
    n_opt, d_opt = chinchilla_frontier(c, E, A, B, alpha, beta)
    factors = np.geomspace(1.0 / span, span, int(n_per_budget))
    n_runs = (n_opt[:, None] * factors[None, :]).ravel()
    c_runs = np.repeat(c, factors.size)
    d_runs = c_runs / (6.0 * n_runs)
    loss_true = surface_loss(n_runs, d_runs, E, A, B, alpha, beta, gamma)
    return pd.DataFrame(
        {
            "C": c_runs,
            "N": n_runs,
            "D": d_runs,
            "loss": _noisy(loss_true, noise, seed),
            "loss_true": loss_true,
            "N_opt": np.repeat(n_opt, factors.size),
            "D_opt": np.repeat(d_opt, factors.size),
        }
    )
