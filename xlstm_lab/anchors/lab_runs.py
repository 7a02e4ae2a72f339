"""The lab's own shipped runs: the run store's CSV export of the sweeps trained for this book (``lab_runs``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlstm_lab.anchors.registry import load

__all__ = ["load_lab_runs"]

_FAMILIES = ("xlstm", "llama")


def load_lab_runs(family: str | None = None, ctx: int | None = None, *, path: str | Path | None = None,
                  verify: bool = True) -> pd.DataFrame:
    """Runs trained for this book with ``xlstm-lab sweep`` (one row per run, every sweep together).

    The rows of one grid are found by their coordinates (family, ``context_length``, ``budget_flops``, shape,
    ``seed``), not by the ``sweep`` column: a run is stored once under the sweep that first asked for it (an
    IsoFLOP run at ctx 256 is also a point of the context sweep).

    Args:
        family: ``"xlstm"`` or ``"llama"``; None for both.
        ctx: context length in tokens; None for all.
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        DataFrame with ``xlstm_lab.runs.EXPORT_COLUMNS``: N (all parameters), D tokens (bytes), C FLOPs spent
        (paper convention), ``val_loss`` in nats per byte, ``val_bpb`` in bits per byte, the run ``key``.

    Raises:
        ValueError: an unknown family, or a selection without rows (naming the contexts that exist).
    """
    df = load("lab_runs", path=path, verify=verify)
    if family is not None:
        if family not in _FAMILIES:
            raise ValueError(f"unknown family {family!r}; use one of {list(_FAMILIES)} or None")
        df = df[df["family"] == family]
    if ctx is not None:
        have = sorted(set(df["context_length"]))
        df = df[df["context_length"] == int(ctx)]
        if df.empty:
            raise ValueError(f"no lab runs at ctx {ctx}; the shipped runs have contexts {have}")
    return df.reset_index(drop=True)
