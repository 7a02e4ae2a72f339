"""Runtime model of inference (compute-bound, memory-bound and roofline forms), fitted robustly in log space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import least_squares, nnls

from xlstm_lab.fit.types import ConvergenceError, InvalidInputError, validate_arrays

__all__ = ["LATENCY_FORMS", "LatencyFit", "fit_latency", "latency_model"]

#: form -> the rate parameters it uses ("alpha": FLOP/s, "beta": B/s).
LATENCY_FORMS: dict[str, tuple[str, ...]] = {
    "compute": ("alpha",),
    "memory": ("beta",),
    "max": ("alpha", "beta"),
    "sum": ("alpha", "beta"),
    "smooth": ("alpha", "beta"),
}
# Names used elsewhere (upstream's "smooth max", the attainable-FLOPs "soft min") for the same smooth roofline.
_ALIASES = {"smoothmax": "smooth", "softmax": "smooth", "smoothmin": "smooth"}


def _form(form: str) -> str:
    f = _ALIASES.get(form, form)
    if f not in LATENCY_FORMS:
        raise InvalidInputError(
            f"latency: unknown form {form!r}; use one of {sorted(LATENCY_FORMS)} (aliases: {sorted(_ALIASES)})."
        )
    return f


def _combine(tc: np.ndarray | None, tm: np.ndarray | None, form: str, p: float) -> tuple[np.ndarray, ...]:
    """Time of the compute/memory terms and its partial derivatives (d/dtc, d/dtm)."""
    if form == "compute":
        return tc, np.ones_like(tc), np.zeros_like(tc)
    if form == "memory":
        return tm, np.zeros_like(tm), np.ones_like(tm)
    if form == "sum":
        return tc + tm, np.ones_like(tc), np.ones_like(tm)
    if form == "max":
        c_wins = tc >= tm
        return np.maximum(tc, tm), c_wins.astype(float), (~c_wins).astype(float)
    # smooth: the p-norm (tc^p + tm^p)^(1/p) lies between max (p -> inf) and sum (p = 1) and is scale-free,
    # unlike a log-sum-exp with a sharpness in seconds. Scaled by the max to avoid overflow.
    m = np.maximum(tc, tm)
    g = m * ((tc / m) ** p + (tm / m) ** p) ** (1.0 / p)
    return g, (tc / g) ** (p - 1.0), (tm / g) ** (p - 1.0)


def latency_model(
    params: dict[str, float],
    *,
    form: str,
    flops: np.ndarray | None = None,
    bytes: np.ndarray | None = None,  # noqa: A002 - the unit is the clearest name
    batch: np.ndarray | None = None,
    smooth_p: float = 4.0,
) -> np.ndarray:
    """Predicted time in seconds: g(F/alpha, bytes/beta) + eps + B·eps_b (eps_b only if present in params).

    Args:
        params: "alpha" (FLOP/s), "beta" (B/s), "eps" (s), optionally "eps_b" (s per sequence).
        form: "compute" (F/alpha), "memory" (bytes/beta), "max", "sum" or "smooth" (p-norm of the two terms).
        flops, bytes, batch: shape (n,) each (or scalars), as the form needs; batch only with eps_b.
        smooth_p: exponent of the "smooth" form (> 0).

    Returns:
        shape (n,) seconds (a scalar for scalar inputs).

    Raises:
        InvalidInputError: a parameter or input the form needs is missing, not a finite number, or <= 0.
    """
    form = _form(form)
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"latency_model: params must be a dict of rates, got {type(params).__name__}.")
    need = [*LATENCY_FORMS[form], "eps"]
    missing = [k for k in need if params.get(k) is None]
    if missing:
        raise InvalidInputError(
            f"latency_model: form {form!r} needs params {need}, missing {missing}; pass e.g. LatencyFit.params."
        )
    bad = {k: params[k] for k in [*need, "eps_b"] if params.get(k) is not None and not _finite_number(params[k])}
    if bad:
        raise InvalidInputError(f"latency_model: params must be finite numbers, got {bad}.")
    if not _finite_number(smooth_p) or smooth_p <= 0:
        raise InvalidInputError(f"latency_model: smooth_p must be a finite number > 0, got {smooth_p!r}.")
    inp = _inputs(form, flops, bytes, batch if params.get("eps_b") is not None else None, min_points=1,
                  what="latency_model")
    if params.get("eps_b") is not None and "batch" not in inp:
        raise InvalidInputError("latency_model: params has a per-sequence term eps_b; pass batch.")
    tc = inp["flops"] / params["alpha"] if "alpha" in LATENCY_FORMS[form] else None
    tm = inp["bytes"] / params["beta"] if "beta" in LATENCY_FORMS[form] else None
    t = _combine(tc, tm, form, smooth_p)[0] + params["eps"]
    if params.get("eps_b") is not None:
        t = t + inp["batch"] * params["eps_b"]
    scalar = all(np.ndim(v) == 0 for v in (flops, bytes, batch) if v is not None)
    return t[0] if scalar else t  # numpy's convention: scalar in, scalar out


def _is_scalar(v: object) -> bool:
    try:
        return np.ndim(v) == 0
    except ValueError:  # ragged nested input: validate_arrays names it
        return False


def _finite_number(v: object) -> bool:
    try:
        return math.isfinite(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, eq=False)
class LatencyFit:
    """Result of :func:`fit_latency`.

    Attributes:
        form: the fitted form ("compute", "memory", "max", "sum", "smooth").
        alpha_eff: effective compute rate, FLOP/s (None if the form has no compute term).
        beta_eff: effective memory bandwidth, B/s (None if the form has no memory term).
        eps: constant overhead per call, s.
        eps_b: overhead per sequence in the batch, s (None when no batch was given).
        smooth_p: exponent of the "smooth" form.
        predictions: fitted times, s, shape (n,).
        residuals: ln t − ln t̂, shape (n,).
        cost: the robust objective at the optimum (scipy least_squares ``cost``).
        loss, f_scale: robust loss and its scale (in ln-time units).
        peak_flops, peak_bandwidth: hardware peaks if given (FLOP/s, B/s).
        frac_peak_flops, frac_peak_bandwidth: alpha_eff/peak_flops, beta_eff/peak_bandwidth (None without peaks).
        status: "ok", "bound_hit" (a parameter sits at its search bound; see ``bound_hits``) or "max_nfev".
        bound_hits: names of parameters at a bound, with "low"/"high".
        n_points: number of timings.
    """

    form: str
    alpha_eff: float | None
    beta_eff: float | None
    eps: float
    eps_b: float | None
    smooth_p: float
    predictions: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    cost: float = math.nan
    loss: str = "soft_l1"
    f_scale: float = 0.05
    peak_flops: float | None = None
    peak_bandwidth: float | None = None
    frac_peak_flops: float | None = None
    frac_peak_bandwidth: float | None = None
    status: str = "ok"
    bound_hits: tuple[str, ...] = ()
    n_points: int = 0

    @property
    def params(self) -> dict[str, float]:
        """Fitted parameters by name (only those of the form)."""
        names = {"alpha": self.alpha_eff, "beta": self.beta_eff, "eps": self.eps, "eps_b": self.eps_b}
        return {k: v for k, v in names.items() if v is not None}

    def compute_term(self, flops: object) -> np.ndarray:
        """F/alpha_eff in seconds (flops: FLOPs, any shape)."""
        if self.alpha_eff is None:
            raise InvalidInputError(f"LatencyFit.compute_term: form {self.form!r} has no compute term.")
        return np.asarray(flops, dtype=np.float64) / self.alpha_eff

    def memory_term(self, bytes: object) -> np.ndarray:  # noqa: A002
        """bytes/beta_eff in seconds (bytes moved, any shape)."""
        if self.beta_eff is None:
            raise InvalidInputError(f"LatencyFit.memory_term: form {self.form!r} has no memory term.")
        return np.asarray(bytes, dtype=np.float64) / self.beta_eff

    def overhead(self, batch: object = None) -> np.ndarray | float:
        """eps + B·eps_b in seconds (batch needed when eps_b was fitted)."""
        if self.eps_b is None:
            return self.eps
        if batch is None:
            raise InvalidInputError("LatencyFit.overhead: this fit has a per-sequence term eps_b; pass batch.")
        return self.eps + np.asarray(batch, dtype=np.float64) * self.eps_b

    def predict(self, *, flops: object = None, bytes: object = None, batch: object = None) -> np.ndarray:  # noqa: A002
        """Predicted time in seconds; pass the inputs the form was fitted with (shape (n,) each)."""
        inputs = _inputs(self.form, flops, bytes, batch if self.eps_b is not None else None, min_points=1)
        if self.eps_b is not None and "batch" not in inputs:
            raise InvalidInputError("LatencyFit.predict: this fit has a per-sequence term eps_b; pass batch.")
        return latency_model(self.params, form=self.form, smooth_p=self.smooth_p, **inputs)

    def to_dict(self) -> dict[str, object]:
        """Scalars as plain Python values."""
        keys = ("form", "alpha_eff", "beta_eff", "eps", "eps_b", "smooth_p", "cost", "loss", "f_scale", "peak_flops",
                "peak_bandwidth", "frac_peak_flops", "frac_peak_bandwidth", "status", "n_points")
        out: dict[str, object] = {k: getattr(self, k) for k in keys}
        out["bound_hits"] = list(self.bound_hits)
        return out


def _inputs(form: str, flops, bytes, batch, *, min_points: int, what: str = "fit_latency") -> dict[str, np.ndarray]:  # noqa: A002
    need = {"alpha": "flops", "beta": "bytes"}
    given = {"flops": flops, "bytes": bytes, "batch": batch}
    for rate in LATENCY_FORMS[form]:
        if given[need[rate]] is None:
            raise InvalidInputError(f"{what}: form {form!r} needs {need[rate]}= (one value per timing).")
    used = {k: v for k, v in given.items() if v is not None and (k == "batch" or k in (need[r] for r in LATENCY_FORMS[form]))}
    used = {k: np.atleast_1d(v) if _is_scalar(v) else v for k, v in used.items()}  # a scalar is one timing
    return validate_arrays(used, min_points=min_points, what=f"{what} (form {form!r})")


def _bounds(t: np.ndarray, inp: dict[str, np.ndarray], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Search box in ln-parameter space, wide enough that only a degenerate fit reaches it.

    A rate is bounded so that its term at the largest input lies in [1e-6·min t, 1e3·max t]; eps in
    [1e-9·min t, 1e3·max t]; eps_b likewise per sequence. Reaching a bound means that term is negligible
    (or absurd), which the result reports as status "bound_hit".
    """
    lo, hi = [], []
    for name in names:
        if name in ("alpha", "beta"):
            x = inp["flops" if name == "alpha" else "bytes"].max()
            lo.append(x / (1e3 * t.max()))
            hi.append(x / (1e-6 * t.min()))
        elif name == "eps":
            lo.append(1e-9 * t.min())
            hi.append(1e3 * t.max())
        else:
            lo.append(1e-9 * t.min() / inp["batch"].max())
            hi.append(1e3 * t.max() / inp["batch"].min())
    return np.log(lo), np.log(hi)


def _start(t: np.ndarray, inp: dict[str, np.ndarray], names: list[str], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Start from the additive model (all terms summed), fitted by non-negative least squares on relative error."""
    cols = {"alpha": inp.get("flops"), "beta": inp.get("bytes"), "eps": np.ones_like(t), "eps_b": inp.get("batch")}
    x = np.column_stack([cols[n] for n in names]) / t[:, None]
    scale = np.abs(x).max(axis=0)
    coef = nnls(x / scale, np.ones_like(t))[0] / scale
    # A zero coefficient (term unused by NNLS) starts at a small but finite share of the time instead.
    floor = 1e-3 * np.median(t) / np.median(np.column_stack([cols[n] for n in names]), axis=0)
    coef = np.maximum(coef, floor)
    theta = np.array([-np.log(c) if n in ("alpha", "beta") else np.log(c) for n, c in zip(names, coef)])
    return np.clip(theta, lo + 1e-3, hi - 1e-3)


def fit_latency(
    time_s: object,
    *,
    flops: object = None,
    bytes: object = None,  # noqa: A002 - matches the unit
    batch: object = None,
    form: Literal["compute", "memory", "max", "sum", "smooth"] = "compute",
    peak_flops: float | None = None,
    peak_bandwidth: float | None = None,
    loss: str = "soft_l1",
    f_scale: float = 0.05,
    smooth_p: float = 4.0,
    tol: float = 1e-12,
) -> LatencyFit:
    """Fit the paper's runtime model t ≈ g(F/alpha, bytes/beta) + eps [+ B·eps_b] robustly in log space.

    Prefill (time to first token) is compute-bound: form "compute", t = F/alpha + eps. A decode step is
    memory-bound: form "memory" with batch, t = bytes/beta + eps + B·eps_b. The roofline forms combine both:
    "max" (max of the terms), "sum", "smooth" (p-norm of the terms, ``smooth_p``). The parameters are optimised
    as logarithms, so alpha, beta, eps, eps_b > 0 by construction (the paper's linear-space fit of xLSTM step
    times returned a negative beta); the objective is a robust loss (scipy ``least_squares``) of ln t − ln t̂.

    Args:
        time_s: shape (n,) measured times in seconds (> 0).
        flops: shape (n,) FLOPs per call, needed by forms with a compute term.
        bytes: shape (n,) bytes moved per call, needed by forms with a memory term.
        batch: shape (n,) batch size; if given, a per-sequence overhead eps_b is fitted.
        form: "compute", "memory", "max", "sum" or "smooth" (aliases "smoothmax", "softmax", "smoothmin").
        peak_flops, peak_bandwidth: hardware peaks (FLOP/s, B/s) to report fractions of peak.
        loss: scipy least_squares loss ("soft_l1", "huber", "cauchy", "arctan" or "linear").
        f_scale: residual scale where the robust loss turns linear, in ln units (0.05 ≈ 5 % error: repeated
            GPU timings scatter by a few percent, so larger deviations are treated as outliers).
        smooth_p: exponent of the "smooth" form (p = 1 is "sum", p -> inf is "max").
        tol: ftol = xtol = gtol of the optimiser.

    Returns:
        LatencyFit.

    Raises:
        InvalidInputError: an input the form needs is missing, NaN/inf/non-positive values, mismatched lengths,
            unknown form or loss, non-positive peaks, or parameters that the data cannot separate (e.g. a
            constant batch next to eps).
        TooFewPointsError: fewer timings than parameters + 1.
        ConvergenceError: no start reached a finite objective.
    """
    form = _form(form)
    if loss not in ("linear", "soft_l1", "huber", "cauchy", "arctan"):
        raise InvalidInputError(f"fit_latency: unknown loss {loss!r}; use 'soft_l1', 'huber', 'cauchy', 'arctan' or 'linear'.")
    for name, val in (("peak_flops", peak_flops), ("peak_bandwidth", peak_bandwidth), ("f_scale", f_scale),
                      ("smooth_p", smooth_p)):
        if val is not None and not (math.isfinite(val) and val > 0):
            raise InvalidInputError(f"fit_latency: {name} must be a finite number > 0, got {val!r}.")
    names = list(LATENCY_FORMS[form]) + ["eps"] + (["eps_b"] if batch is not None else [])
    inp = _inputs(form, flops, bytes, batch, min_points=1)
    t = validate_arrays({"time_s": time_s, **inp}, min_points=len(names) + 1, what=f"fit_latency (form {form!r})")
    t = t["time_s"]
    cols = {"alpha": inp.get("flops"), "beta": inp.get("bytes"), "eps": np.ones_like(t), "eps_b": inp.get("batch")}
    design = np.column_stack([cols[n] / np.abs(cols[n]).max() for n in names])
    if np.linalg.matrix_rank(design, tol=1e-10) < len(names):
        raise InvalidInputError(
            f"fit_latency: the data cannot separate {names} (collinear inputs: e.g. a constant batch next to eps, "
            "constant flops/bytes, or bytes proportional to flops); vary the inputs or drop a term."
        )
    lt = np.log(t)
    lo, hi = _bounds(t, inp, names)

    def unpack(theta: np.ndarray) -> dict[str, float]:
        return {n: math.exp(v) for n, v in zip(names, theta)}

    def parts(theta: np.ndarray):
        p = unpack(theta)
        tc = inp["flops"] / p["alpha"] if "alpha" in p else None
        tm = inp["bytes"] / p["beta"] if "beta" in p else None
        g, dgc, dgm = _combine(tc, tm, form, smooth_p)
        pred = g + p["eps"] + (inp["batch"] * p["eps_b"] if "eps_b" in p else 0.0)
        return p, tc, tm, dgc, dgm, pred

    def resid(theta: np.ndarray) -> np.ndarray:
        return np.log(parts(theta)[-1]) - lt

    def jac(theta: np.ndarray) -> np.ndarray:
        p, tc, tm, dgc, dgm, pred = parts(theta)
        d = {"alpha": (lambda: -tc * dgc), "beta": (lambda: -tm * dgm), "eps": (lambda: np.full_like(t, p["eps"])),
             "eps_b": (lambda: inp["batch"] * p.get("eps_b", 0.0))}
        return np.column_stack([d[n]() / pred for n in names])

    theta0 = _start(t, inp, names, lo, hi)
    starts = [theta0]
    if len(LATENCY_FORMS[form]) == 2:  # kinks (max) and plateaus: also start with each term dominant
        for shift in (np.log(10.0), -np.log(10.0)):
            s = theta0.copy()
            s[0] += shift
            starts.append(np.clip(s, lo + 1e-3, hi - 1e-3))
    best = None
    for s in starts:
        res = least_squares(resid, s, jac=jac, bounds=(lo, hi), loss=loss, f_scale=f_scale,
                            ftol=tol, xtol=tol, gtol=tol, max_nfev=2000, method="trf")
        if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
            best = res
    if best is None:
        raise ConvergenceError(f"fit_latency: no start reached a finite objective for form {form!r}; check the units.")
    return _result(best, unpack(best.x), names, form, lt, t, inp, smooth_p, loss, f_scale, peak_flops, peak_bandwidth,
                   lo, hi)


def _result(res, p, names, form, lt, t, inp, smooth_p, loss, f_scale, peak_flops, peak_bandwidth, lo, hi) -> LatencyFit:
    """Assemble the LatencyFit and its status (bounds reached, iteration limit)."""
    hits = []
    for n, v, lb, ub in zip(names, res.x, lo, hi):
        if v - lb < 1e-6:
            hits.append(f"{n}:low")
        elif ub - v < 1e-6:
            hits.append(f"{n}:high")
    status = "max_nfev" if res.status == 0 else ("bound_hit" if hits else "ok")
    pred = latency_model(p, form=form, smooth_p=smooth_p, **inp)
    alpha, beta = p.get("alpha"), p.get("beta")
    return LatencyFit(
        form=form,
        alpha_eff=alpha,
        beta_eff=beta,
        eps=p["eps"],
        eps_b=p.get("eps_b"),
        smooth_p=smooth_p,
        predictions=pred,
        residuals=lt - np.log(pred),
        cost=float(res.cost),
        loss=loss,
        f_scale=f_scale,
        peak_flops=peak_flops,
        peak_bandwidth=peak_bandwidth,
        frac_peak_flops=alpha / peak_flops if alpha is not None and peak_flops else None,
        frac_peak_bandwidth=beta / peak_bandwidth if beta is not None and peak_bandwidth else None,
        status=status,
        bound_hits=tuple(hits),
        n_points=int(t.size),
    )
