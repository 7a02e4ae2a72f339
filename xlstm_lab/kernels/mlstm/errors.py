"""Typed errors of the mLSTM kernels: every bad input raises a subclass of :class:`MLSTMError`."""

from __future__ import annotations

__all__ = ["MLSTMError", "MLSTMInputError", "MLSTMDtypeError", "MLSTMBackendError"]


class MLSTMError(Exception):
    """Base class of every error the mLSTM kernels raise on purpose."""


class MLSTMInputError(MLSTMError, ValueError):
    """An argument has the wrong type, shape, device or value; the message names it and the fix."""


class MLSTMDtypeError(MLSTMInputError, TypeError):
    """Tensors have a dtype the chosen backend cannot take, or dtypes that do not go together."""


class MLSTMBackendError(MLSTMError, RuntimeError):
    """The requested backend cannot run here (no CUDA device, or no backward for a Triton decode step)."""
