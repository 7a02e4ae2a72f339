"""The error type of ``xlstm_lab.inference``: bad grids, unknown families or sizes, prompts past the context."""

from __future__ import annotations

__all__ = ["InferenceInputError"]


class InferenceInputError(ValueError):
    """A measurement request that cannot be run; the message names the problem and the fix."""
