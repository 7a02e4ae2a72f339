"""Parametric loss surface L = E + (A/N^alpha + B/D^beta)^gamma: the model, its frontier, the fit's result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._surface_kernel import Prepared, huber_fg
from .bootstrap import percentile_intervals
from .types import FitError, InvalidInputError, validate_arrays

__all__ = [
    "ParametricFit",
    "chinchilla_frontier",
    "surface_loss",
    "huber_objective",
]

_NAMES = ("e", "a", "b", "alpha", "beta", "gamma")
# A term whose share of the prediction stays below this on every run is pinned at its bound 0 (E, A or B = 0 in
# the log parametrisation means ln E -> -inf, which the optimiser approaches without reaching).
_BOUND_SHARE = 1e-6
# (ln N, ln D) points whose spread across their principal line is below this fraction of the spread along it lie on
# one line (one budget, one tokens-per-parameter ratio, one N or one D): E and the two terms cannot be separated.
_COLLINEAR = 0.03


def _as_float(v: object) -> float:
    """float(v) for a real number (not a bool), else NaN."""
    if isinstance(v, (bool, np.bool_)):
        return math.nan
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.nan


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


def chinchilla_frontier(C, E: float, A: float, B: float, alpha: float, beta: float):
    """Compute-optimal N and D under C = 6 N D for L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, eq. 4).

    N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6)^(alpha/(alpha+beta)) / G, with
    G = (alpha A / (beta B))^(1/(alpha+beta)).
    The same (N_opt, D_opt) minimise E + (A/N^alpha + B/D^beta)^gamma for any gamma > 0: raising the bracket to a
    positive power is monotone, so its argmin along 6ND = C does not move. E does not enter.

    Args:
        C: training FLOPs, scalar or array of any shape (> 0).
        E: irreducible loss (finite; unused by the formula, accepted so a fit's parameters can be splatted in).
        A, B, alpha, beta: > 0.

    Returns:
        (N_opt, D_opt): numpy's convention, float64 scalars for a scalar C, else arrays of C's shape.
    """
    given = {"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta}
    vals = {k: _as_float(v) for k, v in given.items()}
    bad = {k: given[k] for k, v in vals.items() if not (math.isfinite(v) and (v > 0 or k == "E"))}
    if bad:
        raise InvalidInputError(
            f"chinchilla_frontier: A, B, alpha, beta must be finite numbers > 0 and E a finite number, got {bad};"
            " a fit with a non-positive exponent has no compute-optimal frontier."
        )
    A, B, alpha, beta = vals["A"], vals["B"], vals["alpha"], vals["beta"]
    try:
        c = np.asarray(C, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"chinchilla_frontier: C must be FLOPs (numbers > 0), got {C!r}.") from exc
    validate_arrays({"C": c.ravel()}, what="chinchilla_frontier")
    # Log space: A and B can be ~1e7 and C ~1e24, so the powers are formed as exponentials of sums.
    ln_g = (math.log(alpha * A) - math.log(beta * B)) / (alpha + beta)
    ln_c6 = np.log(c / 6.0)
    n_opt = np.exp(ln_g + beta / (alpha + beta) * ln_c6)
    d_opt = np.exp(-ln_g + alpha / (alpha + beta) * ln_c6)
    return n_opt[()], d_opt[()]  # [()] turns a 0-d array into a numpy scalar and leaves arrays alone


@dataclass(frozen=True, eq=False)
class ParametricFit:
    """Result of :func:`fit_parametric` or :func:`~xlstm_lab.fit.varpro.fit_varpro` (immutable).

    Attributes:
        E, A, B, alpha, beta, gamma: surface parameters (gamma = 1.0 when not fitted).
        objective: the minimised objective (sum of Huber losses of log residuals for "huber-lbfgs"; sum of
            squared linear residuals for "varpro").
        n_starts: optimiser starts (huber-lbfgs) or exponent grid points (varpro).
        n_best: refined starts whose objective is within ``best_rtol`` of the reported optimum (varpro: grid
            points within ``best_rtol`` of the grid's best). 0 means no start reached the polished optimum by
            itself (a note says so). For inputs ranked on a subsample, it counts among the starts refined on
            every row.
        status: "ok"; "unidentified" (the (N, D) points lie on one line: one budget, one tokens-per-parameter
            ratio, one N or one D); "not_converged"; "nonphysical" (an exponent <= 0); "bound" (E, A or B pinned
            at 0, or, varpro without refinement, an exponent at the grid edge). ``notes`` explains it.
        converged: huber-lbfgs: the final point passed the Newton check (positive-definite Hessian, predicted
            further decrease <= 1e-10 of the objective); varpro: ``least_squares`` reported success.
        residuals: log L - log L_hat (observed minus predicted, the sign every fitter here uses), shape (n,).
        x: raw vector (e, a, b, alpha, beta[, gamma]) with e = ln E, a = ln A, b = ln B.
        delta: Huber threshold (None for varpro). method: "huber-lbfgs" or "varpro".
        samples: bootstrap parameter sets, one row per resample (None without bootstrap).
        intervals: name -> (lo, hi) percentile interval over the resamples with a finite objective.
        alpha_beta_corr: Pearson correlation of bootstrap alpha and beta (near +-1 means the exponents trade off
            and are poorly identified separately).
        n_boot_dropped: resamples left out of the intervals (no finite objective).
        message: the verdict of the convergence check, then the optimiser's last message.
        notes: human-readable explanations of a non-"ok" status and of other caveats.
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
    n_boot_dropped: int = 0
    message: str = ""
    notes: tuple[str, ...] = ()

    def predict(self, N, D) -> np.ndarray:
        """Predicted loss at (N, D) (broadcast), nats/token."""
        return surface_loss(N, D, self.E, self.A, self.B, self.alpha, self.beta, self.gamma)

    def frontier(self, C):
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
            n_bootstrap=0 if self.samples is None else len(self.samples),
            n_boot_dropped=int(self.n_boot_dropped),
            alpha_beta_corr=None if self.alpha_beta_corr is None else float(self.alpha_beta_corr),
            intervals=None
            if self.intervals is None
            else {k: [float(v[0]), float(v[1])] for k, v in self.intervals.items()},
            message=self.message,
            notes=list(self.notes),
        )
        return out


def huber_objective(x, N, D, loss, *, delta: float = 1e-3) -> tuple[float, np.ndarray]:
    """The objective :func:`fit_parametric` minimises, with its analytic gradient, at one raw parameter vector.

    Args:
        x: (e, a, b, alpha, beta) (gamma = 1) or (e, a, b, alpha, beta, gamma); e = ln E, a = ln A, b = ln B.
        N, D, loss: data, shape (n,). delta: Huber threshold on log-loss residuals.

    Returns:
        (sum_i Huber_delta(log L_i - log L_hat_i), gradient w.r.t. x of shape (5,) or (6,)).
    """
    arr = validate_arrays({"N": N, "D": D, "loss": loss}, what="huber_objective")
    _check_delta(delta, "huber_objective")
    P = Prepared(arr["N"], arr["D"], arr["loss"])
    try:
        xv = np.asarray(x, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"huber_objective: x must be 5 or 6 numbers, got {x!r}.") from exc
    if xv.size not in (5, 6):
        raise InvalidInputError(
            f"huber_objective: x must have 5 or 6 entries (e, a, b, alpha, beta[, gamma]), got {xv.size}."
        )
    h, g = huber_fg(P.to_centred(xv)[None, :], P, delta)
    return float(h[0]), P.grad_to_raw(g[0])

def _check_delta(delta: object, what: str) -> float:
    try:
        d = float(delta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        d = math.nan
    if not (math.isfinite(d) and d > 0):
        raise InvalidInputError(f"{what}: delta must be a finite number > 0, got {delta!r}; 1e-3 is the usual choice.")
    return d

def _status(P: Prepared, x: np.ndarray, converged: bool, at_bound: bool) -> tuple[str, list[str]]:
    """Status of a fit and the notes that explain it (first applicable of the order below)."""
    z = np.column_stack([P.ln, P.ld])  # centred ln N, ln D
    sv = np.linalg.svd(z, compute_uv=False)
    if not sv[1] > _COLLINEAR * sv[0]:
        return "unidentified", [
            f"the (ln N, ln D) points lie on one line (spread across it {sv[1] / max(sv[0], 1e-300):.2g} of the "
            "spread along it): one compute budget, one tokens-per-parameter ratio, one N or one D. E, A and B "
            "cannot be told apart on such data; add runs off that line (other budgets or ratios)."
        ]
    if not converged:
        return "not_converged", ["the optimum failed the Newton check (see message); refit with a denser grid or "
                                 "check the data for outliers."]
    g = float(x[5]) if x.size == 6 else 1.0
    if not (x[3] > 0 and x[4] > 0 and g > 0):
        return "nonphysical", [f"an exponent is <= 0 (alpha {x[3]:.4g}, beta {x[4]:.4g}, gamma {g:.4g}): loss does "
                               "not fall with scale on this fit; check the data or fix gamma."]
    with np.errstate(all="ignore"):
        ln_pred = _lse_log_loss(P.ln + P.cn, P.ld + P.cd, *x[:5], g)
        ln_bracket = np.logaddexp(x[1] - x[3] * (P.ln + P.cn), x[2] - x[4] * (P.ld + P.cd))
        shares = {"E": x[0] - ln_pred, "A": x[1] - x[3] * (P.ln + P.cn) - ln_bracket,
                  "B": x[2] - x[4] * (P.ld + P.cd) - ln_bracket}
    pinned = [k for k, v in shares.items() if np.max(v) < math.log(_BOUND_SHARE)]
    if pinned:
        return "bound", [f"{', '.join(pinned)} sits at its bound 0 (its term is below {_BOUND_SHARE:g} of the "
                         "prediction on every run): the data do not identify it; add runs that constrain it (e.g. "
                         "longer training for E) or fix it."]
    if at_bound:
        return "bound", ["a parameter sits at a bound (E, A or B at 0, or an exponent at the edge of its grid "
                         "without refinement); widen the grid or refine."]
    return "ok", []


def _make_fit(
    P, xc, objective, n_starts, n_best, converged, message, delta, method, fit_gamma, notes=(), **extra
) -> ParametricFit:
    x = P.to_raw(xc) if method == "huber-lbfgs" else np.asarray(xc, dtype=np.float64)
    g = float(x[5]) if x.size == 6 else 1.0
    with np.errstate(divide="ignore"):
        resid = P.y - _lse_log_loss(P.ln + P.cn, P.ld + P.cd, x[0], x[1], x[2], x[3], x[4], g)
    status, why = _status(P, x, converged, bool(extra.pop("at_bound", False)))
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
        notes=tuple(why) + tuple(notes),
        **extra,
    )


def _samples_frame(raw: np.ndarray, objective: np.ndarray, converged: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(raw, columns=list(_NAMES[: raw.shape[1]]))
    df.insert(0, "resample", np.arange(raw.shape[0]))
    with np.errstate(over="ignore"):
        df["E"], df["A"], df["B"] = np.exp(df["e"]), np.exp(df["a"]), np.exp(df["b"])
    if "gamma" not in df:
        df["gamma"] = 1.0
    df["objective"], df["converged"] = objective, converged
    return df


def _summarise(df: pd.DataFrame, level: float, fit_gamma: bool) -> dict[str, object]:
    names = ["E", "A", "B", "alpha", "beta"] + (["gamma"] if fit_gamma else [])
    ok = df[np.isfinite(df["objective"])]
    corr = float(np.corrcoef(ok["alpha"], ok["beta"])[0, 1]) if len(ok) > 1 else float("nan")
    return {"samples": df, "intervals": percentile_intervals(ok, level, names), "alpha_beta_corr": corr,
            "n_boot_dropped": int(len(df) - len(ok))}


def __getattr__(name: str) -> object:
    """The fitter lives in :mod:`xlstm_lab.fit.parametric`; it is re-exported here lazily (no import cycle)."""
    if name in ("fit_parametric", "CHINCHILLA_GRID", "GAMMA_STARTS"):
        from . import parametric

        return getattr(parametric, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
