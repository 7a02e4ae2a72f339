"""Compare a reproduced number with the published one; fail loudly when it drifts beyond a stated tolerance."""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass
from typing import Iterable

import pandas as pd

from xlstm_lab.anchors.paper import PAPER

__all__ = ["AnchorMismatch", "CheckResult", "check", "results_table"]


class AnchorMismatch(Exception):
    """A reproduced number differs from the published one by more than the tolerance."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one comparison, ready for a table row.

    Attributes:
        name: key in ``PAPER``.
        published: the published value.
        ours: the reproduced value.
        error: |ours - published| / |published| if ``rel`` else |ours - published|.
        tol: the tolerance the caller stated.
        rel: whether ``error`` and ``tol`` are relative.
        ok: error <= tol.
        unit: unit of the two values.
        source: where the published value comes from.
        why: the caller's justification of the tolerance.
    """

    name: str
    published: float
    ours: float
    error: float
    tol: float
    rel: bool
    ok: bool
    unit: str
    source: str
    why: str = ""


def check(name: str, value: float, tol: float, *, rel: bool = True, why: str = "") -> CheckResult:
    """Compare ``value`` with the published number ``PAPER[name]``.

    Args:
        name: key in ``PAPER`` (e.g. ``"isoflop.main.llama.ctx8192.n_opt.a"``).
        value: our reproduced number, in the unit of the published one.
        tol: largest acceptable error, > 0; relative (fraction) if ``rel`` else absolute (same unit).
        rel: compare relative (default) or absolute error.
        why: justification of the tolerance, kept in the result for the chapter's table.

    Returns:
        A ``CheckResult`` with ``ok=True``.

    Raises:
        KeyError: unknown name (the message suggests close keys).
        ValueError: ``tol`` not a positive finite number, or ``rel=True`` with a published value of 0.
        AnchorMismatch: ``value`` is not finite or its error exceeds ``tol``; the message gives both numbers,
            the tolerance and the source.
    """
    if name not in PAPER:
        close = difflib.get_close_matches(name, list(PAPER), n=3, cutoff=0.6)
        raise KeyError(f"no published number named {name!r}" + (f"; did you mean {close}?" if close else ""))
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    pub = PAPER[name]
    if rel and pub.value == 0:
        raise ValueError(f"{name!r} is published as 0; use rel=False with an absolute tolerance")
    ours = float(value)
    diff = abs(ours - pub.value) if math.isfinite(ours) else math.inf
    error = diff / abs(pub.value) if rel else diff
    result = CheckResult(name, pub.value, ours, error, float(tol), rel, error <= tol, pub.unit, pub.source, why)
    if not result.ok:
        kind = "relative" if rel else "absolute"
        unit = f" {pub.unit}" if pub.unit else ""
        raise AnchorMismatch(
            f"{name}: ours = {ours:.6g}{unit}, published = {pub.value:.6g}{unit}; {kind} error {error:.3g} "
            f"exceeds tolerance {tol:.3g}" + (f" ({why})" if why else "") + f". Source: {pub.source}"
        )
    return result


def results_table(results: Iterable[CheckResult]) -> pd.DataFrame:
    """One row per ``CheckResult`` (columns are its fields), for display beside a chapter's results."""
    return pd.DataFrame([asdict(r) for r in results])
