"""``train(spec) -> RunResult``: one training run, seeded, checkpointed, resumable, on CPU, CUDA or several ranks.

What a run does, in order:

1. Check the spec (``RunSpec.check``), load the corpus and plan the run (``plan_run``); a bad spec, a corpus whose
   checksum differs from ``spec.corpus_sha256``, an unusable device or a plan out of bounds raises here, before
   anything trains.
2. Build the model from ``spec.seed`` (CPU random generator, so the initial weights are the same on every
   device), pin the xLSTM's mLSTM backend to the device ("torch_chunkwise" on CPU, "triton" on CUDA) when the
   config says "auto", and resume from ``checkpoint_dir`` when it holds a checkpoint of this run.
3. Train ``plan.steps`` steps of AdamW (``optim``) with the warm-up + cosine schedule (``schedule``) and global
   gradient-norm clipping; float32 on CPU, bf16 autocast on CUDA (weights, optimizer and loss in float32).
   Step ``s`` trains on ``corpus.train_batch(s, batch_size, context, seed)``, a pure function of ``s``.
4. Stop early as "diverged" by the rule of ``monitor``; otherwise compute the validation loss on the whole
   validation split (``evaluate``) and return "done".

Any exception from step 2 on is caught and returned as a "failed" result with the error text (the caller's
``KeyboardInterrupt`` is not). The caller's global random state is left as it was; the thread count is the
caller's (``torch.get_num_threads()``; the executors set it).

Determinism: training uses no randomness after the initialisation, and the data order and the schedule are
functions of the step. On one CPU with the same thread count the same spec therefore gives the same losses
bit for bit, and a run resumed from a checkpoint ends exactly where the uninterrupted run ends (the checkpoint
restores weights, AdamW state and the loss history exactly). On CUDA some kernels (atomics in backward passes)
are not bitwise deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from xlstm_lab.models import build_model
from xlstm_lab.models.config import ModelConfig
from xlstm_lab.train import checkpoint as ckpt
from xlstm_lab.train import distributed as dist
from xlstm_lab.train.evaluate import evaluate
from xlstm_lab.train.monitor import LossMonitor
from xlstm_lab.train.optim import build_optimizer
from xlstm_lab.train.plan import MIN_STEPS, plan_run
from xlstm_lab.train.provenance import describe_device, versions
from xlstm_lab.train.schedule import lr_at
from xlstm_lab.train.spec import RunPlan, RunResult, RunSpec, TrainError

__all__ = ["StepInfo", "CHECKPOINT_INTERVAL_S", "train", "resolve_corpus", "model_config_for"]

CHECKPOINT_INTERVAL_S = 60.0
"""With ``checkpoint_every=None``, save at most this often (seconds of training) and at the end of training."""
_CUDA_SYNC_EVERY = 16  # steps between reading losses back on CUDA (each read waits for the GPU)


@dataclass(frozen=True)
class StepInfo:
    """What ``on_step`` receives after every optimizer step."""

    step: int
    """0-based step just trained."""
    loss: float
    """Its training loss (mean over the global batch), nats per byte."""
    lr: float
    tokens: int
    """Tokens trained so far (global, all sessions of the run)."""
    train_s: float
    """Seconds spent training so far in this call (excluding set-up and checkpoint writes)."""


def resolve_corpus(spec: RunSpec, corpus: Any = None) -> Any:
    """The corpus of a run: ``corpus`` if given, else ``load_corpus(spec.corpus)``; checked against the spec.

    Raises:
        TrainError: ``spec.corpus_sha256`` is set and the corpus' checksum differs.
    """
    if corpus is None:
        from xlstm_lab.data import load_corpus

        corpus = load_corpus(spec.corpus)
    if spec.corpus_sha256 and corpus.sha256 != spec.corpus_sha256:
        raise TrainError(f"corpus {spec.corpus!r} has checksum {corpus.sha256[:16]}..., the spec was made for "
                         f"{spec.corpus_sha256[:16]}...; the corpus changed since the run was planned: re-plan the "
                         "run (its key changes with the data) or restore the corpus")
    return corpus


def model_config_for(config: ModelConfig, device: torch.device) -> ModelConfig:
    """``config`` with the xLSTM's "auto" backend pinned: "triton" on CUDA, "torch_chunkwise" on CPU."""
    if config.family != "xlstm" or config.xlstm.backend != "auto":
        return config
    backend = "triton" if device.type == "cuda" else "torch_chunkwise"
    return dataclasses.replace(config, xlstm=dataclasses.replace(config.xlstm, backend=backend))


def _device(spec: RunSpec, ctx: dist.DistContext) -> torch.device:
    if spec.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainError(f"the spec asks for device {spec.device!r} but torch sees no CUDA device; use "
                             "device='cpu' or run on a machine with a GPU")
        index = ctx.local_rank if ctx.is_distributed else torch.device(spec.device).index
        return torch.device("cuda", index if index is not None else torch.cuda.current_device())
    return torch.device("cpu")


def train(
    spec: RunSpec,
    *,
    corpus: Any = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    on_step: Callable[[StepInfo], None] | None = None,
    min_steps: int = MIN_STEPS,
    micro_batch_size: int | None = None,
    compile: bool = False,
) -> RunResult:
    """Train one run and return its result (see the module docstring for what happens).

    Args:
        spec: what to train (model, budget, lr, batch, seed, corpus, device, schedule).
        corpus: the loaded corpus (default: ``xlstm_lab.data.load_corpus(spec.corpus)``).
        checkpoint_dir: folder for this run's checkpoint; resumed from when it holds one. None: no checkpoints.
        checkpoint_every: save every this many steps; None saves every ``CHECKPOINT_INTERVAL_S`` seconds of
            training. With a folder, a checkpoint is also written when training ends (before validation).
        progress: show a tqdm bar of the steps (rank 0 only).
        on_step: called with a :class:`StepInfo` after every step (on CUDA in bursts of 16 steps); an exception
            it raises ends the run as "failed".
        min_steps: the planning bound on steps (see ``plan_run``; sweeps pass their own).
        micro_batch_size: rows per forward/backward pass, accumulating gradients over the step's rows (for
            batches that do not fit a device); None: the rank's whole share at once. Changes the arithmetic only
            at float rounding.
        compile: train through ``torch.compile`` (faster after compiling; float rounding may differ).

    Returns:
        RunResult with status "done" (validation loss in nats per byte), "diverged" (history kept, loss None)
        or "failed" (error text); tokens/s and model FLOP/s over all training steps of the run (every session
        of a resumed run; set-up, checkpoint writes and validation excluded); the device and the versions.

    Raises:
        TrainError: a bad spec or argument, a corpus that does not match the spec, an unusable device, or a
            checkpoint folder holding another run (``PlanError``, a subclass, when the plan is out of bounds).
    """
    t0 = time.perf_counter()
    spec.check()
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
        raise TrainError(f"checkpoint_every must be a whole number of steps >= 1 or None, got {checkpoint_every!r}")
    corpus = resolve_corpus(spec, corpus)
    config = spec.model
    plan = plan_run(config, spec.budget_flops, batch_size=spec.batch_size, train_tokens=len(corpus.train),
                    max_epochs=spec.max_epochs, min_steps=min_steps, warmup_frac=spec.warmup_frac)
    ctx = dist.current()
    device = _device(spec, ctx)
    rows = dist.shard_rows(spec.batch_size, ctx)
    local = rows.stop - rows.start
    micro = local if micro_batch_size is None else int(micro_batch_size)
    if not 1 <= micro <= local or local % micro:
        raise TrainError(f"micro_batch_size {micro_batch_size!r} must divide this rank's {local} rows; use a divisor")
    strategy = dist.choose_strategy(config, device, ctx, micro)
    state = None
    if checkpoint_dir is not None:
        ckpt.remove_stale_temporaries(checkpoint_dir)
        state = ckpt.load_checkpoint(checkpoint_dir, key=spec.key(), map_location=device)
    dist.check_same_on_all_ranks(0 if state is None else int(state["step"]), ctx, device, "the step to resume from")
    run = _Run(spec, plan, corpus, device, ctx, rows, micro, checkpoint_dir, checkpoint_every, on_step)
    fork = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):
        try:
            run.setup(strategy, state, compile)
            return run.execute(progress, t0)
        except Exception as exc:  # a run's failure is a result, not a crash (KeyboardInterrupt passes)
            return run.result("failed", None, t0, error=_error_text(exc))


def _error_text(exc: BaseException) -> str:
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-4:])
    return f"{type(exc).__name__}: {exc}\n{tail}".strip()


class _Run:
    """The state of one training call (kept out of ``train`` to keep each piece short)."""

    def __init__(self, spec: RunSpec, plan: RunPlan, corpus: Any, device: torch.device, ctx: dist.DistContext,
                 rows: slice, micro: int, checkpoint_dir: str | Path | None, checkpoint_every: int | None,
                 on_step: Callable[[StepInfo], None] | None) -> None:
        self.spec, self.plan, self.corpus, self.device, self.ctx = spec, plan, corpus, device, ctx
        self.rows, self.micro, self.on_step = rows, micro, on_step
        self.checkpoint_dir, self.checkpoint_every = checkpoint_dir, checkpoint_every
        self.context = spec.model.context_length
        self.autocast = device.type == "cuda"
        self.monitor = LossMonitor(plan.steps)
        self.start_step = self.next_step = 0
        self.train_s = self.save_s = self.prior_wall_s = self.prior_train_s = 0.0
        self.model: torch.nn.Module | None = None
        self.t_loop, self.in_loop = 0.0, False

    # -- set-up ---------------------------------------------------------------------------------------------
    def setup(self, strategy: dist.Strategy, state: dict[str, Any] | None, compile_model: bool) -> None:
        torch.manual_seed(self.spec.seed)
        with torch.device("cpu"):
            model = build_model(model_config_for(self.spec.model, self.device))
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, lr=self.spec.lr, weight_decay=self.spec.weight_decay,
                                         fused=self.device.type == "cuda")
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            ckpt.set_rng_state(state["rng"], self.device)
            self.monitor = LossMonitor(self.plan.steps, state["losses"].tolist())
            self.start_step = self.next_step = int(state["step"])
            self.prior_wall_s, self.prior_train_s = float(state["wall_s"]), float(state["train_s"])
        self.net = dist.wrap_model(self.model, strategy, self.device)
        if compile_model:
            self.net = torch.compile(self.net)
        self.params = [p for p in self.model.parameters() if p.requires_grad]

    # -- one step -------------------------------------------------------------------------------------------
    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.corpus.train_batch(step, self.spec.batch_size, self.context, self.spec.seed)[self.rows]
        batch = torch.from_numpy(rows)
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        return batch[:, :-1], batch[:, 1:]

    def _step(self, step: int) -> tuple[torch.Tensor, float]:
        lr = lr_at(step, peak=self.spec.lr, steps=self.plan.steps, warmup_steps=self.plan.warmup_steps,
                   min_lr_frac=self.spec.min_lr_frac)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self._batch(step)
        local = x.shape[0]
        total = torch.zeros((), device=self.device)
        for first in range(0, local, self.micro):
            last = first + self.micro == local
            sync = contextlib.nullcontext() if last or not hasattr(self.net, "no_sync") else self.net.no_sync()
            with sync:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                    logits = self.net(x[first:first + self.micro])
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                       y[first:first + self.micro].reshape(-1))
                if self.micro != local:
                    loss = loss * (self.micro / local)
                loss.backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(self.params, self.spec.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, lr

    # -- the loop -------------------------------------------------------------------------------------------
    def execute(self, progress: bool, t0: float) -> RunResult:
        reason = self.monitor.check()  # a checkpoint of a run that had diverged (never written, but be safe)
        bar = self._bar(progress)
        sync_every = _CUDA_SYNC_EVERY if self.device.type == "cuda" else 1
        pending: list[tuple[int, torch.Tensor, float]] = []
        last_save = t_loop = self.t_loop = time.perf_counter()
        self.in_loop = True
        try:
            for step in range(self.start_step, self.plan.steps if reason is None else 0):
                loss, lr = self._step(step)
                pending.append((step, loss, lr))
                self.next_step = step + 1
                if len(pending) < sync_every and step + 1 < self.plan.steps:
                    continue
                reason = self._flush(pending, bar, t_loop)
                pending = []
                if reason:
                    self.next_step = len(self.monitor.losses)
                    break
                if self._save_due(last_save):
                    self._save(t0)
                    last_save = time.perf_counter()
        finally:
            self.train_s += self._elapsed(t_loop)  # also for a run that fails midway
            self.in_loop = False
            bar.close()
        if reason:
            return self.result("diverged", None, t0, error=reason)
        if self.checkpoint_dir is not None and self.next_step > self.start_step:
            self._save(t0)  # the weights that are evaluated: a run killed during validation resumes here
        return self._finish(t0)

    def _elapsed(self, t_loop: float) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t_loop - self.save_s

    def _flush(self, pending: list[tuple[int, torch.Tensor, float]], bar: Any, t_loop: float) -> str | None:
        losses = dist.all_reduce_mean(torch.stack([p[1] for p in pending]), self.ctx).tolist()
        reason = None
        for (step, _, lr), loss in zip(pending, losses, strict=True):
            reason = self.monitor.append(loss)
            if self.on_step is not None:
                tokens = (step + 1) * self.spec.batch_size * self.context
                self.on_step(StepInfo(step, loss, lr, tokens, time.perf_counter() - t_loop - self.save_s))
            if reason:
                break
        if not bar.disable:
            bar.update(len(pending))
            if bar.n % 10 < len(pending) or reason:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        return reason

    def _bar(self, progress: bool) -> Any:
        from tqdm import tqdm  # text bars (tqdm.auto warns in kernels without ipywidgets)

        label = f"{self.spec.model.family} d{self.spec.model.d_model} C={self.spec.budget_flops:.2g}"
        return tqdm(total=self.plan.steps, initial=self.start_step, desc=label, unit="step", leave=False,
                    disable=not progress or not self.ctx.is_main, dynamic_ncols=True)

    # -- checkpoints ------------------------------------------------------------------------------------------
    def _save_due(self, last_save: float) -> bool:
        if self.checkpoint_dir is None or self.next_step >= self.plan.steps:
            return False
        if self.checkpoint_every is not None:
            return self.next_step % self.checkpoint_every == 0
        return time.perf_counter() - last_save >= CHECKPOINT_INTERVAL_S

    def _save(self, t0: float) -> None:
        if not self.ctx.is_main:
            return
        start = time.perf_counter()
        state = {
            "format": ckpt.CHECKPOINT_FORMAT, "key": self.spec.key(), "step": self.next_step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "losses": torch.tensor(self.monitor.losses, dtype=torch.float64),
            "rng": ckpt.rng_state(self.device), "wall_s": self.prior_wall_s + time.perf_counter() - t0,
            "train_s": self.prior_train_s + self.train_s + (self._elapsed(self.t_loop) if self.in_loop else 0.0),
        }
        ckpt.save_checkpoint(self.checkpoint_dir, state)
        self.save_s += time.perf_counter() - start

    # -- the result -------------------------------------------------------------------------------------------
    def _finish(self, t0: float) -> RunResult:
        val = None
        if self.ctx.is_main:
            val = evaluate(self.model, self.corpus, self.context, device=self.device, autocast=self.autocast)
        val = dist.broadcast_float(val, self.ctx, self.device)
        if val is None or val != val or val in (float("inf"), float("-inf")):
            return self.result("diverged", None, t0, error=f"diverged: the validation loss is {val}")
        return self.result("done", val, t0)

    def result(self, status: str, val_loss: float | None, t0: float, error: str | None = None) -> RunResult:
        train_s = self.prior_train_s + self.train_s  # all sessions of the run
        rate = 1.0 / train_s if train_s > 0 else 0.0
        steps = self.next_step
        tokens = steps * self.spec.batch_size * self.context
        return RunResult(
            key=self.spec.key(), spec=self.spec, plan=self.plan,
            status=status, val_loss=val_loss,  # type: ignore[arg-type]
            curve=self.monitor.curve(), steps_done=self.next_step,
            wall_s=self.prior_wall_s + time.perf_counter() - t0, tokens_per_s=tokens * rate,
            model_flops_per_s=steps * self.plan.flops_per_step * rate,
            device=describe_device(self.device, self.ctx.world_size), versions=versions(), error=error,
        )
