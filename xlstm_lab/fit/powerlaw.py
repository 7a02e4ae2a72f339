"""Power law y = k·x^a fitted by least squares in log-log space, with t-distribution intervals."""

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
            "residuals": [float(r) for r in self.residuals],
        }


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
    )

