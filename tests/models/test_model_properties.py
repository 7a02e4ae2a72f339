"""Property tests (hypothesis): count_params equals the built module for random valid configs, and every
config the strategies generate either builds or raises ConfigError (never another exception).

Each field value is drawn together with a label (good or bad) that the strategy knows by construction; a config
is expected to build exactly when every field is good and the sizes fit together (the divisibility rules,
written out independently below).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.accounting import count_params
from xlstm_lab.models import BACKEND_NAMES, ConfigError, LlamaOptions, ModelConfig, XLSTMOptions, build_model

_JUNK = st.one_of(st.none(), st.text(max_size=3), st.booleans(), st.just(np.bool_(True)),
                  st.lists(st.integers(), max_size=2))
_NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf, np.float32("nan"), 10**400])


def _ints(good):
    """(good, bad): positive whole numbers of any integer type; zero, negatives, floats (even 64.0), huge, junk."""
    bad = st.one_of(st.integers(max_value=0), st.floats(), st.integers(min_value=2**53 + 1), _JUNK,
                    st.just(np.float64(64.0)))
    return st.one_of(good, good.map(np.int64), good.map(np.int32)), bad


def _reals(good, *, positive=True):
    """(good, bad): finite reals of any real type (positive unless told); non-finite, <= 0, junk."""
    bad = [_NONFINITE, st.text(max_size=3), st.none(), st.booleans()]
    if positive:
        bad.append(st.floats(max_value=0.0, allow_nan=False))
    return st.one_of(good, good.map(np.float32), good.map(np.float64)), st.one_of(*bad)


def _optional(pair):
    """None becomes a good value too."""
    good, bad = pair
    return st.one_of(st.none(), good), bad.filter(lambda v: v is not None)


def _choice(values):
    return st.sampled_from(values), st.one_of(st.text(max_size=8).filter(lambda s: s not in values), st.none(),
                                              st.integers())


def _bias_pairs():
    finite = st.floats(-20, 20)
    ordered = st.tuples(finite, finite).map(sorted)
    bad = st.one_of(
        st.tuples(finite, finite).filter(lambda p: p[0] > p[1]),
        st.lists(finite, max_size=4).filter(lambda p: len(p) != 2),
        st.tuples(finite, _NONFINITE),
        st.text(max_size=3),
        finite,
        st.none(),
    )
    return st.one_of(ordered.map(tuple), ordered.map(list)), bad


_POWERS = [16, 32, 64, 128, 256]
_OPTION_FIELDS = {  # name: (good values, bad values)
    "qk_dim_factor": _reals(st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 0.3])),
    "v_dim_factor": _reals(st.sampled_from([0.5, 1.0, 2.0, 0.7])),
    "gate_soft_cap": _optional(_reals(st.floats(0.1, 100))),
    "output_logit_soft_cap": _optional(_reals(st.floats(0.1, 100))),
    "igate_bias_init": _reals(st.floats(-20, 20), positive=False),
    "fgate_bias_init": _bias_pairs(),
    "chunk_size": (
        st.one_of(st.sampled_from(_POWERS), st.sampled_from(_POWERS).map(np.int64)),
        st.one_of(st.integers(-4, 300).filter(lambda n: n not in _POWERS), st.floats(), _JUNK),
    ),
    "norm_eps": _reals(st.floats(1e-8, 1e-2)),
    "backend": _choice(BACKEND_NAMES),
    "normalizer_grad": _choice(("exact", "detached")),
}
_LLAMA_FIELDS = {"rope_theta": _reals(st.floats(1.0, 1e6)), "norm_eps": _reals(st.floats(1e-8, 1e-2))}
_CONFIG_FIELDS = {
    "family": _choice(("xlstm", "llama")),
    "vocab_size": _ints(st.integers(1, 512)),
    "d_model": _ints(st.sampled_from([8, 12, 16, 24, 32, 48, 64])),
    "n_layers": _ints(st.integers(1, 4)),
    "n_heads": _ints(st.sampled_from([1, 2, 3, 4, 8])),
    "d_ff": _optional(_ints(st.integers(1, 256))),
    "context_length": _ints(st.integers(1, 4096)),
}
_GROUPS = {"xlstm": _OPTION_FIELDS, "llama": _LLAMA_FIELDS, "config": _CONFIG_FIELDS}


_KEYS = [(group, name) for group, fields in _GROUPS.items() for name in fields]


@st.composite
def _labelled_fields(draw, bad=None):
    """({group: {field: value}}, set of (group, field) drawn from the bad values).

    ``bad`` fixes that set; by default it is drawn: empty, one field or two fields.
    """
    if bad is None:
        key = st.sampled_from(_KEYS)
        bad = draw(st.one_of(st.just(set()), key.map(lambda k: {k}), st.sets(key, min_size=2, max_size=2)))
    values = {group: {} for group in _GROUPS}
    for group, name in _KEYS:
        good, wrong = _GROUPS[group][name]
        values[group][name] = draw(wrong if (group, name) in bad else good)
    return values, bad


def _fits(cfg_values: dict, opt_values: dict) -> bool:
    """Whether good field values fit together: H divides d; xLSTM qk and v widths are whole multiples of H;
    the Llama head dim is even (rotary embeddings)."""
    d, h = int(cfg_values["d_model"]), int(cfg_values["n_heads"])
    if d % h:
        return False
    if cfg_values["family"] == "llama":
        return (d // h) % 2 == 0
    for factor in (opt_values["qk_dim_factor"], opt_values["v_dim_factor"]):
        width = d * float(factor)
        if width != math.floor(width) or int(width) % h:
            return False
    return True


def _build(values):
    options = dict(xlstm=XLSTMOptions(**values["xlstm"]), llama=LlamaOptions(**values["llama"]))
    return ModelConfig(**values["config"], **options)


def _check_one(values, bad) -> str:
    """Build one drawn config; assert it builds exactly when expected. Returns what kind of case it was."""
    expect_ok = not bad and _fits(values["config"], values["xlstm"])
    try:
        cfg = _build(values)
    except ConfigError as err:
        assert not expect_ok, f"a valid config was refused: {err}"
        return "misfit" if not bad else "bad"
    assert expect_ok, f"an invalid config was accepted: {values} (bad fields: {bad})"
    for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "context_length"):
        assert type(getattr(cfg, name)) is int
    assert type(cfg.xlstm.chunk_size) is int and isinstance(cfg.xlstm.fgate_bias_init, tuple)
    hash(cfg)
    return "valid"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(drawn=_labelled_fields())
def test_every_generated_config_builds_or_raises_config_error(drawn):
    _check_one(*drawn)


@pytest.mark.parametrize("key", _KEYS, ids=[f"{g}.{n}" for g, n in _KEYS])
def test_a_bad_value_in_any_one_field_raises_config_error(key):
    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(drawn=_labelled_fields(bad={key}))
    def check(drawn):
        assert _check_one(*drawn) == "bad"

    check()


def test_good_values_build_exactly_when_the_sizes_fit():
    seen = set()

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(drawn=_labelled_fields(bad=set()))
    def check(drawn):
        seen.add(_check_one(*drawn))

    check()
    assert seen == {"valid", "misfit"}  # both kinds occurred, so the property was exercised both ways


@st.composite
def _valid_configs(draw):
    family = draw(st.sampled_from(["xlstm", "llama"]))
    n_heads = draw(st.integers(1, 4))
    # d = 8 H m makes every qk/v factor below a whole multiple of H, and the Llama head dim (8 m) even
    d_model = 8 * n_heads * draw(st.integers(1, 4))
    opts = XLSTMOptions(
        qk_dim_factor=draw(st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5, 2.0])),
        v_dim_factor=draw(st.sampled_from([0.25, 0.5, 1.0, 2.0])),
    )
    return ModelConfig(
        family,
        vocab_size=draw(st.integers(1, 600)),
        d_model=d_model,
        n_layers=draw(st.integers(1, 3)),
        n_heads=n_heads,
        d_ff=draw(st.one_of(st.none(), st.integers(1, 300))),
        xlstm=opts,
    )


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cfg=_valid_configs())
def test_count_params_equals_the_built_module(cfg):
    with torch.device("meta"):
        model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)
    ends = ("embedding.weight", "head.weight")
    matmuls_and_biases = sum(p.numel() for n, p in model.named_parameters() if "norm" not in n and n not in ends)
    assert count_params(cfg, embedding=False, head=False, norms=False) == matmuls_and_biases


@pytest.mark.parametrize("value", [np.int64(64), 64])
def test_numpy_and_python_ints_build_the_same_model(value):
    cfg = ModelConfig("llama", 256, value, 2, 4)
    with torch.device("meta"):
        assert sum(p.numel() for p in build_model(cfg).parameters()) == count_params(cfg)
