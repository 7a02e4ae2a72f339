"""Property tests (hypothesis) of the counts: any value given as a token count or batch is either a whole number
that counts exactly like the equivalent int or a ConfigError; the linear FLOPs are 2 per matmul weight per token
for random configs."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.accounting import (
    count_params,
    decode_step_bytes,
    flops_per_sequence,
    kv_cache_bytes,
    prefill_flops,
)
from xlstm_lab.models import ConfigError, ModelConfig, XLSTMOptions, get_shape

_ANY_COUNT = st.one_of(
    st.integers(-5, 5000),
    st.integers(-5, 5000).map(np.int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 5000).map(float),  # whole floats: accepted
    st.integers(0, 5000).map(lambda n: n + 0.5),
    st.sampled_from([True, "64", [64], np.float32(64.0), np.float32(64.5), np.bool_(True), 10**400]),
)


def _whole(value, minimum: int):
    """The int a count stands for, or None unless it is a whole number in [minimum, 2**53] (written apart from
    the package's check)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    if not math.isfinite(as_float) or as_float != math.floor(as_float) or not minimum <= as_float <= 2**53:
        return None
    return int(value)


@pytest.mark.parametrize(
    "name, call, minimum",
    [
        ("xlstm-160m", lambda cfg, t: flops_per_sequence(cfg, t).forward, 1),
        ("llama-160m", lambda cfg, t: flops_per_sequence(cfg, t).forward, 1),
        ("xlstm-160m", lambda cfg, t: prefill_flops(cfg, t), 0),
        ("llama-160m", lambda cfg, t: prefill_flops(cfg, 64, batch=t), 1),
        ("llama-160m", lambda cfg, t: kv_cache_bytes(cfg, t), 0),
        ("llama-160m", lambda cfg, t: decode_step_bytes(cfg, t, convention="runtime_model"), 0),
    ],
)
def test_counts_are_whole_numbers_or_a_config_error(name, call, minimum):
    cfg = get_shape(name)

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(value=_ANY_COUNT)
    def check(value):
        whole = _whole(value, minimum)
        if whole is None:
            with pytest.raises(ConfigError):
                call(cfg, value)
        else:
            assert call(cfg, value) == call(cfg, whole)

    check()


@st.composite
def _configs(draw):
    family = draw(st.sampled_from(["xlstm", "llama"]))
    n_heads = draw(st.integers(1, 8))
    d_model = 8 * n_heads * draw(st.integers(1, 16))
    opts = XLSTMOptions(
        qk_dim_factor=draw(st.sampled_from([0.25, 0.5, 1.0])),
        v_dim_factor=draw(st.sampled_from([0.5, 1.0, 2.0])),
        chunk_size=draw(st.sampled_from([16, 64, 128])),
    )
    return ModelConfig(family, draw(st.integers(1, 60000)), d_model, draw(st.integers(1, 48)), n_heads,
                       d_ff=draw(st.one_of(st.none(), st.integers(1, 8192))), xlstm=opts)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(cfg=_configs(), context=st.integers(1, 20000))
def test_linear_flops_are_two_per_matmul_weight_per_token(cfg, context):
    # the paper's linear part: every matmul weight (all parameters but norms, embedding and the two gate biases
    # per block) costs 2 FLOPs per token; the xLSTM adds its output gate's sigmoid, T H V per block
    weights = count_params(cfg, embedding=False, norms=False)
    extra = 0
    if cfg.family == "xlstm":
        weights -= 2 * cfg.n_heads * cfg.n_layers
        extra = context * cfg.n_heads * cfg.v_head_dim * cfg.n_layers
    seq = flops_per_sequence(cfg, context)
    # float64 sums of integers up to ~1e16: equal to within rounding
    assert seq.linear == pytest.approx(2 * context * weights + extra, rel=1e-14)
    assert seq.other == pytest.approx(2 * context * cfg.d_ff * cfg.n_layers, rel=1e-14)
    assert seq.forward == seq.linear + seq.seq_mix + seq.other
