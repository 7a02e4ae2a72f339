"""Atomic training checkpoints that load with ``torch.load(..., weights_only=True)``.

A checkpoint is one file, ``<dir>/checkpoint.pt``, holding only tensors and plain Python values (no pickled
classes), so loading it runs no code: the model's ``state_dict``, the optimizer's ``state_dict`` (its per-parameter
state is tensors, its groups plain numbers), the training-loss history as a float64 tensor, the CPU (and CUDA)
random-number states as uint8 tensors, the next step, the run key and the times spent so far.

Writing is crash-safe: the bytes go to a temporary file in the same folder, which is flushed and ``os.fsync``-ed,
then ``os.replace``-d over the old checkpoint (atomic on POSIX), and the folder itself is fsync-ed so the rename
survives a power cut. A reader therefore sees the old checkpoint or the new one, never a torn file; a writer
killed midway leaves at most a stray ``.checkpoint.pt-*`` temporary, which the next run removes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from xlstm_lab.train.spec import TrainError

__all__ = ["CHECKPOINT_NAME", "CHECKPOINT_FORMAT", "checkpoint_path", "save_checkpoint", "load_checkpoint",
           "remove_stale_temporaries", "rng_state", "set_rng_state"]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
"""Bump when the layout changes; an older checkpoint is then refused with a message, not misread."""
_TMP_PREFIX = f".{CHECKPOINT_NAME}-"


def checkpoint_path(directory: str | os.PathLike[str]) -> Path:
    """The checkpoint file of a run folder."""
    return Path(directory) / CHECKPOINT_NAME


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(directory: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``<directory>/checkpoint.pt`` atomically (temp file, flush, fsync, replace, fsync dir).

    Args:
        directory: the run's checkpoint folder (created if missing).
        state: tensors and plain values only (what ``weights_only=True`` loads).

    Returns:
        The checkpoint path.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; let other users of a shared run folder resume the run
        os.replace(tmp, folder / CHECKPOINT_NAME)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    return folder / CHECKPOINT_NAME


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> int:
    """Delete temporaries left by a writer that died mid-save; returns how many were removed."""
    folder = Path(directory)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(_TMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def load_checkpoint(directory: str | os.PathLike[str], *, key: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """Read ``<directory>/checkpoint.pt`` with ``weights_only=True``; None when there is none.

    Args:
        directory: the run's checkpoint folder.
        key: the run key the checkpoint must belong to (None: do not check).
        map_location: where tensors go.

    Raises:
        TrainError: the file is not a checkpoint of this format, or belongs to another run.
    """
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise TrainError(f"{path} is not a readable training checkpoint ({type(exc).__name__}: {exc}); delete it "
                         "to start the run from scratch") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise TrainError(f"{path} has checkpoint format {found!r}, this trainer writes {CHECKPOINT_FORMAT}; delete "
                         "it to start the run from scratch")
    if key is not None and state.get("key") != key:
        raise TrainError(f"{path} belongs to run {state.get('key')!r}, not {key!r}; give each run its own "
                         "checkpoint folder (or delete this one)")
    return state


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The random-number states to checkpoint: CPU always, plus the current CUDA device's on CUDA."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
