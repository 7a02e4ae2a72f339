"""Altair charts for the book: one theme, an offline renderer, one module per figure family."""

from xlstm_lab.plots.theme import BOOK_ENV, FAMILY_COLORS, FAMILY_LABELS, book_renderer, enable, family_color

__all__ = ["BOOK_ENV", "FAMILY_COLORS", "FAMILY_LABELS", "book_renderer", "enable", "family_color"]
