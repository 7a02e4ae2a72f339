"""Decode-time memory: KV cache versus the fixed mLSTM state, and bytes moved per step."""

import pytest

from xlstm_lab.accounting import (
    count_params,
    decode_state_bytes,
    decode_step_bytes,
    kv_cache_bytes,
    mlstm_state_bytes,
    weight_bytes,
)
from xlstm_lab.models import get_shape
from xlstm_lab.models.config import ConfigError


def test_llama2_7b_kv_cache_is_half_a_megabyte_per_token():
    # the well-known figure: 2 x 32 layers x 4096 x 2 bytes = 512 KiB per token in bf16
    cfg = get_shape("llama-7b")
    assert kv_cache_bytes(cfg, 1) == 512 * 1024
    assert kv_cache_bytes(cfg, 16384, batch=2) == 2 * 8 * 2**30  # 8 GiB per 16k-token sequence


def test_mlstm_state_is_fixed_and_small():
    cfg = get_shape("xlstm-7b")
    # per layer and head: C (256 x 512) + n (256) + m (1) in float32
    assert mlstm_state_bytes(cfg) == 32 * 8 * (256 * 512 + 256 + 1) * 4
    assert decode_state_bytes(cfg, 0) == decode_state_bytes(cfg, 1_000_000)
    llama = get_shape("llama-7b")
    assert decode_state_bytes(llama, 16384) > 50 * decode_state_bytes(cfg, 16384)


def test_physical_decode_bytes():
    x, llama = get_shape("xlstm-1.4b"), get_shape("llama-1.4b")
    # xLSTM: independent of the context
    assert decode_step_bytes(x, 0) == decode_step_bytes(x, 16384)
    # Transformer: grows by one KV position per context token
    slope = decode_step_bytes(llama, 1001) - decode_step_bytes(llama, 1000)
    assert slope == kv_cache_bytes(llama, 1)
    # weights dominate at short context and are at most all parameters
    assert 0.9 * weight_bytes(x) < decode_step_bytes(x, 0) < weight_bytes(x) + 2 * mlstm_state_bytes(x)
    assert weight_bytes(llama) == 2 * count_params(llama)


def test_runtime_model_decode_bytes():
    x, llama = get_shape("xlstm-1.4b"), get_shape("llama-1.4b")
    conv = dict(convention="runtime_model")
    assert decode_step_bytes(x, 0, **conv) == decode_step_bytes(x, 16384, **conv)
    assert decode_step_bytes(llama, 16384, **conv) > decode_step_bytes(llama, 0, **conv)
    # upstream spreads the Transformer's weight read over 100 generated tokens: far below the weights
    assert decode_step_bytes(llama, 0, **conv) < 0.1 * weight_bytes(llama)
    # the xLSTM step reads all weights once plus activations and state
    assert decode_step_bytes(x, 0, **conv) > weight_bytes(x) - 2 * x.vocab_size * x.d_model


@pytest.mark.parametrize(
    "call",
    [
        lambda: kv_cache_bytes(get_shape("xlstm-tiny"), 10),
        lambda: mlstm_state_bytes(get_shape("llama-tiny")),
        lambda: decode_step_bytes(get_shape("llama-tiny"), -1),
        lambda: decode_step_bytes(get_shape("llama-tiny"), 10, batch=0),
        lambda: decode_step_bytes(get_shape("llama-tiny"), 10, convention="roofline"),
    ],
)
def test_bad_memory_arguments_raise(call):
    with pytest.raises(ConfigError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        # fractional token counts used to be truncated silently (int(10.5) = 10)
        lambda: kv_cache_bytes(get_shape("llama-tiny"), 10.5),
        lambda: decode_state_bytes(get_shape("llama-tiny"), 10.5),
        lambda: decode_state_bytes(get_shape("xlstm-tiny"), 10.5),
        lambda: decode_step_bytes(get_shape("llama-tiny"), 10.5),
        lambda: decode_step_bytes(get_shape("llama-tiny"), 10.5, convention="runtime_model"),
        lambda: kv_cache_bytes(get_shape("llama-tiny"), 10, batch=1.5),
        lambda: mlstm_state_bytes(get_shape("xlstm-tiny"), batch=2.5),
    ],
)
def test_fractional_counts_raise_instead_of_truncating(call):
    with pytest.raises(ConfigError, match="whole number"):
        call()


def test_whole_counts_in_any_numeric_type_give_the_same_bytes():
    import numpy as np

    llama = get_shape("llama-tiny")
    assert kv_cache_bytes(llama, 10.0, batch=np.int64(2)) == kv_cache_bytes(llama, 10, batch=2)
    assert decode_step_bytes(llama, np.float64(100.0)) == decode_step_bytes(llama, 100)


@pytest.mark.parametrize(
    "call",
    [
        lambda: weight_bytes(get_shape("llama-tiny"), dtype_bytes=0),
        lambda: kv_cache_bytes(get_shape("llama-tiny"), 10, dtype_bytes=float("nan")),
        lambda: mlstm_state_bytes(get_shape("xlstm-tiny"), state_dtype_bytes=-4),
        lambda: decode_step_bytes(get_shape("llama-tiny"), 10, convention="runtime_model", generation_length=0.5),
        lambda: decode_step_bytes(get_shape("llama-tiny"), "10"),
        lambda: weight_bytes("llama-tiny"),
    ],
)
def test_more_bad_memory_arguments_raise(call):
    with pytest.raises(ConfigError):
        call()
