"""Run a sweep plan against a store: skip finished runs, redo unfinished ones, resume from checkpoints.

``run_sweep(store, plan)`` registers every planned run ("pending"), skips those already "done" or "diverged",
and trains the rest through an executor, claiming each run just before it is submitted and writing each result
the moment it arrives. A "running" row left by a killed process, a "pending" or a "failed" one is trained again;
its checkpoint folder (``<store>.ckpt/<key>/``, beside the store) lets the trainer resume where the killed run
stopped. A run claimed by another live process is left to it. Killing the sweep at any moment loses only the
run in flight (and not even that, when it has a checkpoint).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm  # text bars: tqdm.auto warns in kernels without ipywidgets (the book has none)

from xlstm_lab.runs.errors import StoreError
from xlstm_lab.runs.executors import Executor, Job, LocalExecutor, TrainFn, failed_result
from xlstm_lab.runs.expand import SkippedSize, SweepPlan
from xlstm_lab.runs.store import FINISHED, RunStore, checkpoint_root

__all__ = ["SweepReport", "run_sweep"]


@dataclass(frozen=True)
class SweepReport:
    """What one call of :func:`run_sweep` did.

    Attributes:
        kind: "isoflop", "tokenparam" or "context".
        store: path of the run store.
        keys: every run of the plan, in plan order.
        finished_before: runs skipped because the store already had their result ("done" or "diverged").
        busy: runs skipped because another live process was training them.
        ran: status of each run trained now ("done", "diverged" or "failed").
        resumed: runs whose checkpoint folder held a checkpoint when they started.
        skipped_sizes: sizes left out at a grid point because the trainer could not plan them.
    """

    kind: str
    store: str
    keys: tuple[str, ...]
    finished_before: tuple[str, ...]
    busy: tuple[str, ...]
    ran: dict[str, str]
    resumed: tuple[str, ...]
    skipped_sizes: tuple[SkippedSize, ...]

    @property
    def failed(self) -> list[str]:
        """Runs that failed now (they are redone by the next sweep)."""
        return [k for k, s in self.ran.items() if s == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "kind": self.kind, "store": self.store, "n_runs": len(self.keys),
            "finished_before": len(self.finished_before), "busy": list(self.busy), "ran": dict(self.ran),
            "resumed": list(self.resumed), "failed": self.failed,
            "skipped_sizes": [dataclasses.asdict(s) for s in self.skipped_sizes],
        }


class _Heartbeat(threading.Thread):
    """Stamps the runs in flight every ``interval`` seconds (its own connection: SQLite objects stay per thread)."""

    def __init__(self, store: RunStore, interval: float) -> None:
        super().__init__(name="xlstm-lab-heartbeat", daemon=True)
        self.path, self.timeout, self.interval = store.path, store.lock_timeout_s, interval
        self.keys: tuple[str, ...] = ()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            store = RunStore(self.path, create=False, lock_timeout_s=self.timeout)
        except StoreError:
            return
        with store:
            while not self.stop.wait(self.interval):
                try:
                    store.heartbeat(self.keys)
                except StoreError:  # a busy store: the next beat will do
                    pass


def _has_checkpoint(folder: str | None) -> bool:
    return folder is not None and os.path.isdir(folder) and any(os.scandir(folder))


def run_sweep(store: RunStore | str | os.PathLike, plan: SweepPlan, *, executor: Executor | None = None,
              train_fn: TrainFn | None = None, progress: bool = True,
              checkpoints: str | os.PathLike | None = None, keep_checkpoints: bool = False,
              heartbeat_s: float = 60.0, on_result: Callable[[str, str], None] | None = None) -> SweepReport:
    """Train every run of ``plan`` that the store has no result for, and store each result as it completes.

    Args:
        store: an open ``RunStore`` or the path of one (created if missing).
        plan: from ``isoflop_plan``, ``tokenparam_plan`` or ``context_plan``.
        executor: where runs train (default: ``LocalExecutor`` -- one run at a time in this process).
        train_fn: the training function of the default executor (default ``xlstm_lab.train.train``).
        progress: show a bar over the runs (and let an in-process trainer show its step bar).
        checkpoints: the folder of the runs' checkpoint folders (default ``<store>.ckpt`` beside the store).
        keep_checkpoints: keep a finished run's checkpoints (default: delete them once its result is stored).
        heartbeat_s: how often the runs in flight are stamped as alive for other processes.
        on_result: called with (key, status) after each result is stored.

    Returns:
        A SweepReport. Failed runs are in the store with their error text, not raised.

    Raises:
        StoreError: the store cannot be written (locked, not a run store, ...).
        ExecutorError: the executor cannot start.
    """
    own = not isinstance(store, RunStore)
    store = RunStore(store) if own else store
    try:
        return _drive(store, plan, executor, train_fn, progress, checkpoints, keep_checkpoints, heartbeat_s,
                      on_result)
    finally:
        if own:
            store.close()


def _drive(store: RunStore, plan: SweepPlan, executor: Executor | None, train_fn: TrainFn | None, progress: bool,
           checkpoints: Any, keep: bool, heartbeat_s: float, on_result: Any) -> SweepReport:
    keys = tuple(r.key for r in plan.runs)
    for r in plan.runs:
        store.register(r.spec, r.plan, sweep=plan.kind)
    status = store.statuses(keys)
    finished = tuple(k for k in keys if status[k] in FINISHED)
    root = Path(checkpoints) if checkpoints is not None else checkpoint_root(store.path)
    queue = [Job(r.spec, r.plan, str(root.resolve() / r.key), plan.min_steps) for r in plan.runs
             if status[r.key] not in FINISHED]
    executor = executor or LocalExecutor(train_fn, corpus=plan.corpus, progress=progress)
    ran: dict[str, str] = {}
    busy: list[str] = []
    resumed: list[str] = []
    inflight: dict[Any, Job] = {}
    beat = _Heartbeat(store, heartbeat_s)
    bar = tqdm(total=len(queue), desc=f"{plan.kind} runs", unit="run", disable=not progress or not queue)
    started = False
    try:
        if queue:
            executor.start(queue)
            started = True
            beat.start()
        while queue or inflight:
            while queue and len(inflight) < executor.slots:
                job = queue.pop(0)
                claim = store.claim(job.key)
                if claim != "claimed":  # finished by another process meanwhile, or being trained there
                    if claim == "busy":
                        busy.append(job.key)
                    bar.total -= 1
                    continue
                if _has_checkpoint(job.checkpoint_dir):
                    resumed.append(job.key)
                inflight[executor.submit(job)] = job
                beat.keys = tuple(j.key for j in inflight.values())
            if not inflight:
                break
            for handle, result in executor.wait(list(inflight), timeout=heartbeat_s):
                job = inflight.pop(handle)
                if isinstance(result, BaseException):
                    result = failed_result(job, f"the worker returned no result (it died or could not start the run): "
                                                f"{type(result).__name__}: {result}")
                stored = store.finish(result)
                ran[job.key] = stored
                if stored in FINISHED and not keep and job.checkpoint_dir:
                    shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
                bar.update(1)
                bar.set_postfix_str(_postfix(job, stored, result.val_loss))
                if on_result is not None:
                    on_result(job.key, stored)
            beat.keys = tuple(j.key for j in inflight.values())
    except BaseException:
        try:  # interrupted: back to pending, resumable at once (a killed process is detected instead)
            store.release([j.key for j in inflight.values()])
        except StoreError:
            pass
        raise
    finally:
        beat.stop.set()
        bar.close()
        if started:
            executor.shutdown()
    return SweepReport(plan.kind, str(store.path), keys, finished, tuple(busy), ran, tuple(resumed), plan.skipped)


def _postfix(job: Job, status: str, loss: float | None) -> str:
    m = job.spec.model
    text = f"{m.family} d{m.d_model} C={job.spec.budget_flops:.2g}: {status}"
    return text + (f" {loss:.4f}" if status == "done" and loss is not None else "")
