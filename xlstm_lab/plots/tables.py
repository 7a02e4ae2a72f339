"""One table style for the book: a pandas Styler with compact numbers, units in headers and no index."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["show"]

_STYLES = [
    {"selector": "", "props": "font-size: 0.8em; margin-bottom: 1em;"},
    {"selector": "td, th", "props": "padding: 0.1em 0.45em; text-align: right;"},
]


def _cell(fmt: str | None, digits: int) -> Callable[[object], str]:
    """Per-cell formatter: missing (None, NaN) as "–", floats to ``digits`` significant digits or ``fmt``."""

    def format_cell(v: object) -> str:
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            return "–"
        if fmt is not None and isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return fmt.format(v)
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}g}"
        return str(v)

    return format_cell


def show(
    df: pd.DataFrame,
    digits: int = 4,
    *,
    scale: Mapping[str, tuple[float, str]] | None = None,
    formats: Mapping[str, str] | None = None,
    rename: Mapping[str, str] | None = None,
    index: bool = False,
):
    """Style a table for the book.

    Cells are formatted one by one, so columns that mix numbers and None (a fit without some term) read well.

    Args:
        df: the table.
        digits: significant digits of floats without an explicit format.
        scale: column -> (divisor, unit), e.g. ``{"N_opt": (1e6, "M")}``: the column is divided and shown as
            "N_opt [M]".
        formats: column -> format string for its numbers (e.g. ``"{:.2%}"``); columns not in the table are ignored.
        rename: display names for column names, applied word by word ("alpha_eff" -> "α_eff").
        index: show the index.

    Returns:
        A pandas Styler carrying the book's table class ("dataframe").
    """
    df = df.copy()
    formats = dict(formats or {})
    for col, (div, unit) in (scale or {}).items():
        df[col] = df[col] / div
        df = df.rename(columns={col: f"{col} [{unit}]"})
        if col in formats:
            formats[f"{col} [{unit}]"] = formats.pop(col)
    styler = df.style.format({c: _cell(formats.get(c), digits) for c in df.columns})
    if rename:
        styler = styler.relabel_index(
            [" ".join(rename.get(part, part) for part in str(c).split(" ")) for c in df.columns], axis="columns"
        )
    styler = styler.set_table_attributes('class="dataframe"').set_table_styles(_STYLES)
    return styler if index else styler.hide(axis="index")
