"""Opening a store retries a lock conflict SQLite reports at once (not through its busy handler), up to the timeout."""

from __future__ import annotations

import time

import pytest

from xlstm_lab.runs import RunStore, StoreLockedError


def _flaky_open(fail_times: int):
    real = RunStore._open
    calls = {"n": 0}

    def fake(self, exists):
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise self._locked_error()
        return real(self, exists)

    return fake, calls


def test_a_lock_conflict_while_opening_is_retried(tmp_path, monkeypatch):
    fake, calls = _flaky_open(3)
    monkeypatch.setattr(RunStore, "_open", fake)
    with RunStore(tmp_path / "s.sqlite", lock_timeout_s=5) as store:
        assert store.counts() == {} or sum(store.counts().values()) == 0
    assert calls["n"] == 4


def test_a_lock_held_past_the_timeout_still_raises(tmp_path, monkeypatch):
    fake, calls = _flaky_open(10**9)
    monkeypatch.setattr(RunStore, "_open", fake)
    t0 = time.monotonic()
    with pytest.raises(StoreLockedError, match="locked"):
        RunStore(tmp_path / "s.sqlite", lock_timeout_s=0.3)
    assert 0.1 < time.monotonic() - t0 < 3.0 and calls["n"] >= 3
