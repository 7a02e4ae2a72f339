"""The shipped lab runs: checksum and row count as on their data card, grids complete, losses plausible."""

from __future__ import annotations

import re

import numpy as np
import pytest

from xlstm_lab.anchors import REGISTRY, data_path, file_sha256, load_lab_runs
from xlstm_lab.runs import EXPORT_COLUMNS


def _card() -> str:
    return (data_path("lab_runs").parent / "SOURCE.md").read_text()


def test_card_states_the_shipped_checksum_and_rows():
    card = _card()
    sha = file_sha256(data_path("lab_runs"))
    assert REGISTRY["lab_runs"].sha256 == sha
    assert sha in card, "update lab_runs/SOURCE.md with the new sha256"
    rows = re.search(r"(\d+) runs", card)
    assert rows is not None and int(rows.group(1)) == REGISTRY["lab_runs"].n_rows == len(load_lab_runs())


def test_export_columns_and_finished_runs_only():
    df = load_lab_runs()
    assert list(df.columns) == list(EXPORT_COLUMNS)
    assert set(df["status"]) == {"done"}
    assert df["key"].is_unique
    # C spent within one optimizer step of the budget (the trainer's plan), and D = steps x batch x context.
    step_flops = df["C_flops_training"] / df["steps"]
    assert (abs(df["C_flops_training"] - df["budget_flops"]) <= 0.5 * step_flops + 1).all()
    assert (df["D_tokens"] == df["steps"] * df["batch_size"] * df["context_length"]).all()
    # Losses in nats per byte below the uniform byte model (ln 256) and bits = nats / ln 2.
    assert (df["val_loss"] < np.log(256)).all()
    np.testing.assert_allclose(df["val_bpb"], df["val_loss"] / np.log(2), rtol=1e-12)


def test_selection_errors_name_what_exists():
    with pytest.raises(ValueError, match="contexts"):
        load_lab_runs(ctx=12345)
    with pytest.raises(ValueError, match="unknown family"):
        load_lab_runs(family="mamba")
