"""Named model shapes from tiny CPU models to the paper's 160M-7B, and configs from the paper's data rows."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from xlstm_lab.models.config import ConfigError, LlamaOptions, ModelConfig, XLSTMOptions

__all__ = [
    "PAPER_VOCAB_SIZE",
    "BYTE_VOCAB_SIZE",
    "ShapeNotFoundError",
    "get_shape",
    "list_shapes",
    "config_from_runs_row",
    "config_from_inference_row",
]

PAPER_VOCAB_SIZE = 50_304
"""GPT-NeoX tokenizer size padded to a multiple of 64, used by every run of the paper."""
BYTE_VOCAB_SIZE = 256
"""Byte-level vocabulary of the lab-scale runs (``xlstm_lab.data.tokenizer``)."""
_PAPER_CONTEXT = 8192


class ShapeNotFoundError(KeyError):
    """No named shape has this name."""


def _xlstm(d: int, layers: int, heads: int, d_ff: int | None, vocab: int, ctx: int) -> ModelConfig:
    return ModelConfig("xlstm", vocab, d, layers, heads, d_ff, ctx)


def _llama(d: int, layers: int, heads: int, d_ff: int | None, vocab: int, ctx: int) -> ModelConfig:
    return ModelConfig("llama", vocab, d, layers, heads, d_ff, ctx)


# name: (d_model, n_layers, n_heads_xlstm, n_heads_llama, d_ff or None for the paper's rule)
# Tiny and lab shapes use the byte vocabulary and d_ff ~ 8/3 d rounded up to 16 (64 would inflate tiny FFNs).
_LAB = {
    "tiny": (32, 2, 2, 2, 96),
    "mini": (64, 2, 2, 4, 176),
    "small": (128, 4, 4, 4, 352),
    "lab-3m": (256, 4, 4, 4, 688),
    "lab-12m": (384, 6, 4, 6, 1024),
    "lab-30m": (512, 8, 4, 8, 1376),
}
# The paper's over-training shapes (SOURCE.md / paper hyperparameter table): N in M / d / d_ff / heads / blocks.
_PAPER_XLSTM = {
    "160m": (768, 12, 6, 2112),
    "400m": (1024, 24, 4, 2752),
    "830m": (1536, 24, 4, 4160),
    "1.4b": (2048, 24, 4, 5504),
    "2.7b": (2560, 32, 5, 6848),
    "7b": (4096, 32, 8, 10944),
}
_PAPER_LLAMA = {
    "160m": (768, 12, 12, 2048),
    "400m": (1024, 24, 16, 2752),
    "830m": (1536, 24, 16, 4096),
    "1.4b": (2048, 24, 16, 5504),
    "2.7b": (2560, 32, 32, 6848),
    "7b": (4096, 32, 32, 10944),
}


def _build_registry() -> dict[str, ModelConfig]:
    shapes: dict[str, ModelConfig] = {}
    for tag, (d, layers, h_x, _, d_ff) in _LAB.items():
        shapes[f"xlstm-{tag}"] = _xlstm(d, layers, h_x, d_ff, BYTE_VOCAB_SIZE, 512)
    for tag, (d, layers, heads, d_ff) in _PAPER_XLSTM.items():
        shapes[f"xlstm-{tag}"] = _xlstm(d, layers, heads, d_ff, PAPER_VOCAB_SIZE, _PAPER_CONTEXT)
    for tag, (d, layers, _, h_l, d_ff) in _LAB.items():
        shapes[f"llama-{tag}"] = _llama(d, layers, h_l, d_ff, BYTE_VOCAB_SIZE, 512)
    for tag, (d, layers, heads, d_ff) in _PAPER_LLAMA.items():
        shapes[f"llama-{tag}"] = _llama(d, layers, heads, d_ff, PAPER_VOCAB_SIZE, _PAPER_CONTEXT)
    return shapes


_SHAPES = _build_registry()


def list_shapes(family: str | None = None) -> list[str]:
    """Names of the registered shapes, smallest first within each family.

    Args:
        family: "xlstm", "llama" or None for both.
    """
    names = [n for n, c in _SHAPES.items() if family is None or c.family == family]
    if family is not None and not names:
        raise ConfigError(f"unknown family {family!r}; use 'xlstm', 'llama' or None")
    return names


def get_shape(name: str, **overrides: Any) -> ModelConfig:
    """The named shape as a ModelConfig, with optional field overrides (e.g. ``context_length=2048``).

    Names: ``{xlstm,llama}-{tiny,mini,small,lab-3m,lab-12m,lab-30m}`` (byte vocabulary, CPU/lab scale) and
    ``{xlstm,llama}-{160m,400m,830m,1.4b,2.7b,7b}`` (the paper's over-training shapes, vocab 50,304, ctx 8192).
    """
    try:
        config = _SHAPES[name]
    except KeyError:
        raise ShapeNotFoundError(f"no shape named {name!r}; known shapes: {', '.join(_SHAPES)}") from None
    return replace(config, **overrides) if overrides else config


def _int(row: Mapping[str, Any], key: str) -> int:
    value = row[key]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(f"row has no value for {key!r}; cannot build a config from it")
    try:
        whole = float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:  # CSV columns of sizes arrive as floats (768.0); never truncate a fractional one
        raise ConfigError(f"row value {key}={value!r} is not a whole number; cannot build a config from it")
    return int(value) if isinstance(value, numbers.Integral) else int(float(value))


def config_from_runs_row(row: Mapping[str, Any]) -> ModelConfig:
    """The ModelConfig of one row of the paper's ``runs.csv`` (families ``llama`` / ``xlstm_mlstm_v1``).

    Uses the row's ``ffn_dim`` (already rounded as the paper's model code rounds), ``chunk_size`` and
    ``proj_factor_qk`` for the mLSTM, and ``context_length`` as the config's context length.
    """
    family = row["family"]
    common = dict(
        vocab_size=_int(row, "vocab_size"),
        d_model=_int(row, "d_model"),
        n_layers=_int(row, "num_blocks"),
        n_heads=_int(row, "num_heads"),
        d_ff=_int(row, "ffn_dim"),
        context_length=_int(row, "context_length"),
    )
    if family == "xlstm_mlstm_v1":
        opts = XLSTMOptions(qk_dim_factor=float(row["proj_factor_qk"]), chunk_size=_int(row, "chunk_size"))
        return ModelConfig(family="xlstm", xlstm=opts, **common)
    if family == "llama":
        return ModelConfig(family="llama", **common)
    raise ConfigError(f"runs.csv family {family!r} is not 'llama' or 'xlstm_mlstm_v1'")


def config_from_inference_row(row: Mapping[str, Any], context_length: int = _PAPER_CONTEXT) -> ModelConfig:
    """The ModelConfig of one row of the paper's ``inference.csv`` (families ``xlstm`` / ``llama2``).

    The xLSTM inference models use chunk size 128 (the row's ``chunk_size``). ``llama3`` rows carry no
    model config upstream and raise ConfigError. Note: the row's ``ffn_dim`` is used as given; for some
    sizes it differs from the FFN width implied by the row's ``num_params`` (see the inference chapter).

    Args:
        row: a mapping with embedding_dim, num_blocks, num_heads, ffn_dim, vocab_size (and for xLSTM
            qk_dim_factor, chunk_size).
        context_length: the config's nominal context length (not used by the inference counts).
    """
    family = row["family"]
    if family not in ("xlstm", "llama2"):
        raise ConfigError(
            f"inference.csv family {family!r} has no model config (only 'xlstm' and 'llama2' rows have one)"
        )
    common = dict(
        vocab_size=_int(row, "vocab_size"),
        d_model=_int(row, "embedding_dim"),
        n_layers=_int(row, "num_blocks"),
        n_heads=_int(row, "num_heads"),
        d_ff=_int(row, "ffn_dim"),
        context_length=context_length,
    )
    if family == "xlstm":
        opts = XLSTMOptions(qk_dim_factor=float(row["qk_dim_factor"]), chunk_size=_int(row, "chunk_size"))
        return ModelConfig(family="xlstm", xlstm=opts, **common)
    return ModelConfig(family="llama", llama=LlamaOptions(), **common)
