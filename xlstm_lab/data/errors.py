"""The typed errors of ``xlstm_lab.data``: every message names the file or argument at fault and the fix."""

from __future__ import annotations

__all__ = [
    "CorpusError",
    "UnknownCorpusError",
    "CorpusNotFoundError",
    "EmptyCorpusError",
    "CorpusEncodingError",
    "CorpusFetchError",
    "CorpusChecksumError",
    "ContextTooLongError",
    "CorpusArgumentError",
    "CorpusDependencyError",
]


class CorpusError(ValueError):
    """Base class of every error ``xlstm_lab.data`` raises on purpose."""


class UnknownCorpusError(CorpusError):
    """A corpus name that is neither registered, nor an existing path, nor ``hf:<dataset>``."""


class CorpusNotFoundError(CorpusError):
    """A local corpus path (folder or file) does not exist."""


class EmptyCorpusError(CorpusError):
    """A folder with no ``.txt`` files, or documents that hold no text at all."""


class CorpusEncodingError(CorpusError):
    """A text file that is not valid UTF-8 (the message names the file and the byte offset)."""


class CorpusFetchError(CorpusError):
    """A source archive could not be downloaded or read, or a hub dataset could not be loaded."""


class CorpusChecksumError(CorpusError):
    """A downloaded source archive's sha256 differs from the pinned one."""


class ContextTooLongError(CorpusError):
    """A context length whose windows (context + 1 tokens) do not fit in the train or validation stream."""


class CorpusArgumentError(CorpusError):
    """An invalid argument to a corpus method (negative step, zero batch size, val_frac outside (0, 1), ...)."""


class CorpusDependencyError(CorpusError):
    """An optional dependency (Hugging Face ``datasets``) that this corpus needs is not installed."""
