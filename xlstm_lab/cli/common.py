"""What every ``xlstm-lab`` subcommand shares: the user-facing error and warning types, CSV input, JSON output."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["LINE", "PROG", "CliError", "StatusWarning", "plain", "read_csv", "separator_hint"]

PROG = "xlstm-lab"
#: Name of the index of :func:`read_csv` frames: the fitters name offending rows by it ("CSV line 5, 9").
LINE = "CSV line"


class CliError(Exception):
    """A user-facing error: printed as one line on stderr (``xlstm-lab: error: ...``), exit code 2."""


class StatusWarning(UserWarning):
    """A result whose status is not ok: printed as ``xlstm-lab: warning: ...`` (no category name), exit code 3."""


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


def read_csv(path: str) -> pd.DataFrame:
    """Read a comma-separated file whose index is each row's line number in the file (header = line 1).

    Raises:
        CliError: the file is missing or unreadable (a directory, a path through a file, no permission), is not
            CSV, or has a header but no data rows.
    """
    try:
        # Blank lines are kept while reading so that the index counts file lines, then dropped.
        df = pd.read_csv(path, skip_blank_lines=False)
    except FileNotFoundError:
        raise CliError(f"file not found: {path}") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise CliError(f"cannot read {path} as CSV: {exc}") from None
    df.index = pd.RangeIndex(2, len(df) + 2, name=LINE)
    df = df.dropna(how="all")
    if df.empty:
        raise CliError(f"{path} has a header but no data rows; add one row per run.")
    return df


def separator_hint(df: pd.DataFrame) -> str:
    """A hint when a file read as comma-separated has one column that looks like another separator's header."""
    if len(df.columns) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in str(df.columns[0]):
                return (f" The file seems to be separated by {name}, not commas: save it as comma-separated CSV "
                        "(e.g. df.to_csv(path, index=False)).")
    return ""
