"""Byte-level tokens: a token is one byte of the UTF-8 encoding (vocabulary 256); losses in nats or bits per byte."""

from __future__ import annotations

import math

import numpy as np

from xlstm_lab.data.errors import CorpusArgumentError
from xlstm_lab.models.shapes import BYTE_VOCAB_SIZE

__all__ = ["VOCAB_SIZE", "encode", "decode", "bits_per_byte", "nats_per_byte"]

VOCAB_SIZE = BYTE_VOCAB_SIZE
"""Number of distinct tokens (256 byte values); equals ``xlstm_lab.models.shapes.BYTE_VOCAB_SIZE``."""


def encode(text: str) -> np.ndarray:
    """Encode text as its UTF-8 bytes.

    Args:
        text: any Python string.

    Returns:
        uint8 array [n_bytes], one token per byte (a non-ASCII character gives 2-4 tokens).
    """
    if not isinstance(text, str):
        raise CorpusArgumentError(f"encode expects a str, got {type(text).__name__}; decode bytes first")
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def decode(tokens: np.ndarray | list[int]) -> str:
    """Decode byte tokens back to text.

    Args:
        tokens: integer array-like [n] with values in 0..255 (any integer dtype, e.g. a model's int64 samples).

    Returns:
        The UTF-8 decoding; invalid sequences (a window cut inside a multi-byte character, a sampled
        byte soup) become U+FFFD instead of raising.
    """
    arr = np.asarray(tokens)
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= VOCAB_SIZE):
        raise CorpusArgumentError(
            f"decode expects integer tokens in 0..{VOCAB_SIZE - 1}; got dtype {arr.dtype}"
            + (f", range {arr.min()}..{arr.max()}" if np.issubdtype(arr.dtype, np.number) else "")
            + "; pass byte tokens (argmax over a vocabulary of 256), not logits or another tokenizer's ids"
        )
    return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")


def bits_per_byte(nats: float) -> float:
    """Convert a loss in nats per byte (the trainer's cross-entropy with byte tokens) to bits per byte.

    Args:
        nats: mean cross-entropy in nats per token; with byte tokens a token is a byte.

    Returns:
        The same loss in bits per byte: nats / ln 2. Uniform guessing over 256 bytes gives 8.
    """
    return float(nats) / math.log(2.0)


def nats_per_byte(bits: float) -> float:
    """Inverse of :func:`bits_per_byte`: bits per byte to nats per byte (bits × ln 2)."""
    return float(bits) * math.log(2.0)
