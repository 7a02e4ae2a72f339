"""Error hierarchy and input validation shared by every fitter in ``xlstm_lab.fit``."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "FitError",
    "InvalidInputError",
    "TooFewPointsError",
    "NoInteriorMinimum",
    "ConvergenceError",
    "validate_arrays",
    "row_labels",
    "check_level",
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


def row_labels(mask: np.ndarray, index: pd.Index | None = None, limit: int = 10) -> str:
    """Name the rows where ``mask`` is True: their index labels (positions without an index).

    An index with a name speaks for itself: the CLI names its index "CSV line", so messages read
    "CSV line 5, 9" and point at the file, not at positions after filtering.
    """
    pos = np.flatnonzero(mask)
    labels = pos if index is None else np.asarray(index)[pos]
    shown = ", ".join(str(v) for v in labels[:limit])
    more = f" (+{pos.size - limit} more)" if pos.size > limit else ""
    if index is not None and index.name:
        return f"{index.name} {shown}{more}"
    return f"rows [{shown}]{more}"


def _shared_index(arrays: Mapping[str, object], what: str) -> pd.Index | None:
    """The index of the pandas inputs, which must all agree (else they would be paired by position)."""
    indexes = {name: v.index for name, v in arrays.items() if isinstance(v, pd.Series)}
    if not indexes:
        return None
    first_name, first = next(iter(indexes.items()))
    for name, idx in indexes.items():
        if not idx.equals(first):
            raise InvalidInputError(
                f"{what}: the pandas Series {first_name} and {name} have different indexes, so their rows would be "
                "paired by position, not by label; pass columns of one DataFrame, align them (e.g. "
                "pd.concat([...], axis=1, join='inner')), or pass plain arrays (.to_numpy()) if position is meant."
            )
    return first


def _numeric(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return v is None  # None reads as NaN, which the NaN check names
    return True


def _to_float(name: str, value: object, index: pd.Index | None, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        try:
            items = list(value) if np.ndim(value) == 1 else None  # type: ignore[call-overload]
        except (TypeError, ValueError):  # ragged nested input
            items = None
        if items is None:
            raise InvalidInputError(
                f"{what}: {name} must be numeric and 1-D; could not convert it to float ({exc})."
            ) from exc
        bad = np.array([not _numeric(v) for v in items])
        examples = ", ".join(list(dict.fromkeys(repr(v) for v, b in zip(items, bad) if b))[:3])
        raise InvalidInputError(
            f"{what}: {name} must be numeric but has non-numeric entries ({examples}) at "
            f"{row_labels(bad, index if index is not None and len(index) == bad.size else None)}; "
            "fix those values or drop the rows."
        ) from exc


def check_level(value: object, name: str, what: str) -> float:
    """A confidence level as a float in (0, 1), or InvalidInputError naming the option."""
    try:
        level = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        level = math.nan
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"{what}: {name} must be a number in (0, 1), got {value!r}; use e.g. 0.95.")
    return level


def validate_arrays(
    arrays: Mapping[str, object],
    *,
    positive: tuple[str, ...] | None = None,
    min_points: int = 1,
    what: str = "fit",
    columns: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Convert named 1-D inputs to float64 arrays and check them.

    Args:
        arrays: name -> array-like (list, numpy array or pandas Series), all of one length. pandas Series must
            share one index (they are not re-aligned); its labels name the rows in messages.
        positive: names that must be strictly positive (default: all of them).
        min_points: the least number of rows the fit needs.
        what: the fitter's name, used in messages.
        columns: optional name -> DataFrame column it came from, shown in messages (``N (column 'N_params')``).

    Returns:
        name -> 1-D float64 array.

    Raises:
        InvalidInputError: mismatched lengths or indexes, non-1-D or non-numeric input, NaN/inf, or
            non-positive values; the message names the offending rows (index labels) and the fix.
        TooFewPointsError: fewer than ``min_points`` rows.
    """
    index = _shared_index(arrays, what)
    cols = dict(columns or {})

    def label(name: str) -> str:
        return f"{name} (column {cols[name]!r})" if name in cols and cols[name] != name else name

    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        arr = _to_float(label(name), value, index, what)
        if arr.ndim != 1:
            raise InvalidInputError(f"{what}: {label(name)} must be 1-D, got shape {arr.shape}; pass one value per run.")
        out[name] = arr
    lengths = {name: arr.size for name, arr in out.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"{what}: inputs have mismatched lengths {lengths}; pass one value per run in each.")
    idx = index if index is not None and len(index) == next(iter(lengths.values()), 0) else None
    for name, arr in out.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidInputError(
                f"{what}: {label(name)} has NaN or inf at {row_labels(bad, idx)}; drop those runs (e.g. df.dropna()) "
                "before fitting."
            )
    for name in positive if positive is not None else tuple(out):
        bad = out[name] <= 0
        if bad.any():
            raise InvalidInputError(
                f"{what}: {label(name)} must be > 0 but is not at {row_labels(bad, idx)}; remove those runs or check "
                "the units."
            )
    n = next(iter(lengths.values()), 0)
    if n < min_points:
        raise TooFewPointsError(f"{what}: got {n} points, needs at least {min_points}; add runs or use a simpler model.")
    return out
