"""``plan_run``: a FLOP budget turned into optimizer steps and tokens with the paper's exact accounting (torch-free).

One optimizer step trains ``batch_size`` sequences of ``context_length`` tokens and costs
``batch_size * accounting.flops_per_sequence(config).forward_backward`` FLOPs: the paper's convention, which counts
every matmul (projections, feed-forward, logits), the attention core (causal) or the chunkwise mLSTM cell, and
the backward pass as twice the forward pass. ``steps`` is that cost divided into the budget and rounded to the
nearest whole step, so the FLOPs spent differ from the budget by at most half a step.
"""

from __future__ import annotations

import math
import numbers

from xlstm_lab.accounting.flops import flops_per_sequence
from xlstm_lab.accounting.params import count_params
from xlstm_lab.models.config import ModelConfig
from xlstm_lab.train.spec import PlanError, RunPlan, TrainError

__all__ = ["MIN_STEPS", "MAX_EPOCHS", "plan_run", "warmup_steps_for"]

MIN_STEPS = 50
"""Fewest optimizer steps a plan may have: below ~50 the warm-up and decay are a handful of steps and the loss
says more about the schedule than about the model."""
MAX_EPOCHS = 4.0
"""Most passes over the training split a plan may make: repeated data changes the scaling (Muennighoff et al.
2023 find up to ~4 epochs nearly as good as fresh data)."""


def warmup_steps_for(steps: int, warmup_frac: float) -> int:
    """Warm-up steps of a run: ``round(warmup_frac * steps)``, at least 1 when ``warmup_frac > 0``, and at most
    ``steps - 2``, so that the peak (step W) and the floor (the last step) are both reached."""
    if warmup_frac <= 0 or steps <= 2:
        return 0
    return min(steps - 2, max(1, math.floor(warmup_frac * steps + 0.5)))


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise TrainError(f"plan_run: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _real(name: str, value: object, *, lower: float = 0.0, upper: float = math.inf, hint: str = "") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or not lower < float(value) <= upper:
        raise TrainError(f"plan_run: {name} must be a finite number in ({lower:g}, {upper:g}], got {value!r}{hint}")
    return float(value)


def plan_run(
    config: ModelConfig,
    budget_flops: float,
    *,
    batch_size: int,
    train_tokens: int,
    max_epochs: float = MAX_EPOCHS,
    min_steps: int = MIN_STEPS,
    warmup_frac: float = 0.1,
) -> RunPlan:
    """Plan how a training run spends its FLOP budget.

    Args:
        config: the model; ``config.context_length`` is the training sequence length T.
        budget_flops: training compute C in the paper's convention (FLOPs).
        batch_size: sequences per optimizer step.
        train_tokens: length of the corpus' training stream (``len(corpus.train)``), tokens.
        max_epochs: refuse plans that pass over the training split more often than this.
        min_steps: refuse plans with fewer optimizer steps than this.
        warmup_frac: share of the steps spent in linear warm-up (see :func:`warmup_steps_for`).

    Returns:
        RunPlan with ``n_params`` = ``accounting.count_params(config)`` (the paper's N: every parameter,
        embedding, untied head and norm scales included), ``flops_per_step`` = batch_size x the paper's
        forward+backward FLOPs per sequence, ``steps`` = round(budget / flops_per_step) (so
        ``|steps * flops_per_step - budget| <= flops_per_step / 2``), ``tokens`` D = steps x batch_size x T,
        ``flops`` C spent = steps x flops_per_step, ``epochs`` = sequences trained / training windows.

    Raises:
        PlanError: the budget buys fewer than ``min_steps`` steps or more than ``max_epochs`` epochs; the
            message names the bound, the numbers and what to change.
        TrainError: an argument that is not a valid number, or a training split shorter than one sequence.
    """
    if not isinstance(config, ModelConfig):
        raise TrainError(f"plan_run needs a ModelConfig, got {type(config).__name__}")
    budget = _real("budget_flops", budget_flops, hint="; e.g. 1e12")
    batch = _whole("batch_size", batch_size, 1)
    n_stream = _whole("train_tokens", train_tokens, 1)
    max_ep = _real("max_epochs", max_epochs, hint="; the lab default is 4")
    min_st = _whole("min_steps", min_steps, 1)
    warm = warmup_frac
    if isinstance(warm, bool) or not isinstance(warm, numbers.Real) or not 0.0 <= float(warm) < 1.0:
        raise TrainError(f"plan_run: warmup_frac must be a fraction in [0, 1), got {warmup_frac!r}; the default is 0.1")
    warm = float(warm)
    ctx = config.context_length
    windows = (n_stream - 1) // ctx
    if windows < 1:
        raise TrainError(f"plan_run: the training split has {n_stream} tokens, fewer than context + 1 = {ctx + 1}; "
                         "use a shorter context_length or a larger corpus")

    per_seq = flops_per_sequence(config).forward_backward
    per_step = per_seq * batch
    steps = math.floor(budget / per_step + 0.5)
    n = count_params(config)
    what = (f"{config.family} d_model={config.d_model} n_layers={config.n_layers} (N={n:,}) at batch {batch} x "
            f"ctx {ctx}: {per_step:.4g} FLOPs per step")
    if steps < min_st:
        max_batch = math.floor(budget / (per_seq * min_st))
        batch_fix = (f"a batch of <= {max_batch} sequences" if max_batch >= 1
                     else "a smaller model (fewer FLOPs per token)")
        raise PlanError(
            f"budget {budget:.4g} FLOPs buys only {steps} optimizer steps of {what}; the minimum is {min_st} steps "
            f"(min_steps). Fix: raise the budget to >= {min_st * per_step:.3g} FLOPs, or use {batch_fix}, "
            f"or a smaller model"
        )
    epochs = steps * batch / windows
    if epochs > max_ep:
        max_budget = math.floor(max_ep * windows / batch) * per_step
        raise PlanError(
            f"budget {budget:.4g} FLOPs buys {steps} steps of {what} = {epochs:.3g} epochs of the {n_stream:,}-token "
            f"training split; the limit is {max_ep:g} epochs (max_epochs: repeated data changes the scaling). Fix: "
            f"lower the budget to <= {max_budget:.3g} FLOPs, or use a bigger model (more FLOPs per token) or a "
            f"larger corpus, or raise max_epochs"
        )
    return RunPlan(
        n_params=n,
        flops_per_step=per_step,
        steps=steps,
        tokens=steps * batch * ctx,
        flops=steps * per_step,
        epochs=epochs,
        warmup_steps=warmup_steps_for(steps, warm),
    )
