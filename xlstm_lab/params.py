"""Validation of a chapter's papermill parameters, so a wrong type fails at once with a clear message."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

__all__ = ["ParameterError", "check_params", "Number", "NumberList"]


class ParameterError(ValueError):
    """A chapter parameter has the wrong type or value (typically a papermill/YAML quoting problem)."""


class _Spec:
    def __init__(self, kind: str, *, positive: bool = False, allow_none: bool = False):
        self.kind, self.positive, self.allow_none = kind, positive, allow_none


def Number(*, positive: bool = False, allow_none: bool = False) -> _Spec:  # noqa: N802 (reads like a type)
    """A real number (int or float, not bool, not a string)."""
    return _Spec("number", positive=positive, allow_none=allow_none)


def NumberList(*, positive: bool = False, allow_none: bool = False) -> _Spec:  # noqa: N802
    """A list of real numbers."""
    return _Spec("numbers", positive=positive, allow_none=allow_none)


_HINT = (
    "papermill's -p passes lists as strings and YAML reads 1e12 as a string: use -y \"name: 1.0e+12\" "
    "or a parameters file (-f params.yaml) with numbers written as 1.0e+12."
)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_spec(name: str, value, rule: _Spec) -> None:
    if value is None and rule.allow_none:
        return
    got = f"got {value!r} ({type(value).__name__})"
    if rule.kind == "numbers":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ParameterError(f"parameter {name!r} must be a list of numbers; {got}. {_HINT}")
        items, what = list(value), "a list of numbers"
    else:
        items, what = [value], "a number"
    for item in items:
        if not _is_number(item):
            raise ParameterError(f"parameter {name!r} must be {what}; {got}. {_HINT}")
        if rule.positive and not item > 0:
            raise ParameterError(f"parameter {name!r} must be > 0; {got}.")


def check_params(values: Mapping[str, object], spec: Mapping[str, object]) -> None:
    """Check chapter parameters against a spec.

    Args:
        values: parameter name -> value (pass ``globals()`` from the notebook).
        spec: name -> one of: ``Number(...)``, ``NumberList(...)``, a Python type (``bool``, ``int``, ``str``,
            ``float`` meaning any real number), or a tuple of allowed values (choices).

    Raises:
        ParameterError: naming the parameter, what it got and what it expects, with the quoting hint.
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
