"""Two processes writing one store: no corruption (``PRAGMA integrity_check``), no lost row, no run trained twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from runs_testlib import CHILD_SWEEP, child_env

from xlstm_lab.runs import RunStore

pytestmark = pytest.mark.slow

# Each child registers, claims and finishes its own 150 runs as fast as it can, plus 50 runs both try to write.
CHILD_WRITES = """
import os, sys
sys.path.insert(0, os.environ["RUNS_TESTLIB_DIR"])
from runs_testlib import fake_train, spec_for
from xlstm_lab.runs import RunStore
who = int(sys.argv[2])
with RunStore(sys.argv[1], lock_timeout_s=60) as store:
    for i in range(200):
        seed = 1000 * who + i if i < 150 else i  # the last 50 seeds are shared by both children
        spec = spec_for(seed=seed)
        store.register(spec)
        if store.claim(spec.key()) == "claimed":
            store.finish(fake_train(spec))
"""


def test_two_writers_leave_an_intact_store(tmp_path):
    path = tmp_path / "lab.sqlite"
    env = child_env()
    procs = [subprocess.Popen([sys.executable, "-c", CHILD_WRITES, str(path), str(w)], env=env,
                              stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    with RunStore(path, create=False) as store:
        assert store.integrity_check() == "ok"
        counts = store.counts()
        records = store.records()
    assert counts["done"] == 350 and sum(counts.values()) == 350
    assert all(r.val_loss is not None for r in records)


def test_two_sweeps_on_one_store_share_the_work(tmp_path):
    path, log = tmp_path / "lab.sqlite", tmp_path / "calls.jsonl"
    kw = {"sizes": [1e4, 2e4, 4e4, 8e4], "seeds": [0, 1]}  # 8 runs
    env = child_env(FAKE_LOG=log, FAKE_TICK_S=0.03)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD_SWEEP, str(path), json.dumps(kw)], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    keys = [c["key"] for c in calls]
    assert len(keys) == len(set(keys)) == 8  # every run trained exactly once, by one of the two
    with RunStore(path, create=False) as store:
        assert store.integrity_check() == "ok"
        assert store.counts()["done"] == 8
    assert os.getpid() not in {c["pid"] for c in calls}
