"""Validation of a chapter's papermill parameters, so a wrong type or range fails at once with a clear message.

A chapter's first code cell calls :func:`check_params` on ``globals()`` with a spec per parameter and, where
parameters depend on each other, relations between them::

    check_params(globals(), {"c_min": Number(positive=True), "c_max": Number(positive=True)},
                 relations=[less("c_min", "c_max")])
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence

__all__ = ["ParameterError", "check_params", "Number", "NumberList", "Integer", "Relation", "less", "distinct"]


class ParameterError(ValueError):
    """A chapter parameter has the wrong type or value (typically a papermill/YAML quoting problem)."""


class _Spec:
    def __init__(self, kind: str, *, positive: bool = False, allow_none: bool = False, lo: float | None = None,
                 hi: float | None = None, min_len: int = 0):
        if lo is not None and hi is not None and not lo <= hi:
            raise TypeError(f"parameter spec: lo={lo!r} must be <= hi={hi!r}")
        self.kind, self.positive, self.allow_none = kind, positive, allow_none
        self.lo, self.hi, self.min_len = lo, hi, min_len


def Number(*, positive: bool = False, allow_none: bool = False, lo: float | None = None,  # noqa: N802 (a type)
           hi: float | None = None) -> _Spec:
    """A finite real number (int or float, not bool, not a string), > 0 if ``positive``, within [lo, hi]."""
    return _Spec("number", positive=positive, allow_none=allow_none, lo=lo, hi=hi)


def Integer(*, positive: bool = False, allow_none: bool = False, lo: int | None = None,  # noqa: N802
            hi: int | None = None) -> _Spec:
    """A whole number (an int, not bool), > 0 if ``positive``, within [lo, hi]."""
    return _Spec("integer", positive=positive, allow_none=allow_none, lo=lo, hi=hi)


def NumberList(*, positive: bool = False, allow_none: bool = False, lo: float | None = None,  # noqa: N802
               hi: float | None = None, min_len: int = 0) -> _Spec:
    """A list of finite real numbers, each > 0 if ``positive`` and within [lo, hi]; at least ``min_len`` items."""
    return _Spec("numbers", positive=positive, allow_none=allow_none, lo=lo, hi=hi, min_len=min_len)


#: ``(condition, predicate)`` or ``(condition, predicate, fix)``: ``condition`` is the rule as the reader writes it
#: ("c_min < c_max"), naming the parameters it involves; ``predicate(values) -> bool`` says whether it holds.
Relation = tuple  # tuple[str, Callable[[Mapping[str, object]], bool]] | tuple[str, Callable[..., bool], str]


def less(a: str, b: str) -> tuple[str, Callable[[Mapping[str, object]], bool], str]:
    """The relation ``a < b`` between two numeric parameters, with its fix."""
    return (f"{a} < {b}", lambda p: p[a] < p[b], f"choose {a} smaller than {b}")


def distinct(name: str, k: int = 2, why: str = "") -> tuple[str, Callable[[Mapping[str, object]], bool], str]:
    """The relation "list parameter ``name`` holds at least ``k`` distinct values", with its fix."""
    fix = f"give {name} at least {k} different values" + (f" ({why})" if why else "")
    return (f"{name} has >= {k} distinct values", lambda p: len(set(p[name])) >= k, fix)


_HINT = (
    "papermill's -p passes lists as strings and YAML reads 1e12 as a string: use -y \"name: 1.0e+12\" "
    "or a parameters file (-f params.yaml) with numbers written as 1.0e+12."
)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _range_text(rule: _Spec) -> str:
    parts = ([">= " + format(rule.lo, "g")] if rule.lo is not None else []) + (
        ["<= " + format(rule.hi, "g")] if rule.hi is not None else [])
    return " and ".join(parts)


def _check_spec(name: str, value, rule: _Spec) -> None:
    if value is None and rule.allow_none:
        return
    got = f"got {value!r} ({type(value).__name__})"
    if rule.kind == "numbers":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ParameterError(f"parameter {name!r} must be a list of numbers; {got}. {_HINT}")
        items, what = list(value), "a list of numbers"
        if len(items) < rule.min_len:
            raise ParameterError(f"parameter {name!r} needs at least {rule.min_len} numbers; {got}.")
    else:
        items, what = [value], ("a whole number" if rule.kind == "integer" else "a number")
    for item in items:
        ok = (isinstance(item, numbers.Integral) and not isinstance(item, bool)) if rule.kind == "integer" \
            else _is_number(item) and math.isfinite(item)
        if not ok:
            raise ParameterError(f"parameter {name!r} must be {what}; {got}. {_HINT}")
        if rule.positive and not item > 0:
            raise ParameterError(f"parameter {name!r} must be > 0; {got}.")
        if (rule.lo is not None and item < rule.lo) or (rule.hi is not None and item > rule.hi):
            each = "each item of " if rule.kind == "numbers" else ""
            raise ParameterError(f"parameter {each}{name!r} must be {_range_text(rule)}; {got}.")


def _check_relation(values: Mapping[str, object], spec: Mapping[str, object], relation: Sequence) -> None:
    if len(relation) not in (2, 3) or not isinstance(relation[0], str) or not callable(relation[1]):
        raise TypeError(f"check_params: a relation is (condition, predicate[, fix]); got {relation!r}")
    condition, predicate = relation[0], relation[1]
    fix = relation[2] if len(relation) == 3 else f"choose values with {condition}"
    if predicate(values):
        return
    involved = [n for n in spec if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", condition)]
    got = ", ".join(f"{n} = {values[n]!r}" for n in involved) or "the given values"
    raise ParameterError(f"parameter rule '{condition}' does not hold; got {got}: {fix}.")


def check_params(values: Mapping[str, object], spec: Mapping[str, object],
                 relations: Sequence[Sequence] = ()) -> None:
    """Check chapter parameters against a spec, then the relations between them.

    Args:
        values: parameter name -> value (pass ``globals()`` from the notebook).
        spec: name -> one of: ``Number(...)``, ``Integer(...)``, ``NumberList(...)``, a Python type (``bool``,
            ``int``, ``str``, ``list``, ``float`` meaning any real number), or a tuple of allowed values (choices).
        relations: ``(condition, predicate)`` or ``(condition, predicate, fix)`` items (see :func:`less`,
            :func:`distinct`), checked in order once every parameter has passed its own spec; ``condition`` is
            written with the parameters' names, and the error quotes the values of the names it contains.

    Raises:
        ParameterError: naming the parameter (or, for a relation, the parameters and their values), what it got
            and what it expects, with the quoting hint where a string stands for a number.
    """
    for name, rule in spec.items():
        if name not in values:
            raise ParameterError(f"parameter {name!r} is missing from the parameters cell.")
        value = values[name]
        got = f"got {value!r} ({type(value).__name__})"
        if isinstance(rule, _Spec):
            _check_spec(name, value, rule)
        elif isinstance(rule, tuple):
            if value not in rule:
                raise ParameterError(f"parameter {name!r} must be one of {rule}; {got}.")
        elif isinstance(rule, type):
            if rule is float:
                ok = _is_number(value)
            else:
                ok = isinstance(value, rule) and not (rule is int and isinstance(value, bool))
            if not ok:
                raise ParameterError(f"parameter {name!r} must be {rule.__name__}; {got}. {_HINT}")
        else:
            raise TypeError(f"check_params: unknown rule {rule!r} for {name!r}")
    for relation in relations:
        _check_relation(values, spec, relation)
