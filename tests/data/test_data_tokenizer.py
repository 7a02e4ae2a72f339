"""Byte tokens: encode/decode round trips, replacement of broken UTF-8, units of the loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.data import VOCAB_SIZE, CorpusError, bits_per_byte, decode, encode, nats_per_byte
from xlstm_lab.models.shapes import BYTE_VOCAB_SIZE


def test_vocabulary_is_the_models_byte_vocabulary():
    assert VOCAB_SIZE == BYTE_VOCAB_SIZE == 256


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_round_trip_and_one_token_per_utf8_byte(text):
    tokens = encode(text)
    assert tokens.dtype == np.uint8 and tokens.ndim == 1
    assert tokens.tobytes() == text.encode("utf-8")  # Python's own codec is the reference
    assert decode(tokens) == text
    assert decode(tokens.astype(np.int64)) == text  # what a model samples


def test_known_bytes():
    assert encode("é€").tolist() == [0xC3, 0xA9, 0xE2, 0x82, 0xAC]
    assert encode("").shape == (0,)
    assert decode([]) == ""


def test_cut_character_is_replaced_not_raised():
    tokens = encode("né")[:2]  # the first byte of é only
    assert decode(tokens) == "n\ufffd"


@pytest.mark.parametrize("bad", [np.array([0, 256]), np.array([-1]), np.array([0.5, 1.0]), ["a"]])
def test_decode_rejects_non_byte_tokens(bad):
    with pytest.raises(CorpusError, match="0..255"):
        decode(bad)


def test_encode_rejects_bytes():
    with pytest.raises(CorpusError, match="str"):
        encode(b"abc")  # type: ignore[arg-type]


def test_loss_units():
    # Uniform guessing over 256 byte values costs ln 256 nats = 8 bits per byte.
    assert bits_per_byte(math.log(256)) == pytest.approx(8.0, rel=1e-15)
    assert bits_per_byte(1.0) == pytest.approx(1.4426950408889634, rel=1e-15)  # 1 / ln 2
    assert nats_per_byte(bits_per_byte(1.234)) == pytest.approx(1.234, rel=1e-15)
