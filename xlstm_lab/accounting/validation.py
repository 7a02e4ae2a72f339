"""Argument checks shared by the counts: configs, whole token counts, batch sizes, byte widths (torch-free)."""

from __future__ import annotations

import numbers
from typing import Any

from xlstm_lab.models.config import ConfigError, ModelConfig, finite_real

__all__ = ["check_config", "whole_count", "nonnegative_real", "positive_real"]

_MAX_COUNT = 2**53


def check_config(config: Any, what: str) -> ModelConfig:
    """Raise ConfigError unless ``config`` is a ModelConfig (``what`` names the caller)."""
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"{what} needs a ModelConfig, got {type(config).__name__}; build one with ModelConfig(...) "
                          f"or xlstm_lab.models.get_shape(name)")
    return config


def _finite(name: str, value: Any) -> float:
    return finite_real(name, value)


def whole_count(name: str, value: Any, minimum: int = 0) -> int:
    """A count of tokens or sequences: an integer, or a float with an integral value (e.g. 2048.0 from a CSV).

    Never truncates: 100.5 tokens raises, so a count is never silently rounded down. Counts above 2**53 (not
    exact in the float64 FLOP arithmetic) raise too.

    Args:
        name: the argument, named in the message.
        value: the count.
        minimum: the smallest allowed value (0 for a token count, 1 for a sequence length or batch).

    Returns:
        The count as an int.

    Raises:
        ConfigError: not a number, not whole, or below ``minimum``.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        count = int(value)
    else:
        as_float = _finite(name, value)
        if not as_float.is_integer():
            raise ConfigError(f"{name} must be a whole number of tokens/sequences, got {value!r}; round it "
                              f"explicitly (e.g. int(round(x))) if that is what you mean")
        count = int(as_float)
    if count < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    if count > _MAX_COUNT:
        raise ConfigError(f"{name}={value!r} exceeds 2**53, beyond which float64 counts are not exact")
    return count


def nonnegative_real(name: str, value: Any) -> float:
    """A finite number >= 0 (e.g. a total token count D that may be fractional), as a float."""
    as_float = _finite(name, value)
    if as_float < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return as_float


def positive_real(name: str, value: Any) -> float:
    """A finite number > 0 (e.g. bytes per element: 2 for bf16, 0.5 for 4-bit), as a float."""
    as_float = _finite(name, value)
    if not as_float > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return as_float
