"""The Ray executor against a real local Ray instance (``ray.init(num_cpus=2)``), not a mock."""

from __future__ import annotations

import json
import os
import sys

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor needs the `ray` extra (pip install 'xlstm-lab[ray]')")

import runs_testlib  # noqa: E402
from runs_testlib import fake_loss, fake_train, plan_of  # noqa: E402

from xlstm_lab.runs import RayExecutor, RunStore, run_sweep  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET", "1")}})
    # the stand-in trainers live in the tests folder, which workers cannot import: ship them by value
    here = sys.modules[__name__]
    for module in (runs_testlib, here):
        ray.cloudpickle.register_pickle_by_value(module)
    yield ray
    for module in (runs_testlib, here):
        ray.cloudpickle.unregister_pickle_by_value(module)
    ray.shutdown()


def test_ray_tasks_train_and_the_driver_stores_results(local_ray, tmp_path):
    log = tmp_path / "calls.jsonl"
    plan = plan_of(sizes=[1e4, 2e4, 4e4], seeds=[0, 1])
    executor = RayExecutor(cpus_per_run=1, train_fn=_logging_train(str(log)))
    report = run_sweep(tmp_path / "lab.sqlite", plan, executor=executor, progress=False)
    assert executor.slots == 2  # 2 CPUs / 1 CPU per run: two runs in flight at a time
    assert set(report.ran) == {r.key for r in plan.runs} and set(report.ran.values()) == {"done"}
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert os.getpid() not in {c["pid"] for c in calls}  # trained in Ray workers, not in the driver
    assert {c["threads"] for c in calls} == {1}  # torch threads = the task's CPUs
    with RunStore(tmp_path / "lab.sqlite", create=False) as store:
        assert store.integrity_check() == "ok"
        for r in store.records():
            assert r.status == "done" and r.val_loss == fake_loss(r.plan.n_params, r.plan.tokens, r.spec.seed)
    assert local_ray.is_initialized()  # the executor leaves an instance it did not start running
    again = run_sweep(tmp_path / "lab.sqlite", plan, executor=RayExecutor(train_fn=fake_train), progress=False)
    assert again.ran == {} and len(again.finished_before) == 6


def test_a_dying_worker_is_a_failed_run(local_ray, tmp_path):
    plan = plan_of(sizes=[1e4])
    report = run_sweep(tmp_path / "lab.sqlite", plan, executor=RayExecutor(train_fn=_dying_train), progress=False)
    assert report.failed == [plan.runs[0].key]
    with RunStore(tmp_path / "lab.sqlite", create=False) as store:
        error = store.get(plan.runs[0].key).error
    assert "returned no result" in error and "WorkerCrashedError" in error


def _logging_train(log: str):
    def train(spec, **kwargs):
        import torch

        with open(log, "a") as fh:
            fh.write(json.dumps({"key": spec.key(), "pid": os.getpid(), "threads": torch.get_num_threads()}) + "\n")
        return runs_testlib.fake_train(spec, **kwargs)

    return train


def _dying_train(spec, **kwargs):
    os._exit(1)  # the worker process dies mid-run
