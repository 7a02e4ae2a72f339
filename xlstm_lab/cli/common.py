"""What every ``xlstm-lab`` subcommand shares: the user-facing error type and JSON-safe output."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PROG", "CliError", "plain"]

PROG = "xlstm-lab"


class CliError(Exception):
    """A user-facing error: printed as one line on stderr (``xlstm-lab: error: ...``), exit code 2."""


def plain(obj: object) -> object:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [plain(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj
