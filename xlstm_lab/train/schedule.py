"""The learning-rate schedule: linear warm-up, then cosine decay to a floor (the paper's shape; torch-free).

Steps are 0-based: step ``s`` is the ``s``-th optimizer update (the one that trains on
``corpus.train_batch(s, ...)``). With W warm-up steps and S steps in all:

    lr(s) = peak * (s + 1) / (W + 1)                                      for s < W
    lr(s) = floor + (peak - floor) * (1 + cos(pi * (s - W) / (S - 1 - W))) / 2   for W <= s < S

with floor = min_lr_frac * peak. The lr rises in W + 1 equal increments: the first update uses peak / (W + 1)
(not 0, which would waste a step), the update at step W uses the peak, and the last update (s = S - 1) uses the
floor exactly. The schedule is a pure function of
the step, so a resumed run needs no scheduler state.
"""

from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(step: int, *, peak: float, steps: int, warmup_steps: int, min_lr_frac: float) -> float:
    """Learning rate of the 0-based optimizer step ``step``.

    Args:
        step: 0 <= step < steps.
        peak: peak learning rate (``RunSpec.lr``).
        steps: S, optimizer steps of the run.
        warmup_steps: W, 0 <= W < S (``RunPlan.warmup_steps``).
        min_lr_frac: the floor as a fraction of ``peak`` (``RunSpec.min_lr_frac``).

    Returns:
        The learning rate (see the module docstring for the formula).

    Raises:
        ValueError: ``step`` outside [0, steps) or ``warmup_steps`` outside [0, steps).
    """
    if not 0 <= step < steps:
        raise ValueError(f"step must lie in [0, {steps}), got {step}")
    if not 0 <= warmup_steps < steps:
        raise ValueError(f"warmup_steps must lie in [0, steps={steps}), got {warmup_steps}")
    if step < warmup_steps:
        return peak * (step + 1) / (warmup_steps + 1)
    floor = min_lr_frac * peak
    span = steps - 1 - warmup_steps
    progress = (step - warmup_steps) / span if span > 0 else 1.0
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
