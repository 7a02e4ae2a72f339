"""Nonparametric bootstrap helpers shared by the fitters: resample indices, row weights, percentile intervals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .types import FitError, InvalidInputError

__all__ = [
    "bootstrap_indices",
    "bootstrap_counts",
    "percentile_interval",
    "percentile_intervals",
    "bootstrap_apply",
]


def _check_k_n(n: int, k: int) -> None:
    if int(n) != n or n < 1:
        raise InvalidInputError(f"bootstrap: n must be a positive integer, got {n!r}.")
    if int(k) != k or k < 1:
        raise InvalidInputError(f"bootstrap: the number of resamples must be a positive integer, got {k!r}.")


def bootstrap_indices(n: int, k: int, seed: int | None = 0) -> np.ndarray:
    """Row indices of ``k`` resamples drawn with replacement from ``n`` rows.

    Args:
        n: number of data points (rows).
        k: number of resamples.
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same resamples.

    Returns:
        (k, n) int64 array; row ``j`` lists the rows that make up resample ``j``.
    """
    _check_k_n(n, k)
    return np.random.default_rng(seed).integers(0, n, size=(int(k), int(n)))


def bootstrap_counts(n: int, k: int, seed: int | None = 0) -> np.ndarray:
    """How often each row appears in each resample (the same resamples as :func:`bootstrap_indices`).

    A weighted fit with these counts as weights equals the fit on the resampled rows, which lets a
    batched fitter run all resamples at once.

    Returns:
        (k, n) float64 array of multiplicities; each row sums to ``n``.
    """
    idx = bootstrap_indices(n, k, seed)
    counts = np.zeros((idx.shape[0], int(n)))
    # One bincount per resample; np.add.at on a flat view does all of them without a Python loop.
    np.add.at(counts, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), 1.0)
    return counts


def percentile_interval(samples: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap samples.

    Args:
        samples: 1-D bootstrap estimates; NaN entries (failed resamples) are ignored.
        level: coverage in (0, 1), e.g. 0.95 for the 2.5 and 97.5 percentiles.

    Returns:
        (lo, hi). NaN, NaN if no finite sample is left.
    """
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"percentile_interval: level must be in (0, 1), got {level!r}; use e.g. 0.95.")
    arr = np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (float("nan"), float("nan"))
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(arr, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def percentile_intervals(
    samples: pd.DataFrame | Mapping[str, Iterable[float]],
    level: float = 0.95,
    columns: Iterable[str] | None = None,
) -> dict[str, tuple[float, float]]:
    """:func:`percentile_interval` for every (or the named) column of a table of bootstrap estimates.

    Returns:
        column name -> (lo, hi).
    """
    frame = samples if isinstance(samples, pd.DataFrame) else pd.DataFrame(dict(samples))
    names = list(columns) if columns is not None else list(frame.columns)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"percentile_intervals: no column(s) {missing}; available: {list(frame.columns)}.")
    return {name: percentile_interval(frame[name].to_numpy(dtype=np.float64), level) for name in names}


def bootstrap_apply(
    fit: Callable[..., Mapping[str, float]],
    arrays: Mapping[str, np.ndarray],
    k: int,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Refit on ``k`` resamples of the rows of ``arrays`` (sequentially; for fitters without a batched path).

    Args:
        fit: called as ``fit(**resampled_arrays)``; returns name -> estimate for that resample.
        arrays: name -> 1-D array, all of one length n (one entry per data point).
        k: number of resamples.
        seed: see :func:`bootstrap_indices`.

    Returns:
        DataFrame with one row per resample (column ``resample``), the estimates, and ``error`` (the message of
        a :class:`FitError` raised on that resample, else empty; its estimates are NaN).
    """
    lengths = {name: np.asarray(v).shape[0] for name, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise InvalidInputError(f"bootstrap_apply: arrays have mismatched lengths {lengths}.")
    n = next(iter(lengths.values()))
    rows = []
    for j, idx in enumerate(bootstrap_indices(n, k, seed)):
        resampled = {name: np.asarray(v)[idx] for name, v in arrays.items()}
        try:
            row = dict(fit(**resampled))
            row["error"] = ""
        except FitError as exc:  # a resample may legitimately be unfittable; record it, do not hide it
            row = {"error": f"{type(exc).__name__}: {exc}"}
        row["resample"] = j
        rows.append(row)
    return pd.DataFrame(rows)
