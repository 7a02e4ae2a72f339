"""Error hierarchy and input validation shared by every fitter in ``xlstm_lab.fit``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "FitError",
    "InvalidInputError",
    "TooFewPointsError",
    "NoInteriorMinimum",
    "ConvergenceError",
    "validate_arrays",
]


class FitError(Exception):
    """Base class of every error a fitter raises on purpose."""


class InvalidInputError(FitError, ValueError):
    """The data cannot be fitted as given (NaN, inf, non-positive values, mismatched lengths)."""


class TooFewPointsError(InvalidInputError):
    """Fewer data points than the model has free parameters (or than a fit can honestly use)."""


class NoInteriorMinimum(FitError):
    """An IsoFLOP parabola has no minimum inside the sampled range (vertex outside, or it opens downward)."""


class ConvergenceError(FitError):
    """No optimiser start reached a finite objective."""


def _rows(mask: np.ndarray, limit: int = 10) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:limit])
    more = f" (+{idx.size - limit} more)" if idx.size > limit else ""
    return f"rows [{shown}]{more}"


def validate_arrays(
    arrays: Mapping[str, object],
    *,
    positive: tuple[str, ...] | None = None,
    min_points: int = 1,
    what: str = "fit",
) -> dict[str, np.ndarray]:
    """Convert named 1-D inputs to float64 arrays and check them.

    Args:
        arrays: name -> array-like (list, numpy array or pandas Series), all of one length.
        positive: names that must be strictly positive (default: all of them).
        min_points: the least number of rows the fit needs.
        what: the fitter's name, used in messages.

    Returns:
        name -> 1-D float64 array.

    Raises:
        InvalidInputError: mismatched lengths, non-1-D input, NaN/inf, or non-positive values; the message
            names the offending rows and the fix.
        TooFewPointsError: fewer than ``min_points`` rows.
    """
    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{what}: {name} must be numeric; could not convert it to float ({exc}).") from exc
        if arr.ndim != 1:
            raise InvalidInputError(f"{what}: {name} must be 1-D, got shape {arr.shape}; pass one value per run.")
        out[name] = arr
    lengths = {name: arr.size for name, arr in out.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"{what}: inputs have mismatched lengths {lengths}; pass one value per run in each.")
    for name, arr in out.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidInputError(
                f"{what}: {name} has NaN or inf at {_rows(bad)}; drop those runs (e.g. df.dropna()) before fitting."
            )
    for name in positive if positive is not None else tuple(out):
        bad = out[name] <= 0
        if bad.any():
            raise InvalidInputError(
                f"{what}: {name} must be > 0 but is not at {_rows(bad)}; remove those runs or check the units."
            )
    n = next(iter(lengths.values()), 0)
    if n < min_points:
        raise TooFewPointsError(f"{what}: got {n} points, needs at least {min_points}; add runs or use a simpler model.")
    return out
