"""A sweep killed with SIGKILL loses no finished result, never leaves "done" without a loss, and resumes.

The sweeps run in child processes with the stand-in trainer (``runs_testlib.fake_train``: ticks with a sleep,
a checkpoint after each tick, a loss that is a known function of N, D and the seed), so the kill lands inside
training, inside store writes, or during start-up, as chance has it.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest
from runs_testlib import CHILD_SWEEP, child_env, fake_loss

from xlstm_lab.runs import RunStore, StoreNotFoundError

pytestmark = pytest.mark.slow

KW = {"sizes": [1e4, 2e4, 4e4], "seeds": [0, 1]}  # 6 runs


def _start(path, log, tick_s):
    return subprocess.Popen([sys.executable, "-c", CHILD_SWEEP, str(path), json.dumps(KW)],
                            env=child_env(FAKE_LOG=log, FAKE_TICK_S=tick_s), stderr=subprocess.PIPE, text=True)


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _check_invariants(path, done_before: dict[str, float]) -> dict[str, float]:
    """Integrity, done => loss (the loss the trainer returned), and no done result lost."""
    with RunStore(path, create=False) as store:
        assert store.integrity_check() == "ok"
        records = store.records()
    done = {}
    for r in records:
        if r.status == "done":
            assert r.val_loss == fake_loss(r.plan.n_params, r.plan.tokens, r.spec.seed)
            assert r.curve and r.plan is not None
            done[r.key] = r.val_loss
        else:
            assert r.val_loss is None
    assert done_before.items() <= done.items()  # finished results survive every kill unchanged
    return done


def _calls(log):
    try:
        return [json.loads(line) for line in open(log).read().splitlines()]
    except FileNotFoundError:
        return []


def test_sigkill_mid_run_resumes_from_the_checkpoint(tmp_path):
    path, log = tmp_path / "lab.sqlite", str(tmp_path / "calls.jsonl")
    proc = _start(path, log, tick_s=0.05)
    try:
        deadline = time.time() + 60
        # wait until two runs are done and a third has checkpointed a few ticks
        while time.time() < deadline:
            time.sleep(0.02)
            try:
                with RunStore(path, create=False) as store:
                    counts = store.counts()
                    running = store.records("running")
            except StoreNotFoundError:  # the child has not created it yet
                continue
            ckpt = [r for r in running if (path.with_name("lab.ckpt") / r.key / "tick.json").exists()]
            if counts["done"] >= 2 and ckpt:
                tick = json.loads((path.with_name("lab.ckpt") / ckpt[0].key / "tick.json").read_text())["tick"]
                if tick >= 3:
                    break
        else:
            pytest.fail(f"the child sweep did not get far enough: {proc.stderr.read() if proc.poll() else ''}")
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_key = ckpt[0].key
    done = _check_invariants(path, {})
    assert len(done) >= 2
    with RunStore(path, create=False) as store:
        assert store.get(killed_key).status == "running"  # left behind by the dead process
    # the next sweep trains only what is missing, resuming the killed run at its checkpoint
    before = len(_calls(log))
    proc = _start(path, log, tick_s=0)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    new = _calls(log)[before:]
    assert {c["key"] for c in new}.isdisjoint(done)
    assert {c["key"]: c["start"] for c in new}[killed_key] >= 3
    final = _check_invariants(path, done)
    assert len(final) == 6


def test_sigkill_at_random_moments_never_loses_a_result(tmp_path):
    path, log = tmp_path / "lab.sqlite", str(tmp_path / "calls.jsonl")
    rng = random.Random(7)
    done: dict[str, float] = {}
    for _ in range(12):
        proc = _start(path, log, tick_s=0.03)
        try:
            proc.wait(timeout=rng.uniform(0.3, 3.0))
        except subprocess.TimeoutExpired:
            _kill(proc)
        else:
            assert proc.returncode == 0, proc.stderr.read()
        if path.exists() and path.stat().st_size:
            done = _check_invariants(path, done)
        if len(done) == 6:
            break
    before = len(_calls(log))
    proc = _start(path, log, tick_s=0)  # finish whatever is left
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert {c["key"] for c in _calls(log)[before:]}.isdisjoint(done)  # finished runs are never trained again
    done = _check_invariants(path, done)
    assert len(done) == 6
