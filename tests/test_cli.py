"""Tests of the ``xlstm-lab`` command line (xlstm_lab.cli): output, JSON, and clean failures with exit code 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.cli import main

REPO = Path(__file__).resolve().parents[1]
RUNS_CSV = REPO / "xlstm_lab/anchors/data/xlstm_scaling_laws/runs.csv"
LLAMA_8192 = ["--where", "family=llama", "--where", "context_length=8192", "--where", "experiment_set=isoflop",
              "--where", "repo_selected=True"]
# The card prints these to 4 significant digits (5e-4 relative; see tests/fit/test_isoflop.py).
REL_4SIG = 5e-4


def test_isoflop_json_reproduces_the_paper(capsys):
    rc = main(["fit", "isoflop", str(RUNS_CSV), *LLAMA_8192, "--budget-col", "isoflop_bucket",
               "--c-range", "5e18", "2e20", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0
    res = json.loads(out)
    assert res["n_opt"]["k"] == pytest.approx(0.002281, rel=REL_4SIG)
    assert res["n_opt"]["a"] == pytest.approx(0.5749, rel=REL_4SIG)
    assert res["d_opt"]["k"] == pytest.approx(58.46, rel=REL_4SIG)
    assert res["d_opt"]["a"] == pytest.approx(0.4243, rel=REL_4SIG)
    assert [row["budget"] for row in res["optima"]] == ["6e+18", "1e+19", "3e+19", "1e+20"]
    assert res["optima"][0]["N_opt"] == pytest.approx(1.438e8, rel=REL_4SIG)
    assert "only 4 points" in err  # the few-points warning reaches the user, without a traceback


def test_isoflop_table(capsys):
    rc = main(["fit", "isoflop", str(RUNS_CSV), *LLAMA_8192])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "N_opt(C) = 0.002281 * C^0.5749" in out and "D_opt(C) = 58.46 * C^0.4243" in out
    assert "1.438e+08" in out  # the first budget's N*, grouped by C (no --budget-col)


def test_missing_column_lists_available_columns(capsys):
    rc = main(["fit", "isoflop", str(RUNS_CSV), "--loss-col", "val_loss"])
    _, err = capsys.readouterr()
    assert rc == 2
    assert "['val_loss']" in err and "available columns" in err and "val_dclm_loss" in err
    assert "Traceback" not in err


def test_missing_file_and_bad_csv(capsys, tmp_path):
    assert main(["fit", "isoflop", str(tmp_path / "nope.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("")
    assert main(["fit", "isoflop", str(tmp_path / "empty.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_fit_error_is_reported_not_raised(capsys):
    """Without repo_selected, the ctx-8192 Llama runs include failed runs with NaN N: the InvalidInputError
    becomes one line on stderr."""
    rc = main(["fit", "isoflop", str(RUNS_CSV), "--where", "family=llama", "--where", "context_length=8192"])
    _, err = capsys.readouterr()
    assert rc == 2 and err.startswith("xlstm-lab: error: fit_isoflop") and "NaN" in err


@pytest.mark.parametrize("fit", ["isoflop", "parametric"])
def test_a_file_mixing_families_or_contexts_is_refused(fit, capsys):
    """Pooling two families (or two contexts) into one law would be silently wrong: exit 2 with the --where fix."""
    assert main(["fit", fit, str(RUNS_CSV)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixes 2 values of family (llama, xlstm_mlstm_v1)" in err
    assert "--where family=llama" in err
    assert main(["fit", fit, str(RUNS_CSV), "--where", "family=llama"]) == 2
    err = capsys.readouterr().err
    assert "mixes 3 values of context_length (16384, 2048, 8192)" in err and "--where context_length=16384" in err


def test_bad_where_and_usage(capsys):
    assert main(["fit", "isoflop", str(RUNS_CSV), "--where", "family"]) == 2
    assert "COL=VALUE" in capsys.readouterr().err
    assert main(["fit", "isoflop", str(RUNS_CSV), "--where", "family=gpt"]) == 2
    assert "no rows left" in capsys.readouterr().err
    assert main(["fit"]) == 2  # argparse usage error
    assert main(["fit", "isoflop", "--help"]) == 0


def test_module_entry_point_subprocess():
    cmd = [sys.executable, "-m", "xlstm_lab.cli", "fit", "isoflop", str(RUNS_CSV), *LLAMA_8192, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_opt"]["a"] == pytest.approx(0.5749, rel=REL_4SIG)
    bad = subprocess.run([*cmd[:5], str(REPO / "missing.csv")], capture_output=True, text=True, cwd=REPO,
                         timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "file not found" in bad.stderr


def test_parametric_json(capsys, tmp_path):
    """Runs from a known surface with gamma = 1 (the default, no --gamma): the JSON has the published keys, and
    its parameters predict the runs' losses (the parameters themselves are poorly identified, so the card
    compares losses: |dL| < 0.01 there; noiseless data here, so 1e-3)."""
    pytest.importorskip("xlstm_lab.fit.surface")
    e, a, b, alpha, beta = 1.8, 400.0, 1200.0, 0.34, 0.37
    n = np.repeat(np.logspace(7.5, 9.5, 6), 5)
    d = n * np.tile([5.0, 10.0, 20.0, 50.0, 100.0], 6)
    loss = e + a / n**alpha + b / d**beta
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N_params": n, "D_tokens": d, "val_dclm_loss": loss}).to_csv(path, index=False)
    rc = main(["fit", "parametric", str(path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads(out)
    assert {"E", "A", "B", "alpha", "beta", "gamma", "objective"} <= set(res)
    assert res["gamma"] == 1.0 and res["fit_gamma"] is False
    pred = res["E"] + (res["A"] / n ** res["alpha"] + res["B"] / d ** res["beta"]) ** res["gamma"]
    assert np.max(np.abs(pred - loss)) < 1e-3
    assert main(["fit", "parametric", str(path)]) == 0
    assert "objective" in capsys.readouterr().out
    assert main(["fit", "parametric", str(path), "--d-col", "tokens"]) == 2
    assert "available columns: ['N_params', 'D_tokens', 'val_dclm_loss']" in capsys.readouterr().err


# --- exit codes, the lab's run store, bad input ------------------------------------------------------------------
def _lab_csv(path, *, budgets=(6e18, 1e19, 3e19, 1e20), seeds=2, flip=None):
    """A CSV like the lab's run store export: val_loss (nats/byte), several seeds per shape, C scattered ~0.5%."""
    from xlstm_lab.fit import simulate_isoflop

    rng = np.random.default_rng(0)
    parts = []
    for seed in range(seeds):
        d = simulate_isoflop(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, budgets=budgets, noise=0.003,
                             seed=seed + 1)
        parts.append(d.assign(seed=seed))
    d = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame({"family": "xlstm", "context_length": 2048, "N_params": d["N"], "D_tokens": d["D"],
                        "C_flops_training": d["C"] * np.exp(rng.normal(0, 0.005, len(d))), "budget_flops": d["C"],
                        "seed": d["seed"], "status": "finished", "val_loss": d["loss"]})
    if flip is not None:  # this budget's parabola opens downward
        m = out["budget_flops"] == flip
        out.loc[m, "val_loss"] = 10 - out.loc[m, "val_loss"]
    out.to_csv(path, index=False)
    return out


def test_lab_run_store_csv_needs_no_column_flags(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    _lab_csv(path)
    assert main(["fit", "isoflop", str(path)]) == 0
    out = capsys.readouterr().out
    assert "loss column val_loss" in out and "N_opt(C) =" in out
    assert main(["fit", "isoflop", str(path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["loss_col"] == "val_loss" and res["status"] == "ok" and "notes" in res and res["conf"] == 0.95
    assert all(row["N_opt_lo"] < row["N_opt"] < row["N_opt_hi"] for row in res["optima"])
    assert main(["fit", "parametric", str(path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["loss_col"] == "val_loss" and res["status"] == "ok" and res["n_points"] == 72
    pd.read_csv(path).drop(columns="val_loss").to_csv(path, index=False)
    assert main(["fit", "isoflop", str(path)]) == 2
    err = capsys.readouterr().err
    assert "val_dclm_loss" in err and "val_loss" in err and "--loss-col" in err


def test_status_not_ok_exits_3_with_one_warning_and_still_prints(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    _lab_csv(path, flip=1e19)
    rc = main(["fit", "isoflop", str(path), "--on-no-minimum", "skip", "--json"])
    out, err = capsys.readouterr()
    assert rc == 3 and json.loads(out)["status"] == "skipped_budgets"
    status_lines = [line for line in err.splitlines() if "fit status" in line]
    assert status_lines == [status_lines[0]] and "'skipped_budgets'" in status_lines[0]
    assert "--exclude-budget" in status_lines[0] and status_lines[0].startswith("xlstm-lab: warning: fit status")
    assert main(["fit", "isoflop", str(path)]) == 2  # the default still refuses the broken budget
    assert "opens downward" in capsys.readouterr().err
    _lab_csv(path)
    assert main(["fit", "isoflop", str(path), "--c-range", "5e19", "2e20"]) == 3
    out, err = capsys.readouterr()
    assert "status no_power_law" in out and "'no_power_law'" in err and "--c-range" in err


def test_parametric_status_not_ok_exits_3(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    _lab_csv(path, budgets=(1e19,), seeds=3)  # one budget: E, A, B cannot be separated
    assert main(["fit", "parametric", str(path)]) == 3
    out, err = capsys.readouterr()
    assert re.search(r"status\s+= unidentified", out)
    assert "fit status 'unidentified'" in err and "one line" in err


def test_parametric_bootstrap_options(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    _lab_csv(path, budgets=(6e18, 3e19, 1e20), seeds=1)
    args = ["fit", "parametric", str(path), "--n-bootstrap", "3", "--seed", "5", "--level", "0.9", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["n_bootstrap"] == 3 and first["n_boot_dropped"] == 0 and set(first["intervals"]) >= {"alpha", "E"}
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["intervals"] == first["intervals"]  # seeded: reproducible
    assert main(["fit", "parametric", str(path), "--level", "95"]) == 2  # checked before any fitting
    assert "--level must be in (0, 1)" in capsys.readouterr().err


def test_isoflop_without_a_tokens_column(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    _lab_csv(path).drop(columns="D_tokens").to_csv(path, index=False)
    assert main(["fit", "isoflop", str(path), "--no-d", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["d_opt"] is None and res["n_opt"]["a"] == pytest.approx(0.28 / 0.62, abs=0.05)


def test_bad_rows_are_named_by_their_csv_line(capsys, tmp_path):
    """After --where the row positions change; the message must point at the line of the file."""
    path = tmp_path / "runs.csv"
    runs = _lab_csv(path)
    runs["family"] = np.where(np.arange(len(runs)) % 2 == 0, "xlstm", "llama")
    runs.loc[10, "N_params"] = -5.0  # data row 10 is line 12 (header = line 1); kept by --where family=xlstm
    runs.to_csv(path, index=False)
    assert main(["fit", "isoflop", str(path), "--where", "family=xlstm"]) == 2
    err = capsys.readouterr().err
    assert "N (column 'N_params') must be > 0 but is not at CSV line 12;" in err
    runs.loc[10, "N_params"] = 1e8
    runs = runs.astype({"val_loss": object})
    runs.loc[7, "val_loss"] = "diverged"
    runs.to_csv(path, index=False)
    assert main(["fit", "parametric", str(path), "--where", "family=llama"]) == 2
    err = capsys.readouterr().err
    assert "loss (column 'val_loss') must be numeric" in err and "'diverged'" in err and "CSV line 9;" in err


def test_non_positive_loss_exits_2(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    runs = _lab_csv(path)
    runs.loc[3, "val_loss"] = -1.0
    runs.to_csv(path, index=False)
    assert main(["fit", "isoflop", str(path)]) == 2
    assert "must be > 0 but is not at CSV line 5" in capsys.readouterr().err


def test_unreadable_files_are_one_line_errors(capsys, tmp_path):
    (tmp_path / "header.csv").write_text("N_params,D_tokens,C_flops_training,val_loss\n")
    assert main(["fit", "isoflop", str(tmp_path / "header.csv")]) == 2
    err = capsys.readouterr().err
    assert "header but no data rows" in err and "--where" not in err
    assert main(["fit", "isoflop", str(RUNS_CSV / "x.csv")]) == 2  # a path through a file: NotADirectoryError
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
    assert main(["fit", "isoflop", str(tmp_path)]) == 2  # a directory
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "semi.csv").write_text("N_params;D_tokens;C_flops_training;val_loss\n1e8;1e9;6e17;3.1\n")
    assert main(["fit", "parametric", str(tmp_path / "semi.csv")]) == 2
    assert "separated by semicolons" in capsys.readouterr().err
