"""Power law y = k·x^a fitted by least squares in log-log space, with t-distribution intervals.

Besides the intervals of k and a, a fit gives two derived intervals: the law's value at x (the OLS mean-response
interval) and the x at which the law reaches a value y (Fieller's inverse-regression set). Both are exact under
the OLS model (ln y normal around a line with one variance) and are checked by simulation in
``tests/fit/test_powerlaw_intervals.py``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from xlstm_lab.fit.types import InvalidInputError, check_level, validate_arrays

__all__ = ["FewPointsWarning", "PowerLawFit", "fit_power_law"]


class FewPointsWarning(UserWarning):
    """A fit has so few degrees of freedom that its standard errors are barely informative."""


@dataclass(frozen=True, eq=False)
class PowerLawFit:
    """Result of :func:`fit_power_law`: y = k·x^a, fitted as ln y = ln k + a·ln x.

    Attributes:
        k: prefactor (units of y per unit of x^a).
        a: exponent (dimensionless).
        se_log_k: standard error of ln k (OLS, residual variance RSS/dof).
        se_a: standard error of a.
        conf: confidence level of the intervals (e.g. 0.95).
        k_interval: (low, high) interval for k: exp(ln k ± t·se_log_k).
        a_interval: (low, high) interval for a: a ± t·se_a.
        dof: residual degrees of freedom, n_points − 2.
        n_points: number of (x, y) pairs used.
        r2: coefficient of determination in log space.
        residuals: ln y − ln ŷ, shape (n_points,).
        status: "ok"; "few_points" when 1 <= dof < 3 (intervals are wide and rest on normal errors);
            "exact" when dof == 0 (two points: no uncertainty can be estimated, SEs and intervals are NaN).
        mean_log_x: mean of ln x over the fitted points.
        sxx: sum of (ln x − mean_log_x)² over the fitted points.
        resid_sd: residual standard deviation in ln y, sqrt(RSS/dof) (NaN when dof == 0).
    """

    k: float
    a: float
    se_log_k: float
    se_a: float
    conf: float
    k_interval: tuple[float, float]
    a_interval: tuple[float, float]
    dof: int
    n_points: int
    r2: float
    residuals: np.ndarray = field(repr=False)
    status: str = "ok"
    mean_log_x: float = math.nan
    sxx: float = math.nan
    resid_sd: float = math.nan

    @property
    def se_k(self) -> float:
        """Delta-method standard error of k (k·se_log_k), as scipy's curve_fit reports for ln-space fits."""
        return self.k * self.se_log_k

    def predict(self, x: object) -> np.ndarray:
        """Evaluate k·x^a.

        Args:
            x: positive values, any shape.

        Returns:
            Array of the same shape as ``x``.
        """
        arr = np.asarray(x, dtype=np.float64)
        if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
            raise InvalidInputError("PowerLawFit.predict: x must be finite and > 0 (the law is fitted in log space).")
        return self.k * arr**self.a

    def value_interval(self, x: object, conf: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Confidence interval of the law's value k·x^a at x (the OLS mean-response interval, in log space).

        exp(ln k + a·ln x0 ± t·s·sqrt(1/n + (ln x0 − mean_log_x)² / sxx)), with t the (1 + conf)/2 quantile of
        Student's t with ``dof`` degrees of freedom and s = ``resid_sd``. Exact when the scatter of ln y about
        the line is normal with one variance. It widens away from the fitted x values (extrapolation). It is an
        interval for the law, not a prediction interval for a new point (which would add s² under the root).
        The IsoFLOP laws fit noisy per-budget optima whose variances differ (the loss curve flattens at large C);
        OLS ignores that. Measured on simulated grids with known truth (``tests/fit/test_powerlaw_intervals.py``):
        95% value and inverse intervals cover 0.944-0.957 with the paper's 3-4 budgets; with a fifth, larger budget
        the ones near the top budget cover about 0.93. We keep OLS (the paper's law) and these intervals.

        Args:
            x: positive values, any shape (e.g. FLOPs).
            conf: level in (0, 1); None uses the fit's ``conf``.

        Returns:
            (lo, hi), each shaped like ``x`` (floats for a scalar ``x``); NaN when dof == 0 (status "exact").

        Raises:
            InvalidInputError: x not finite and > 0, or conf outside (0, 1).
        """
        arr = _positive(x, "x", "PowerLawFit.value_interval")
        t = self._t(conf, "PowerLawFit.value_interval")
        lx = np.log(arr)
        half = t * self.resid_sd * np.sqrt(1.0 / self.n_points + (lx - self.mean_log_x) ** 2 / self.sxx)
        centre = math.log(self.k) + self.a * lx
        with np.errstate(over="ignore", under="ignore"):
            return _shaped(np.exp(centre - half), np.exp(centre + half), x)

    def inverse_interval(self, y: object, conf: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Confidence interval of the x at which the law reaches y (e.g. the compute at which N* = 1e9).

        Fieller's inverse-regression set: the x0 whose value interval (:meth:`value_interval`, same level)
        contains y, {x0 : |ln y − ln k − a·ln x0| <= t·s·sqrt(1/n + (ln x0 − mean_log_x)²/sxx)}. With
        u = ln x0 − mean_log_x and d = ln y − (ln k + a·mean_log_x) this is the quadratic inequality
        (a² − t²·se_a²)·u² − 2·a·d·u + d² − t²·s²/n <= 0, solved in closed form. If the exponent is significant at
        level conf (|a| > t·se_a) the set is a bounded interval that contains the point estimate (y/k)^(1/a).
        Otherwise the set is unbounded: every x > 0, or two half-lines (0, x1] ∪ [x2, ∞) that no single interval
        describes; then (nan, nan) is returned for every y and :meth:`inverse_note` says why. The set covers
        exactly under the OLS model, so the result, with NaN read as "no bound", covers at least that. Read only
        when bounded, it covers less where the exponent is often insignificant (1 dof and noisy points: 0.905 in
        a simulation where 41% of sets were unbounded, 0.946 where 4% were). The caveat of :meth:`value_interval`
        on unequal variances applies.

        Args:
            y: positive values of the law, any shape (e.g. N* in parameters).
            conf: level in (0, 1); None uses the fit's ``conf``.

        Returns:
            (lo, hi), each shaped like ``y`` (floats for a scalar ``y``); NaN when unbounded or dof == 0. A bound
            beyond the float range (far extrapolation with 1 dof) is 0 or inf.

        Raises:
            InvalidInputError: y not finite and > 0, or conf outside (0, 1).
        """
        arr = _positive(y, "y", "PowerLawFit.inverse_interval")
        t = self._t(conf, "PowerLawFit.inverse_interval")
        g = (t * self.se_a) ** 2  # NaN when dof == 0
        curv = self.a**2 - g
        if not curv > 0:
            nan = np.full(arr.shape, math.nan)
            return _shaped(nan, nan, y)
        d = np.log(arr) - (math.log(self.k) + self.a * self.mean_log_x)
        half = np.sqrt(g * d**2 + (t * self.resid_sd) ** 2 * curv / self.n_points) / curv
        mid = self.a * d / curv
        with np.errstate(over="ignore", under="ignore"):  # a bound beyond float range is honestly 0 or inf
            return _shaped(np.exp(self.mean_log_x + mid - half), np.exp(self.mean_log_x + mid + half), y)

    def inverse_note(self, conf: float | None = None) -> str:
        """Why :meth:`inverse_interval` is NaN at level ``conf`` ("" when it is bounded), for a table note."""
        level = self.conf if conf is None else check_level(conf, "conf", "PowerLawFit.inverse_note")
        if self.dof < 1:
            return (f"{self.n_points} points leave no residual degrees of freedom, so the inverse of the law has no "
                    "interval; add points.")
        t = self._t(level, "PowerLawFit.inverse_note")
        if self.a**2 - (t * self.se_a) ** 2 > 0:
            return ""
        return (f"the exponent a = {self.a:.4g} is not significant at {100 * level:g}% (|a| <= t·se_a = "
                f"{t * self.se_a:.3g}), so the set of x at which the law reaches a value is unbounded (NaN); add "
                "points or widen their x range.")

    def _t(self, conf: float | None, what: str) -> float:
        level = self.conf if conf is None else check_level(conf, "conf", what)
        return float(stats.t.ppf(0.5 + level / 2.0, self.dof)) if self.dof > 0 else math.nan

    def to_dict(self) -> dict[str, object]:
        """Scalars as plain Python values (JSON-friendly; residuals as a list)."""
        return {
            "k": self.k,
            "a": self.a,
            "se_log_k": self.se_log_k,
            "se_k": self.se_k,
            "se_a": self.se_a,
            "conf": self.conf,
            "k_interval": list(self.k_interval),
            "a_interval": list(self.a_interval),
            "dof": self.dof,
            "n_points": self.n_points,
            "r2": self.r2,
            "status": self.status,
            "mean_log_x": self.mean_log_x,
            "sxx": self.sxx,
            "resid_sd": self.resid_sd,
            "residuals": [float(r) for r in self.residuals],
        }


def _positive(values: object, name: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{what}: {name} must be numeric ({exc}).") from exc
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        example = arr[bad].ravel()[0]
        raise InvalidInputError(f"{what}: {name} must be finite and > 0 (the law is fitted in log space), but "
                                f"{int(bad.sum())} of {arr.size} value(s) are not (e.g. {example!r}).")
    return arr


def _shaped(lo: np.ndarray, hi: np.ndarray, like: object) -> tuple:
    """(lo, hi) as floats for a scalar input (numpy convention: scalar in, scalar out), else arrays."""
    if np.ndim(like) == 0:
        return float(lo), float(hi)
    return lo, hi


def fit_power_law(
    x: object,
    y: object,
    *,
    conf: float = 0.95,
    x_name: str = "x",
    y_name: str = "y",
    warn: bool = True,
) -> PowerLawFit:
    """Fit y = k·x^a by ordinary least squares of ln y on ln x.

    This is what the paper's notebooks do (scipy ``curve_fit`` of ln y = ln k + a·ln x with
    ``absolute_sigma=False``): the estimates and the standard errors are the OLS ones, with the
    residual variance RSS/(n − 2). Intervals use Student's t with n − 2 degrees of freedom, which is
    honest for the 3-4 points an IsoFLOP study has (t_{0.975, 1} = 12.7, t_{0.975, 2} = 4.3).

    Args:
        x: shape (n,), positive (e.g. FLOPs).
        y: shape (n,), positive (e.g. N* in parameters).
        conf: confidence level of the intervals, in (0, 1).
        x_name: name of x in error messages.
        y_name: name of y in error messages.
        warn: emit :class:`FewPointsWarning` when dof < 3.

    Returns:
        PowerLawFit.

    Raises:
        InvalidInputError: NaN/inf, non-positive values, mismatched lengths, all x equal, or conf outside (0, 1).
        TooFewPointsError: fewer than 2 points.
    """
    conf = check_level(conf, "conf", "fit_power_law")
    arrs = validate_arrays({x_name: x, y_name: y}, min_points=2, what="fit_power_law")
    lx, ly = np.log(arrs[x_name]), np.log(arrs[y_name])
    n = lx.size
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    # Relative test: ln x values equal to rounding leave the slope undetermined.
    if sxx <= (1e-12 * max(1.0, float(np.abs(lx).max()))) ** 2 * n:
        raise InvalidInputError(
            f"fit_power_law: all {x_name} values are equal; an exponent needs at least two distinct {x_name} values."
        )
    a = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    ln_k = float(ly.mean() - a * lx.mean())
    resid = ly - (ln_k + a * lx)
    rss = float(resid @ resid)
    sst = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - rss / sst if sst > 0 else 1.0
    dof = n - 2
    if dof == 0:
        se_a = se_ln_k = math.nan
        status = "exact"
        k_int = a_int = (math.nan, math.nan)
    else:
        s2 = rss / dof
        se_a = math.sqrt(s2 / sxx)
        se_ln_k = math.sqrt(s2 * (1.0 / n + lx.mean() ** 2 / sxx))
        t = float(stats.t.ppf(0.5 + conf / 2.0, dof))
        a_int = (a - t * se_a, a + t * se_a)
        k_int = (math.exp(ln_k - t * se_ln_k), math.exp(ln_k + t * se_ln_k))
        status = "few_points" if dof < 3 else "ok"
    if warn and dof < 3:
        what = "no uncertainty can be estimated" if dof == 0 else f"the {conf:.0%} intervals use t with {dof} dof"
        warnings.warn(
            f"fit_power_law: {y_name} vs {x_name} has only {n} points (dof = {dof}); {what}. "
            "Treat the exponent's interval as indicative, or add points.",
            FewPointsWarning,
            stacklevel=2,
        )
    return PowerLawFit(
        k=math.exp(ln_k),
        a=a,
        se_log_k=se_ln_k,
        se_a=se_a,
        conf=conf,
        k_interval=k_int,
        a_interval=a_int,
        dof=dof,
        n_points=n,
        r2=r2,
        residuals=resid,
        status=status,
        mean_log_x=float(lx.mean()),
        sxx=sxx,
        resid_sd=math.sqrt(rss / dof) if dof > 0 else math.nan,
    )

