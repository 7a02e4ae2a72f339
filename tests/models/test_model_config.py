"""ModelConfig validation, the FFN rounding rule, named shapes and the torch-free import rule."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from xlstm_lab.models.config import (
    ConfigError,
    IncompatibleShapeError,
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
