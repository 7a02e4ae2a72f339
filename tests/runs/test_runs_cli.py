"""``xlstm-lab sweep`` and ``xlstm-lab runs``: exit codes and one-line errors (subprocesses), list and export.

The stores here are filled with the stand-in trainer; the end-to-end test with the real trainer is in
test_runs_end_to_end.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from runs_testlib import fake_train, plan_of

from xlstm_lab.cli import main
from xlstm_lab.runs import EXPORT_COLUMNS, RunStore, run_sweep

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xlstm_lab.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, check=False)


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlstm-lab: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A store with an IsoFLOP grid of done runs (3 budgets x 6 sizes), one failed and one diverged run."""
    import dataclasses

    from xlstm_lab.runs.expand import PlannedRun, SweepPlan

    path = tmp_path_factory.mktemp("store") / "lab.sqlite"
    grid = plan_of(sizes=[8e3, 1.6e4, 3.2e4, 6.4e4, 1.28e5, 2.56e5], budgets=[1e12, 3e12, 1e13])
    run_sweep(path, grid, train_fn=fake_train, progress=False)
    base = grid.runs[0]
    odd = SweepPlan("isoflop", (PlannedRun(dataclasses.replace(base.spec, seed=7, extra={"fail": True}), base.plan),
                                PlannedRun(dataclasses.replace(base.spec, seed=8, extra={"diverge": True}), base.plan)))
    run_sweep(path, odd, train_fn=fake_train, progress=False)
    return path


def test_help_lists_the_commands():
    proc = _cli("--help")
    assert proc.returncode == 0 and "sweep" in proc.stdout and "runs" in proc.stdout
    for kind in ("isoflop", "tokenparam", "context"):
        assert _cli("sweep", kind, "--help").returncode == 0
    assert "torch" not in subprocess.run(
        [sys.executable, "-c", "import sys; from xlstm_lab.cli import build_parser; build_parser(); "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"],
        capture_output=True, text=True, cwd=REPO, check=True).stdout.replace("[]", "")


def test_unknown_family_exits_2(tmp_path):
    _one_line_error(_cli("sweep", "isoflop", "--store", str(tmp_path / "s.sqlite"), "--families", "xlstm,mamba",
                         "--budgets", "1e12"), "unknown family 'mamba'", "--families xlstm,llama")


def test_bad_lists_exit_2(tmp_path):
    store = str(tmp_path / "s.sqlite")
    _one_line_error(_cli("sweep", "isoflop", "--store", store, "--budgets", "1e12,big"), "--budgets", "'big'")
    _one_line_error(_cli("sweep", "isoflop", "--store", store, "--budgets", "1e12", "--seeds", "0,-1"), "--seeds")
    _one_line_error(_cli("sweep", "isoflop", "--store", store, "--budgets", "1e12", "--sizes", "huge"), "--sizes")


def test_not_a_run_store_exits_2(tmp_path):
    csv = tmp_path / "runs.csv"
    csv.write_text("N,D,loss\n1,2,3\n")
    _one_line_error(_cli("runs", "list", "--store", str(csv)), "not an xlstm-lab run store", "--store")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    _one_line_error(_cli("sweep", "isoflop", "--store", str(other), "--budgets", "1e12"), "not an xlstm-lab run store")
    _one_line_error(_cli("runs", "export", "--store", str(tmp_path / "none.sqlite"), "--csv", str(tmp_path / "o.csv")),
                    "no run store at")


def test_locked_store_exits_2(tmp_path):
    path = tmp_path / "lab.sqlite"
    RunStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        proc = _cli("sweep", "isoflop", "--store", str(path), "--families", "llama", "--budgets", "1e12",
                    "--lock-timeout", "0.3", "--no-progress")
    finally:
        holder.execute("ROLLBACK")
    _one_line_error(proc, "is locked", "--lock-timeout")


def test_runs_list_table_and_status_filter(filled, capsys):
    assert main(["runs", "list", "--store", str(filled)]) == 0
    out = capsys.readouterr().out
    assert "20 runs in" in out and "18 done" in out and "1 failed" in out and "1 diverged" in out
    assert main(["runs", "list", "--store", str(filled), "--status", "failed"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 runs with status failed") and "told to fail" in out[2]
    assert main(["runs", "list", "--store", str(filled), "--status", "running"]) == 0
    assert "no runs with status running" in capsys.readouterr().out
    assert main(["runs", "list", "--store", str(filled), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 20 and {r["status"] for r in rows} == {"done", "failed", "diverged"}
    assert all(r["val_loss"] is None for r in rows if r["status"] != "done")


def test_export_columns_and_default_done_only(filled, tmp_path):
    out = tmp_path / "runs.csv"
    proc = _cli("runs", "export", "--store", str(filled), "--csv", str(out))
    assert proc.returncode == 0 and "wrote 18 runs" in proc.stdout
    df = pd.read_csv(out)
    assert tuple(df.columns) == EXPORT_COLUMNS and set(df["status"]) == {"done"}
    with RunStore(filled, create=False) as store:
        for row in df.itertuples():
            rec = store.get(row.key)
            assert row.N_params == rec.plan.n_params and row.D_tokens == rec.plan.tokens
            assert row.C_flops_training == rec.plan.flops and row.val_loss == rec.val_loss
            assert row.val_bpb == pytest.approx(rec.val_loss / 0.6931471805599453, rel=1e-12)
            assert abs(row.C_flops_training - row.budget_flops) < rec.plan.flops_per_step  # within one step
    assert main(["runs", "export", "--store", str(filled), "--csv", str(out), "--all"]) == 0
    assert len(pd.read_csv(out)) == 20


def test_export_of_an_empty_selection_exits_2(filled, tmp_path):
    _one_line_error(_cli("runs", "export", "--store", str(filled), "--csv", str(tmp_path / "o.csv"), "--status",
                         "running"), "no runs with status running", "--all")


def test_exported_csv_fits_with_no_column_flags(filled, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert main(["runs", "export", "--store", str(filled), "--csv", str(out)]) == 0
    capsys.readouterr()
    assert main(["fit", "isoflop", str(out)]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "loss column val_loss" in text and "N_opt(C)" in text
    assert main(["fit", "parametric", str(out)]) in (0, 3)  # 18 runs: the fit runs; its status is its own business
    assert "loss column val_loss" in capsys.readouterr().out
