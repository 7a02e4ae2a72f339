"""The sweep driver with a stand-in trainer: skip finished runs, redo unfinished ones, resume from checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from runs_testlib import TICKS, _save, big_corpus_stub, fake_rules, fake_train

from xlstm_lab.runs import (
    ExecutorError,
    LocalExecutor,
    RunStore,
    SweepSettings,
    checkpoint_root,
    isoflop_plan,
    run_sweep,
)
from xlstm_lab.runs.expand import PlannedRun, SweepPlan


@pytest.fixture
def plan():
    return isoflop_plan(["llama"], [3e11], sizes=[1e4, 2e4, 4e4], settings=SweepSettings(corpus="stub"),
                        rules=fake_rules(), corpus=big_corpus_stub())


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(path))
    return lambda: [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sweep_trains_then_skips_finished_runs(tmp_path, plan, log):
    path = tmp_path / "lab.sqlite"
    report = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert set(report.ran) == {r.key for r in plan.runs} and set(report.ran.values()) == {"done"}
    assert len(log()) == 3
    with RunStore(path) as store:
        for r in plan.runs:
            rec = store.get(r.key)
            assert rec.status == "done" and rec.plan == r.plan and rec.val_loss > 0
    assert not any(checkpoint_root(path).glob("*/tick.json"))  # finished runs' checkpoints are removed
    again = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert again.ran == {} and set(again.finished_before) == set(report.ran)
    assert len(log()) == 3  # nothing trained twice


def test_failed_runs_are_redone_diverged_ones_are_not(tmp_path, log):
    base = isoflop_plan(["llama"], [3e11], sizes=[1e4], settings=SweepSettings(corpus="stub"), rules=fake_rules(),
                        corpus=big_corpus_stub()).runs[0]
    import dataclasses

    fail = PlannedRun(dataclasses.replace(base.spec, seed=1, extra={"fail": True}), base.plan)
    div = PlannedRun(dataclasses.replace(base.spec, seed=2, extra={"diverge": True}), base.plan)
    plan = SweepPlan("isoflop", (fail, div))
    path = tmp_path / "lab.sqlite"
    report = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert report.ran == {fail.key: "failed", div.key: "diverged"} and report.failed == [fail.key]
    with RunStore(path) as store:
        assert "told to fail" in store.get(fail.key).error
    report = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert report.ran == {fail.key: "failed"} and report.finished_before == (div.key,)
    with RunStore(path) as store:
        assert store.get(fail.key).attempts == 2


def test_unfinished_run_resumes_from_its_checkpoint(tmp_path, plan, log):
    path = tmp_path / "lab.sqlite"
    first = plan.runs[0]
    with RunStore(path) as store:  # a killed process left this run "running" with a checkpoint at tick 6
        store.register(first.spec, first.plan)
        store._conn.execute("UPDATE runs SET status='running', owner=? WHERE key=?",
                            (f"{os.uname().nodename}:999999999", first.key))
    folder = checkpoint_root(path) / first.key
    folder.mkdir(parents=True)
    _save(str(folder), 6)
    report = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert report.resumed == (first.key,) and report.ran[first.key] == "done"
    starts = {c["key"]: c["start"] for c in log()}
    assert starts[first.key] == 6 and all(starts[r.key] == 0 for r in plan.runs[1:])
    assert 6 < TICKS


def test_interrupted_sweep_puts_its_run_back_to_pending(tmp_path, plan):
    calls = []

    def interrupted(spec, **kwargs):
        calls.append(spec.key())
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake_train(spec, **kwargs)

    path = tmp_path / "lab.sqlite"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, plan, train_fn=interrupted, progress=False)
    with RunStore(path) as store:
        assert [store.get(r.key).status for r in plan.runs] == ["done", "pending", "pending"]
    report = run_sweep(path, plan, train_fn=fake_train, progress=False)
    assert set(report.ran) == {r.key for r in plan.runs[1:]}


def test_local_executor_sets_and_restores_torch_threads(tmp_path, plan):
    import torch

    seen = []

    def recording(spec, **kwargs):
        seen.append(torch.get_num_threads())
        return fake_train(spec, **kwargs)

    before = torch.get_num_threads()
    run_sweep(tmp_path / "lab.sqlite", plan, executor=LocalExecutor(recording, threads=1), progress=False)
    assert seen == [1, 1, 1] and torch.get_num_threads() == before


@pytest.mark.slow
def test_local_workers_run_in_separate_processes_with_split_threads(tmp_path, plan, log):
    report = run_sweep(tmp_path / "lab.sqlite", plan, executor=LocalExecutor(fake_train, workers=2, threads=2),
                       progress=False)
    assert set(report.ran.values()) == {"done"}
    pids = {c["pid"] for c in log()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_cuda_without_a_gpu_is_an_executor_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    plan = isoflop_plan(["llama"], [3e11], sizes=[1e4], settings=SweepSettings(corpus="stub", device="cuda"),
                        rules=fake_rules(), corpus=big_corpus_stub())
    with pytest.raises(ExecutorError, match="no CUDA device"):
        run_sweep(tmp_path / "lab.sqlite", plan, train_fn=fake_train, progress=False)
    with RunStore(tmp_path / "lab.sqlite") as store:  # registered, not claimed: the next sweep runs them
        assert store.counts()["pending"] == 1


def test_checkpoint_root_is_beside_the_store():
    assert checkpoint_root("runs/lab.sqlite") == Path("runs/lab.ckpt")
