"""Checkpoints: atomic writes (temp, flush, fsync, replace, fsync dir), weights_only loading, typed refusals."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from xlstm_lab.train import TrainError
from xlstm_lab.train import checkpoint as ckpt


def _state(step, size=10):
    return {"format": ckpt.CHECKPOINT_FORMAT, "key": "k", "step": step, "model": {"w": torch.full((size,), step)}}


def test_round_trip_with_weights_only(tmp_path):
    state = {**_state(3), "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [
        {"lr": 1e-2, "betas": (0.9, 0.95), "params": [0], "foreach": None}]}, "losses": torch.arange(3.0)}
    path = ckpt.save_checkpoint(tmp_path, state)
    assert path == tmp_path / "checkpoint.pt"
    loaded = ckpt.load_checkpoint(tmp_path, key="k")
    assert loaded["step"] == 3 and torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.95)
    assert ckpt.load_checkpoint(tmp_path / "missing") is None


def test_write_order_is_fsync_then_replace_then_dir_fsync(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.getsize(src) > 0))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    ckpt.save_checkpoint(tmp_path, _state(1))
    # the file's bytes are on disk before it is renamed over the old one; the rename itself is made durable
    assert events == [("fsync", False), ("replace", True), ("fsync", True)]


def test_failed_write_keeps_the_old_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, _state(1))

    def torn_save(obj, fh):
        fh.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(tmp_path, _state(2))
    monkeypatch.undo()
    assert ckpt.load_checkpoint(tmp_path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


KILL_WRITER = textwrap.dedent("""
    import sys, torch
    from xlstm_lab.train import checkpoint as ckpt
    step = 0
    print("ready", flush=True)
    while True:
        step += 1
        ckpt.save_checkpoint(sys.argv[1], {"format": ckpt.CHECKPOINT_FORMAT, "key": "k", "step": step,
                                           "model": {"w": torch.full((1_000_000,), float(step))}})
""")


@pytest.mark.slow
def test_kill_9_during_writes_leaves_a_loadable_checkpoint(tmp_path):
    """A writer killed at random moments: the checkpoint on disk is always a whole one."""
    for delay in (0.3, 0.7):
        proc = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(tmp_path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = ckpt.load_checkpoint(tmp_path, key="k")
        assert state is not None
        assert torch.equal(state["model"]["w"], torch.full((1_000_000,), float(state["step"])))
        ckpt.remove_stale_temporaries(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".checkpoint.pt-abc123").write_bytes(b"torn")
    (tmp_path / "other.txt").write_text("kept")
    assert ckpt.remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_refusals_are_typed(tmp_path):
    ckpt.save_checkpoint(tmp_path, _state(1))
    with pytest.raises(TrainError, match="belongs to run 'k'"):
        ckpt.load_checkpoint(tmp_path, key="other")
    ckpt.save_checkpoint(tmp_path, {**_state(1), "format": 99})
    with pytest.raises(TrainError, match="format 99"):
        ckpt.load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="not a readable training checkpoint"):
        ckpt.load_checkpoint(tmp_path)


class Payload:
    """An arbitrary class: unpickling it would run code of the writer's choosing."""


def test_pickled_objects_are_not_loaded(tmp_path):
    """weights_only=True: a checkpoint holding an arbitrary object is refused, not executed."""
    torch.save({"format": ckpt.CHECKPOINT_FORMAT, "key": "k", "obj": Payload()}, tmp_path / "checkpoint.pt")
    with pytest.raises(TrainError, match="not a readable training checkpoint"):
        ckpt.load_checkpoint(tmp_path)
