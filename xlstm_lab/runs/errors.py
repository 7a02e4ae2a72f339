"""The typed errors of ``xlstm_lab.runs``: every message names the store, run or argument at fault and the fix."""

from __future__ import annotations

__all__ = [
    "RunsError",
    "StoreError",
    "NotARunStoreError",
    "StoreNotFoundError",
    "StoreLockedError",
    "StoreVersionError",
    "SweepError",
    "NoFeasibleSizeError",
    "ExecutorError",
]


class RunsError(ValueError):
    """Base class of every error ``xlstm_lab.runs`` raises on purpose."""


class StoreError(RunsError):
    """A run store cannot be opened, read or written (a directory, a read-only file, a damaged database)."""


class NotARunStoreError(StoreError):
    """The file exists but is not an xlstm-lab run store (not SQLite, or a SQLite database of something else)."""


class StoreNotFoundError(StoreError):
    """A store that is only read (``runs list``, ``runs export``) does not exist."""


class StoreLockedError(StoreError):
    """Another process held the store's write lock for longer than the lock timeout."""


class StoreVersionError(StoreError):
    """The store was written by a newer xlstm-lab whose schema this version does not know."""


class SweepError(RunsError):
    """A sweep cannot be planned as asked (unknown family, empty or invalid list, bad device)."""


class NoFeasibleSizeError(SweepError):
    """No model size can be planned at a budget (too small for every size, or too large for the corpus)."""


class ExecutorError(RunsError):
    """An executor cannot start (Ray not installed or unreachable, CUDA asked for but absent)."""
