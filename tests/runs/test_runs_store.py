"""The run store: schema marks, the done-implies-loss invariant, claims of stale runs, typed errors."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runs_testlib import fake_train, spec_for

from xlstm_lab.runs import (
    NotARunStoreError,
    RunStore,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    StoreVersionError,
)
from xlstm_lab.runs.records import downsample_curve, spec_from_json, spec_to_json
from xlstm_lab.runs.store import APPLICATION_ID, SCHEMA_VERSION
from xlstm_lab.train.spec import RunResult


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "lab.sqlite") as s:
        yield s


def _raw(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_new_store_is_marked_and_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "lab.sqlite"  # the folder is created
    RunStore(path).close()
    con = _raw(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(con.execute("SELECT name, value FROM meta"))["kind"] == "xlstm-lab run store"


def test_register_claim_finish_round_trip(store):
    spec = spec_for(seed=3)
    assert store.register(spec, sweep="isoflop") is True
    assert store.register(spec) is False  # a key is stored once
    assert store.get(spec.key()).status == "pending"
    assert store.claim(spec.key()) == "claimed"
    result = fake_train(spec)
    assert store.finish(result) == "done"
    rec = store.get(spec.key())
    assert rec.status == "done" and rec.val_loss == result.val_loss and rec.attempts == 1
    assert rec.spec == spec and rec.plan == result.plan and rec.sweep == "isoflop"
    assert rec.val_bpb == pytest.approx(result.val_loss / math.log(2))
    assert rec.curve == result.curve
    assert rec.flops_spent == result.plan.flops and rec.tokens_spent == result.plan.tokens
    assert store.claim(spec.key()) == "finished"
    assert store.counts()["done"] == 1


def test_done_without_loss_is_impossible(store):
    spec = spec_for()
    store.register(spec)
    store.claim(spec.key())
    # the CHECK constraint refuses it even from raw SQL
    with pytest.raises(sqlite3.IntegrityError):
        store._conn.execute("UPDATE runs SET status = 'done' WHERE key = ?", (spec.key(),))
    # a trainer that says done without a finite loss is stored as failed, with the reason
    bad = dataclasses.replace(fake_train(spec), val_loss=math.nan)
    assert store.finish(bad) == "failed"
    rec = store.get(spec.key())
    assert rec.status == "failed" and rec.val_loss is None and "without a finite loss" in rec.error


def test_diverged_is_kept_with_its_history_and_never_overwritten(store):
    spec = spec_for(diverge=True)
    store.register(spec)
    store.claim(spec.key())
    assert store.finish(fake_train(spec)) == "diverged"
    rec = store.get(spec.key())
    assert rec.status == "diverged" and rec.curve and rec.curve[-1][1] is None  # NaN kept as null
    assert rec.tokens_spent == rec.steps_done * spec.batch_size * spec.model.context_length
    done = RunResult(spec.key(), spec, rec.plan, "done", 2.0, ((0, 2.0),), steps_done=rec.plan.steps)
    assert store.finish(done) == "diverged"  # the first result stays
    assert store.get(spec.key()).status == "diverged"


def test_failed_run_keeps_error_and_is_claimable_again(store):
    spec = spec_for()
    store.register(spec)
    store.claim(spec.key())
    store.finish(RunResult(spec.key(), spec, None, "failed", None, error="boom"))
    assert store.get(spec.key()).error == "boom"
    assert store.claim(spec.key()) == "claimed"
    rec = store.get(spec.key())
    assert rec.attempts == 2 and rec.error is None and rec.status == "running"


def test_running_row_of_a_live_process_is_busy_and_of_a_dead_one_is_claimable(tmp_path):
    path = tmp_path / "lab.sqlite"
    spec = spec_for()
    with RunStore(path) as s:
        s.register(spec)
    # another process claims the run and stays alive
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); from xlstm_lab.runs import RunStore; "
            "s = RunStore(sys.argv[1]); print(s.claim(sys.argv[3]), flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), os.getcwd(), spec.key()], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
        with RunStore(path) as s:
            assert s.claim(spec.key()) == "busy"
    finally:
        proc.kill()
        proc.wait()
    with RunStore(path) as s:  # its owner is dead now
        assert s.claim(spec.key()) == "claimed"
        assert s.get(spec.key()).attempts == 2


def test_running_row_from_another_host_is_taken_over_after_its_heartbeat_stops(store):
    spec = spec_for()
    store.register(spec)
    stale_after = store.stale_after_s
    store._conn.execute("UPDATE runs SET status='running', owner='elsewhere:1', heartbeat_at=strftime('%s','now') "
                        "WHERE key=?", (spec.key(),))
    assert store.claim(spec.key()) == "busy"
    store._conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ? WHERE key=?", (stale_after + 5, spec.key()))
    assert store.claim(spec.key()) == "claimed"


def test_release_puts_own_runs_back_to_pending(store):
    a, b = spec_for(seed=1), spec_for(seed=2)
    for s in (a, b):
        store.register(s)
        store.claim(s.key())
    store.release([a.key()])
    assert store.get(a.key()).status == "pending" and store.get(b.key()).status == "running"


def test_not_a_run_store(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("N,D,loss\n1,2,3\n" * 100)
    with pytest.raises(NotARunStoreError, match="not an xlstm-lab run store"):
        RunStore(text)
    other = tmp_path / "other.sqlite"
    con = _raw(other)
    con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(NotARunStoreError, match="application_id 0"):
        RunStore(other)
    assert _raw(other).execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 1  # left untouched
    with pytest.raises(StoreError, match="is a folder"):
        RunStore(tmp_path)
    with pytest.raises(StoreError, match="cannot open the run store"):  # a path through a file
        RunStore(text / "lab.sqlite")


def test_missing_store_is_only_created_when_asked(tmp_path):
    with pytest.raises(StoreNotFoundError, match="no run store"):
        RunStore(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    RunStore(path).close()
    _raw(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreVersionError, match="upgrade xlstm-lab"):
        RunStore(path)


def test_locked_store_gives_a_typed_error(tmp_path):
    path = tmp_path / "lab.sqlite"
    RunStore(path).close()
    holder = _raw(path)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with RunStore(path, lock_timeout_s=0.2) as s:
            assert s.records() == []  # WAL: reading is not blocked
            with pytest.raises(StoreLockedError, match="locked.*--lock-timeout"):
                s.register(spec_for())
    finally:
        holder.execute("ROLLBACK")


@settings(max_examples=30, deadline=None)
@given(d=st.sampled_from([8, 16, 32]), seed=st.integers(0, 10**6), budget=st.floats(1e9, 1e20),
       lr=st.floats(1e-5, 1.0), label=st.text(max_size=10))
def test_spec_json_round_trip_keeps_the_key(d, seed, budget, lr, label):
    spec = dataclasses.replace(spec_for(d, budget, seed), lr=lr, extra={"sweep": label})
    back = spec_from_json(spec_to_json(spec))
    assert back == spec and back.key() == spec.key()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), cap=st.integers(2, 600))
def test_downsample_keeps_ends_order_and_bound(n, cap):
    curve = [(i * 3, 5.0 / (i + 1)) for i in range(n)]
    out = downsample_curve(curve, cap)
    assert len(out) == min(n, cap)
    assert out[0] == curve[0] and out[-1] == curve[-1]
    assert [s for s, _ in out] == sorted({s for s, _ in out})
    assert set(out) <= set(curve)
    json.dumps(out)
