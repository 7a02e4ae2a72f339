"""Upstream's runtime-model fit, step by step, to reproduce the paper's stored inference constants exactly.

The paper's constants (Beck et al. 2025, NX-AI/xlstm_scaling_laws ``notebooks/inference_time/``) come from a fit
that is neither robust nor well-posed in general, but it is fully determined: one model's rows (prompt > 0,
measured, for the decode step batch >= 8), ONE bootstrap resample drawn with ``numpy.random.default_rng(0)``
(upstream's objective factory defaults to bootstrap seed 0 and its fitting loop never overrides it), a residual
in ms or in ln(ms), a Huber transform of that residual handed to Levenberg-Marquardt as the residual vector
(delta 0 means |r|, i.e. plain least squares; delta 100 makes the loss quartic in r), three parameters
(rate, eps, eps_b; eps_b is unused by the prefill model but is part of the parameter vector) and fixed starting
points and tolerances. :data:`UPSTREAM_RECIPES` holds the five recipes; :func:`fit_upstream` runs one.

For a well-posed fit of the same model use :func:`xlstm_lab.fit.latency.fit_latency`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import least_squares

from xlstm_lab.fit.types import InvalidInputError, TooFewPointsError, validate_arrays

__all__ = ["UPSTREAM_RECIPES", "UpstreamFit", "UpstreamRecipe", "bootstrap_indices", "fit_upstream", "upstream_rows"]

_NB = "NX-AI/xlstm_scaling_laws@604bb306 notebooks/inference_time/fit_inference_time_model_"


@dataclass(frozen=True)
class UpstreamRecipe:
    """One of upstream's runtime-model fits.

    Attributes:
        kind: "ttft" (t = F/rate + eps, rate in FLOP/s) or "step" (t = bytes/rate + eps + B·eps_b, rate in B/s).
        space: "log" (residual ln(pred_ms) − ln(t_ms)) or "linear" (pred_ms − t_ms).
        huber_delta: the residual vector is Huber(r, delta) (|r| for delta 0), in the residual's unit.
        x0: start (rate, eps in s, eps_b in s).
        ftol, xtol, gtol: scipy ``least_squares(method="lm")`` tolerances.
        seed: seed of the one bootstrap resample (None: the rows as they are).
        min_batch: smallest batch size kept (8 for the Llama-2 step fit).
        source: the notebook cell the recipe is read from.
    """

    kind: Literal["ttft", "step"]
    space: Literal["log", "linear"]
    huber_delta: float
    x0: tuple[float, float, float]
    ftol: float = 1e-15
    xtol: float = 1e-15
    gtol: float = 1e-15
    seed: int | None = 0
    min_batch: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("ttft", "step"):
            raise InvalidInputError(f"UpstreamRecipe: kind must be 'ttft' or 'step', got {self.kind!r}.")
        if self.space not in ("log", "linear"):
            raise InvalidInputError(f"UpstreamRecipe: space must be 'log' or 'linear', got {self.space!r}.")
        if not (math.isfinite(self.huber_delta) and self.huber_delta >= 0):
            raise InvalidInputError(f"UpstreamRecipe: huber_delta must be finite and >= 0, got {self.huber_delta!r}.")
        if len(self.x0) != 3 or not all(math.isfinite(v) for v in self.x0) or self.x0[0] <= 0:
            raise InvalidInputError(f"UpstreamRecipe: x0 must be (rate > 0, eps, eps_b), finite; got {self.x0!r}.")
        if not all(0 < v < 1 for v in (self.ftol, self.xtol, self.gtol)):
            raise InvalidInputError("UpstreamRecipe: ftol, xtol, gtol must lie in (0, 1).")


#: Upstream's recipes by name (starting points and tolerances as in the fit notebooks; the family TTFT fit of
#: Llama-2 sets only ftol, so xtol and gtol keep scipy's default 1e-8).
UPSTREAM_RECIPES: dict[str, UpstreamRecipe] = {
    "llama_ttft": UpstreamRecipe("ttft", "log", 0.0, (0.39 * 900e12, 1e-3, 1e-5), xtol=1e-8, gtol=1e-8,
                                 source=f"{_NB}llama_ttft.ipynb cell 9 (7B)"),
    "llama_ttft_per_model": UpstreamRecipe("ttft", "linear", 1.0, (0.39 * 900e12, 1e-3, 1e-5),
                                           source=f"{_NB}llama_ttft.ipynb cell 25"),
    "llama_step": UpstreamRecipe("step", "log", 100.0, (3.35e12, 1e-4, 1e-5), min_batch=8,
                                 source=f"{_NB}llama_steptime.ipynb cell 7 (7B)"),
    "xlstm_ttft": UpstreamRecipe("ttft", "log", 100.0, (0.3 * 900e12, 2e-3, 1e-6),
                                 source=f"{_NB}xlstm_ttft.ipynb cell 4 (400M)"),
    "xlstm_ttft_per_model": UpstreamRecipe("ttft", "linear", 1.0, (0.9 * 900e12, 2e-3, 1e-6),
                                           source=f"{_NB}xlstm_ttft.ipynb cell 19"),
}


@dataclass(frozen=True, eq=False)
class UpstreamFit:
    """Result of :func:`fit_upstream`.

    Attributes:
        recipe: the recipe's name (or "custom").
        rate: alpha_eff (FLOP/s) for "ttft", beta_eff (B/s) for "step".
        eps: constant overhead, s.
        eps_b: overhead per sequence, s (None for "ttft": the parameter is carried but unused).
        n_points: rows fitted (the resample has as many rows as the selection).
        rows: positions, in the caller's arrays, of the resampled rows, shape (n_points,).
        nfev: function evaluations.
        message: scipy's termination message.
        success: scipy's success flag.
    """

    recipe: str
    rate: float
    eps: float
    eps_b: float | None
    n_points: int
    rows: np.ndarray
    nfev: int
    message: str
    success: bool

    @property
    def params(self) -> dict[str, float]:
        """{"alpha" or "beta": rate, "eps": s[, "eps_b": s]}."""
        out = {("alpha" if self.eps_b is None else "beta"): self.rate, "eps": self.eps}
        if self.eps_b is not None:
            out["eps_b"] = self.eps_b
        return out


def bootstrap_indices(n: int, seed: int) -> np.ndarray:
    """Upstream's resample: ``DataFrame.sample(n, replace=True, random_state=default_rng(seed))`` positions.

    pandas draws these with ``Generator.choice(n, size=n, replace=True)``, so the rows must be in upstream's
    table order (see :func:`upstream_rows`).
    """
    if n < 1:
        raise InvalidInputError(f"bootstrap_indices: need at least one row, got n={n}.")
    return np.random.default_rng(seed).choice(n, size=n, replace=True)


def upstream_rows(time_ms: np.ndarray, batch: np.ndarray, prefill: np.ndarray, min_batch: int = 1) -> np.ndarray:
    """Positions of the rows upstream fits, in upstream's table order (batch, then prefill, ascending).

    Kept: a finite time > 0 (upstream sets values <= 0 to NaN and drops NaN rows), prefill > 0 and
    batch >= ``min_batch``. The order is that of upstream's per-model table, which the seeded resample indexes.
    """
    keep = np.flatnonzero(np.isfinite(time_ms) & (time_ms > 0) & (prefill > 0) & (batch >= min_batch))
    return keep[np.lexsort((prefill[keep], batch[keep]))]


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    if delta == 0:
        return np.abs(r)
    return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))


def fit_upstream(
    time_ms: object,
    work: object,
    *,
    batch: object,
    prefill: object,
    recipe: str | UpstreamRecipe,
) -> UpstreamFit:
    """Fit one model's timings with one of upstream's recipes.

    Args:
        time_ms: shape (n,) measured time in ms: TTFT, or the time of one decode step of the whole batch.
            Values <= 0 or NaN mark unmeasured rows and are dropped, as upstream does.
        work: shape (n,) prefill FLOPs ("ttft") or decode-step bytes ("step") in upstream's counting
            convention (``xlstm_lab.accounting``, convention "runtime_model").
        batch: shape (n,) batch size.
        prefill: shape (n,) prompt length in tokens; rows with 0 are dropped.
        recipe: a key of :data:`UPSTREAM_RECIPES` or an :class:`UpstreamRecipe`.

    Returns:
        UpstreamFit (rate, eps in s, eps_b in s for "step").

    Raises:
        InvalidInputError: unknown recipe name; mismatched lengths; non-finite or non-positive work or batch;
            negative prefill.
        TooFewPointsError: fewer than 4 rows survive the selection.
    """
    name = recipe if isinstance(recipe, str) else "custom"
    if isinstance(recipe, str):
        if recipe not in UPSTREAM_RECIPES:
            raise InvalidInputError(f"fit_upstream: unknown recipe {recipe!r}; use one of {sorted(UPSTREAM_RECIPES)}.")
        recipe = UPSTREAM_RECIPES[recipe]
    t_all = np.asarray(time_ms, dtype=np.float64)
    arrays = validate_arrays({"work": work, "batch": batch, "prefill": prefill}, positive=("work", "batch"),
                             min_points=1, what="fit_upstream")
    if t_all.shape != arrays["work"].shape:
        raise InvalidInputError(f"fit_upstream: time_ms has shape {t_all.shape}, work {arrays['work'].shape}; "
                                "pass one value per timing.")
    if (arrays["prefill"] < 0).any():
        raise InvalidInputError("fit_upstream: prefill must be >= 0 tokens in every row.")
    sel = upstream_rows(t_all, arrays["batch"], arrays["prefill"], recipe.min_batch)
    if sel.size < 4:
        raise TooFewPointsError(f"fit_upstream: {sel.size} measured rows with prefill > 0 and batch >= "
                                f"{recipe.min_batch}; the recipe needs at least 4.")
    if recipe.seed is not None:
        sel = sel[bootstrap_indices(sel.size, recipe.seed)]
    t, w, b = t_all[sel], arrays["work"][sel], arrays["batch"][sel]
    target = np.log(t) if recipe.space == "log" else t
    step = recipe.kind == "step"

    def resid(x: np.ndarray) -> np.ndarray:
        pred_s = w / x[0] + x[1] + (b * x[2] if step else 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):  # upstream lets ln of a negative time become NaN
            pred = np.log(pred_s) + math.log(1000.0) if recipe.space == "log" else pred_s * 1000.0
        return _huber(pred - target, recipe.huber_delta)

    sol = least_squares(resid, np.array(recipe.x0, dtype=np.float64), method="lm", ftol=recipe.ftol,
                        xtol=recipe.xtol, gtol=recipe.gtol)
    return UpstreamFit(recipe=name, rate=float(sol.x[0]), eps=float(sol.x[1]),
                       eps_b=float(sol.x[2]) if step else None, n_points=int(sel.size), rows=sel,
                       nfev=int(sol.nfev), message=str(sol.message), success=bool(sol.success))
