"""Registry: every shipped file loads with its schema, matches the data card's checksum and row count."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from xlstm_lab.anchors import (
    REGISTRY,
    AnchorChecksumError,
    AnchorSchemaError,
    data_path,
    file_sha256,
    load,
)

# Row counts and sha256 as written on the data cards (shared/anchor_data/*/SOURCE.md); gpu_h100 from CONVERSION.md.
CARD = {
    "xlstm_runs": (459, "41063fd34f5a427f37597cff2556c996dec454ad851e17a94a2c50f780f921f8"),
    "xlstm_tokenparam": (66, "6b3e55afcd5b468a28feb2864d3628645f9fe38337cd274b4d2f6db2c85f0639"),
    "xlstm_inference": (2340, "3c1be2e8668f845926a81663ecae87ed91f6a1af70a19bdf8d1f56c91a57125d"),
    "xlstm_inference_fit": (1560, "895f5968f093c637622e663b115137b5401bd469510209b90688b008592cf731"),
    "gadre_overtraining": (104, "cfab7ea92e59a494a8e5c480e11944787fef5a2cafe263278f5b80d0dd833858"),
    "gpu_h100": (165, "59576e4e4defe3620fca1eb9c50f8cd1ea8f131c97f721e23f42f4fce81cf3eb"),
}
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "anchor_data"


def test_registry_names_match_cards():
    # lab_runs is our own sweep export; its card and checksum are checked in test_lab_runs.py.
    assert set(REGISTRY) - {"lab_runs"} == set(CARD)


@pytest.mark.parametrize("name", sorted(CARD))
def test_loads_with_card_rows_and_checksum(name):
    rows, sha = CARD[name]
    assert file_sha256(data_path(name)) == sha
    assert REGISTRY[name].sha256 == sha
    df = load(name)
    assert len(df) == rows == REGISTRY[name].n_rows
    for col in REGISTRY[name].columns:
        s = df[col.name]
        if col.kind == "int":
            assert pd.api.types.is_integer_dtype(s) and s.notna().all(), col.name
        elif col.kind == "float":
            assert s.dtype == "float64", col.name
        elif col.kind == "bool":
            assert s.dtype == "boolean", col.name
        else:
            assert pd.api.types.is_string_dtype(s) or s.isna().all(), col.name


@pytest.mark.parametrize("name", sorted(CARD))
def test_card_ships_next_to_data(name):
    folder = data_path(name).parent
    assert (folder / "SOURCE.md").is_file()
    if name == "gadre_overtraining":
        assert "MIT License" in (folder / "LICENSE").read_text()


@pytest.mark.parametrize(
    "name", ["xlstm_runs", "xlstm_tokenparam", "xlstm_inference", "xlstm_inference_fit", "gadre_overtraining"]
)
def test_byte_identical_with_shared_copy(name):
    src = SHARED / data_path(name).parent.name / data_path(name).name
    if not src.is_file():
        pytest.skip("shared anchor_data not available on this machine")
    assert src.read_bytes() == data_path(name).read_bytes()


def test_gpu_csv_holds_every_jsonl_record():
    src = SHARED / "gpu_h100" / "results.jsonl"
    if not src.is_file():
        pytest.skip("shared anchor_data not available on this machine")
    records = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    df = pd.read_csv(data_path("gpu_h100"), dtype=str, keep_default_na=False)
    assert len(df) == len(records)
    for i, rec in enumerate(records):
        for key, val in rec.items():
            cell = df.at[i, key]
            if isinstance(val, (list, dict)):
                assert json.loads(cell) == val
            elif isinstance(val, bool) or isinstance(val, str):
                assert cell == str(val)
            else:
                assert float(cell) == val  # repr round-trips exactly


def test_gpu_ceilings_from_card():
    # SOURCE.md section C: matmul 773 / 738 TFLOP/s, copy 3.002 / 3.000 TB/s (runs 2 and 3).
    df = load("gpu_h100")
    c = df[df["sec"] == "C"]
    assert sorted(round(x) for x in c["tflops"].dropna()) == [738, 773]
    assert sorted(round(x, 3) for x in c["tb_s"].dropna()) == [3.0, 3.002]


def _copy_with(tmp_path: Path, name: str, edit) -> Path:
    data = data_path(name).read_bytes()
    out = tmp_path / data_path(name).name
    out.write_bytes(edit(data))
    return out


def test_one_changed_byte_raises_checksum_error(tmp_path):
    def flip(b: bytes) -> bytes:  # change one digit in the last line
        i = b.rstrip().rfind(b"3")
        return b[:i] + b"4" + b[i + 1 :]

    p = _copy_with(tmp_path, "xlstm_runs", flip)
    with pytest.raises(AnchorChecksumError, match="was modified"):
        load("xlstm_runs", path=p)
    assert len(load("xlstm_runs", path=p, verify=False)) == 459  # deliberate edits load with verify=False


def test_missing_column_is_named(tmp_path):
    df = pd.read_csv(data_path("xlstm_inference"))
    p = tmp_path / "inference.csv"
    df.drop(columns=["ttft_ms"]).to_csv(p, index=False)
    with pytest.raises(AnchorChecksumError):
        load("xlstm_inference", path=p)
    with pytest.raises(AnchorSchemaError, match="ttft_ms") as err:
        load("xlstm_inference", path=p, verify=False)
    assert isinstance(err.value, ValueError)


def test_wrong_dtype_is_named(tmp_path):
    df = pd.read_csv(data_path("xlstm_tokenparam"), dtype=str)
    df.loc[3, "val_dclm_loss"] = "oops"  # text in a float column
    df.loc[4, "num_train_steps"] = "1.5"  # a fraction in an int column
    p = tmp_path / "tp.csv"
    df.to_csv(p, index=False)
    with pytest.raises(AnchorSchemaError) as err:
        load("xlstm_tokenparam", path=p, verify=False)
    assert "val_dclm_loss" in str(err.value) and "num_train_steps" in str(err.value)


def test_bad_bool_value_rejected(tmp_path):
    df = pd.read_csv(data_path("xlstm_runs"), dtype=str)
    df.loc[0, "repo_selected"] = "yes"
    p = tmp_path / "runs.csv"
    df.to_csv(p, index=False)
    with pytest.raises(AnchorSchemaError, match="repo_selected"):
        load("xlstm_runs", path=p, verify=False)


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(KeyError, match="registered"):
        load("chinchilla_runs")
    with pytest.raises(FileNotFoundError):
        load("xlstm_runs", path=tmp_path / "nope.csv")


def test_import_is_torch_free():
    import subprocess
    import sys

    code = "import sys, xlstm_lab.anchors; assert 'torch' not in sys.modules, 'anchors imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
