"""Stored runs as a table: the CSV that ``xlstm-lab fit isoflop`` and ``fit parametric`` read with no flags.

Column names follow the paper's released per-run table where one exists (``N_params``, ``D_tokens``,
``C_flops_training``), so the fitters' defaults find them; the loss is ``val_loss`` in nats per byte (the fitters
fall back to it when the paper's ``val_dclm_loss`` is absent) and ``val_bpb`` the same in bits per byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from xlstm_lab.runs.errors import StoreError
from xlstm_lab.runs.records import RunRecord
from xlstm_lab.runs.store import RunStore

__all__ = ["EXPORT_COLUMNS", "records_frame", "export_frame", "export_csv"]

EXPORT_COLUMNS: tuple[str, ...] = (
    "N_params", "D_tokens", "C_flops_training", "val_loss", "val_bpb", "family", "context_length",
    "budget_flops", "seed", "lr", "batch_size", "d_model", "n_layers", "n_heads", "status", "key", "wall_s",
    "tokens_per_s", "device", "d_ff", "steps", "epochs", "corpus", "model_flops_per_s", "sweep", "error",
)
"""Units: N parameters (all, embeddings included, as the trainer's plan counts them), D tokens (= bytes) trained,
C FLOPs actually spent (paper convention), losses in nats / bits per byte, budget in FLOPs, wall time in s."""


def _row(r: RunRecord) -> dict[str, object]:
    m = r.spec.model
    return {
        "N_params": r.n_params, "D_tokens": r.tokens_spent, "C_flops_training": r.flops_spent,
        "val_loss": r.val_loss, "val_bpb": r.val_bpb, "family": m.family, "context_length": m.context_length,
        "budget_flops": r.spec.budget_flops, "seed": r.spec.seed, "lr": r.spec.lr, "batch_size": r.spec.batch_size,
        "d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads, "status": r.status, "key": r.key,
        "wall_s": r.wall_s, "tokens_per_s": r.tokens_per_s, "device": r.device, "d_ff": m.d_ff,
        "steps": None if r.plan is None else r.plan.steps, "epochs": None if r.plan is None else r.plan.epochs,
        "corpus": r.spec.corpus, "model_flops_per_s": r.model_flops_per_s, "sweep": r.sweep, "error": r.error,
    }


def records_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per record, columns :data:`EXPORT_COLUMNS` (an empty frame keeps the columns)."""
    frame = pd.DataFrame([_row(r) for r in records], columns=list(EXPORT_COLUMNS))
    for col in ("N_params", "D_tokens", "steps"):  # whole numbers, missing allowed
        frame[col] = frame[col].astype("Int64")
    return frame


def export_frame(store: RunStore | str | os.PathLike, *, statuses: Iterable[str] | None = ("done",)) -> pd.DataFrame:
    """The store's runs of the given statuses (default: done only; None: all) as a table."""
    own = not isinstance(store, RunStore)
    store = RunStore(store, create=False) if own else store
    try:
        return records_frame(store.records(None if statuses is None else list(statuses)))
    finally:
        if own:
            store.close()


def export_csv(store: RunStore | str | os.PathLike, path: str | os.PathLike, *,
               statuses: Iterable[str] | None = ("done",)) -> pd.DataFrame:
    """Write :func:`export_frame` to ``path`` (comma-separated, no index) and return the frame.

    Raises:
        StoreError: the store has no runs of these statuses (an empty CSV would only fail later, in the fit),
            or ``path`` cannot be written.
    """
    frame = export_frame(store, statuses=statuses)
    if frame.empty:
        which = "runs" if statuses is None else f"runs with status {', '.join(statuses)}"
        where = store.path if isinstance(store, RunStore) else store
        raise StoreError(f"the run store {where} has no {which}; run a sweep first (xlstm-lab sweep ...), or "
                         "export every status with --all")
    try:
        frame.to_csv(path, index=False)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}; check the folder exists and is writable") from None
    return frame
