"""ModelConfig validation, the FFN rounding rule, named shapes and the torch-free import rule."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.models.config import (
    BACKEND_NAMES,
    ConfigError,
    IncompatibleShapeError,
    LlamaOptions,
    ModelConfig,
    UnknownFamilyError,
    XLSTMOptions,
    default_d_ff,
)
from xlstm_lab.models.shapes import (
    ShapeNotFoundError,
    config_from_inference_row,
    config_from_runs_row,
    get_shape,
    list_shapes,
)

# the in-repo copy (tests never read /work/shared); located from this file, not from xlstm_lab.__file__,
# which is None when the package is imported through an editable-install finder
DATA = Path(__file__).resolve().parents[2] / "xlstm_lab" / "anchors" / "data" / "xlstm_scaling_laws"


@pytest.fixture(scope="module")
def runs():
    return pd.read_csv(DATA / "runs.csv")


def test_valid_config_derives_head_dims():
    cfg = ModelConfig("xlstm", vocab_size=50304, d_model=768, n_layers=12, n_heads=6)
    assert (cfg.qk_head_dim, cfg.v_head_dim) == (64, 128)  # 0.5 d / H and d / H
    assert cfg.d_ff == 2112  # the paper's xLSTM-160M FFN width
    llama = ModelConfig("llama", vocab_size=50304, d_model=768, n_layers=12, n_heads=12)
    assert (llama.qk_head_dim, llama.v_head_dim, llama.head_dim, llama.d_ff) == (64, 64, 64, 2048)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(family="xlstm", d_model=100, n_heads=3), IncompatibleShapeError, "divisible"),
        (dict(family="llama", d_model=100, n_heads=3), IncompatibleShapeError, "divisible"),
        (dict(family="mamba"), UnknownFamilyError, "family"),
        (dict(family="xlstm", d_model=72, n_heads=8), IncompatibleShapeError, "qk width"),  # 36 qk / 8 heads
        (dict(family="llama", d_model=96, n_heads=32), IncompatibleShapeError, "even head dim"),
        (dict(family="llama", n_layers=0), ConfigError, "n_layers"),
        (dict(family="llama", vocab_size=-5), ConfigError, "vocab_size"),
        (dict(family="llama", d_model=64.0), ConfigError, "int"),
        (dict(family="llama", d_ff=0), ConfigError, "d_ff"),
    ],
)
def test_bad_configs_raise_clear_errors(kwargs, error, words):
    base = dict(family="llama", vocab_size=256, d_model=64, n_layers=2, n_heads=4)
    base.update(kwargs)
    with pytest.raises(error, match=words):
        ModelConfig(**base)
    assert issubclass(error, ValueError)


def test_bad_options_raise():
    with pytest.raises(ConfigError, match="chunk_size"):
        XLSTMOptions(chunk_size=0)
    with pytest.raises(ConfigError, match="normalizer_grad"):
        XLSTMOptions(normalizer_grad="approx")
    with pytest.raises(UnknownFamilyError):
        default_d_ff("rwkv", 512)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        # the review's cases: each used to be accepted, or to fail later with an unrelated message
        (dict(chunk_size=64.5), "chunk_size must be an int"),  # fractional FLOPs, then a TypeError in pad()
        (dict(backend="bogus"), "backend must be one of"),  # failed only at forward time
        (dict(fgate_bias_init=(3.0,)), "pair"),  # "not enough values to unpack"
        (dict(igate_bias_init=math.nan), "igate_bias_init must be finite"),  # accepted
        # neighbours of those
        (dict(chunk_size=24), "power of two"),  # the kernels tile by powers of two >= 16
        (dict(chunk_size=8), "power of two"),
        (dict(chunk_size=True), "chunk_size must be an int"),
        (dict(fgate_bias_init="36"), "pair"),
        (dict(fgate_bias_init=(6.0, 3.0)), "low <= high"),
        (dict(fgate_bias_init=(3.0, math.inf)), "finite"),
        (dict(fgate_bias_init=3.0), "pair"),
        (dict(igate_bias_init="-10"), "real number"),
        (dict(gate_soft_cap=math.inf), "finite"),
        (dict(output_logit_soft_cap=0.0), "positive"),
        (dict(qk_dim_factor=math.inf), "finite"),
        (dict(v_dim_factor=None), "real number"),
        (dict(norm_eps=-1e-6), "positive"),
        (dict(normalizer_grad=["exact"]), "normalizer_grad"),
        (dict(backend=None), "backend"),
    ],
)
def test_bad_xlstm_options_raise_config_error(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        XLSTMOptions(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(rope_theta=math.nan), dict(norm_eps=0.0), dict(rope_theta="1e4")])
def test_bad_llama_options_raise_config_error(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        LlamaOptions(**kwargs)


def test_numpy_sizes_are_accepted_and_stored_as_python_numbers():
    # sizes read from a CSV or an array are numpy integers: they are whole numbers and must be accepted
    i64 = np.int64
    cfg = ModelConfig("xlstm", i64(256), i64(64), i64(2), i64(2), i64(176), i64(128),
                      xlstm=XLSTMOptions(chunk_size=i64(32), qk_dim_factor=np.float32(0.5), fgate_bias_init=[3, 6]))
    plain = ModelConfig("xlstm", 256, 64, 2, 2, 176, 128, xlstm=XLSTMOptions(chunk_size=32))
    assert cfg == plain and hash(cfg) == hash(plain)
    for value in (cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.context_length,
                  cfg.xlstm.chunk_size):
        assert type(value) is int
    assert type(cfg.xlstm.qk_dim_factor) is float and cfg.xlstm.fgate_bias_init == (3.0, 6.0)
    with pytest.raises(ConfigError, match="int"):
        ModelConfig("llama", 256, np.float64(64.0), 2, 4)
    with pytest.raises(ConfigError, match="int"):
        ModelConfig("llama", 256, 64, np.bool_(True), 4)


def test_backend_names_are_the_kernel_registry():
    # the config keeps its own torch-free list of backends: it must not drift from the kernels' registry
    from xlstm_lab.kernels.mlstm import BACKENDS

    assert set(BACKEND_NAMES) == {"auto", *BACKENDS}


@pytest.mark.parametrize("chunk", [1, 8, 15, 16, 24, 32, 48, 64, 96, 128, 256])
def test_chunk_size_rule_matches_what_the_kernels_accept(chunk):
    # a config is accepted exactly when its chunk size runs on the chunkwise kernels
    import torch

    from xlstm_lab.kernels.mlstm import mlstm

    try:
        XLSTMOptions(chunk_size=chunk)
        config_ok = True
    except ConfigError:
        config_ok = False
    q = torch.zeros(1, 1, 4, 8)
    try:
        mlstm(q, q, q, q[..., 0], q[..., 0], backend="torch_chunkwise", chunk_size=chunk)
        kernel_ok = True
    except ValueError:
        kernel_ok = False
    assert config_ok == kernel_ok


def test_default_d_ff_reproduces_every_runs_csv_ffn_dim(runs):
    # the paper rounds ceil (xLSTM) or floor (Llama) of 2.667 d, then up to a multiple of 64
    for row in runs.itertuples():
        family = "xlstm" if row.family == "xlstm_mlstm_v1" else "llama"
        assert default_d_ff(family, row.d_model, row.proj_factor_ffn, row.ffn_multiple_of) == row.ffn_dim


def test_every_runs_row_gives_a_config(runs):
    configs = {config_from_runs_row(row) for _, row in runs.iterrows()}
    assert all(c.vocab_size == 50304 for c in configs)
    assert {c.family for c in configs} == {"xlstm", "llama"}


def test_paper_shapes_match_runs_csv_configs(runs):
    # every paper shape whose (d_model, blocks) appears in runs.csv has the same FFN width there
    checked = 0
    for name in list_shapes():
        cfg = get_shape(name)
        fam = "xlstm_mlstm_v1" if cfg.family == "xlstm" else "llama"
        same = runs[(runs.family == fam) & (runs.d_model == cfg.d_model) & (runs.num_blocks == cfg.n_layers)]
        if len(same):
            assert set(same.ffn_dim) == {cfg.d_ff}, name
            checked += 1
    assert checked >= 6


def test_shape_registry():
    assert list_shapes("xlstm")[0] == "xlstm-tiny" and list_shapes("llama")[-1] == "llama-7b"
    assert len(list_shapes()) == len(list_shapes("xlstm")) + len(list_shapes("llama"))
    assert get_shape("xlstm-7b", context_length=16384).context_length == 16384
    with pytest.raises(ShapeNotFoundError, match="xlstm-9b"):
        get_shape("xlstm-9b")
    with pytest.raises(ConfigError):
        list_shapes("gpt")
    with pytest.raises(IncompatibleShapeError):
        replace(get_shape("llama-tiny"), n_heads=3)


def test_runs_rows_with_fractional_or_missing_sizes_raise(runs):
    row = runs[runs.family == "xlstm_mlstm_v1"].iloc[0].to_dict()
    same = config_from_runs_row(row)
    for whole in (float(row["d_model"]), str(row["d_model"]), f"{row['d_model']}.0"):  # CSV floats, strings
        assert config_from_runs_row({**row, "d_model": whole}) == same
    for bad in (row["d_model"] + 0.5, "n/a", float("nan"), None):
        with pytest.raises(ConfigError, match="d_model"):
            config_from_runs_row({**row, "d_model": bad})


def test_inference_rows_give_configs():
    inf = pd.read_csv(DATA / "inference.csv")
    row = inf[inf.model == "xlstm_7b"].iloc[0]
    cfg = config_from_inference_row(row)
    assert (cfg.family, cfg.d_model, cfg.n_heads, cfg.xlstm.chunk_size) == ("xlstm", 4096, 8, 128)
    llama3 = inf[inf.family == "llama3"].iloc[0]
    with pytest.raises(ConfigError, match="llama3"):
        config_from_inference_row(llama3)


def test_accounting_and_configs_import_without_torch():
    code = (
        "import sys; import xlstm_lab.accounting, xlstm_lab.models.config, xlstm_lab.models; "
        "from xlstm_lab.models import ModelConfig, get_shape; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
