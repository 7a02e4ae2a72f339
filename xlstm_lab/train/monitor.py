"""The training-loss history of a run: the divergence rule and the downsampled curve (torch-free).

Divergence rule (``LossMonitor.check``), applied after every step to the training losses (nats per byte):

1. a loss that is NaN or infinite, or
2. the mean of the last ``DIVERGENCE_WINDOW`` = 10 losses more than ``DIVERGENCE_MARGIN`` = 1 nat above the
   first step's loss (checked once 10 losses exist, or at the last step of a shorter run).

The first loss of a freshly initialised byte model is ~ln 256 = 5.55 nats (near-uniform predictions), so rule 2
means "10 steps in a row worse, on average, than a model that predicts nothing, by a factor e in perplexity":
healthy runs fall below their start within a few steps and never come back; a run whose learning rate is far
too high overshoots to 10-100 nats or NaN within a few steps. The 10-step mean keeps a single spike (e.g. one
bad batch in warm-up) from condemning a run. A diverged run stops at once: its status is "diverged" and its
history is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["DIVERGENCE_WINDOW", "DIVERGENCE_MARGIN", "MAX_CURVE_POINTS", "LossMonitor", "downsample"]

DIVERGENCE_WINDOW = 10
DIVERGENCE_MARGIN = 1.0
"""Nats per byte above the first loss (see the module docstring)."""
MAX_CURVE_POINTS = 1024
"""A result's curve keeps at most this many points (means over equal windows of steps)."""


def downsample(losses: Sequence[float], first_step: int = 0, max_points: int = MAX_CURVE_POINTS
               ) -> tuple[tuple[int, float], ...]:
    """(step, loss) pairs: every step when there are at most ``max_points``, else means over windows.

    Windows are ``ceil(n / max_points)`` consecutive steps, labelled by their last step; the last window may be
    shorter, so the final step is always a label. A window holding a NaN or inf averages to NaN or inf, so a
    divergence stays visible.
    """
    n = len(losses)
    width = max(1, math.ceil(n / max_points))
    out = []
    for start in range(0, n, width):
        window = losses[start:start + width]
        out.append((first_step + start + len(window) - 1, math.fsum(window) / len(window)
                    if all(math.isfinite(x) for x in window) else sum(window) / len(window)))
    return tuple(out)


class LossMonitor:
    """Per-step training losses (step 0 first) and the divergence rule of the module docstring."""

    def __init__(self, total_steps: int, losses: Sequence[float] = ()) -> None:
        self.total_steps = total_steps
        self.losses: list[float] = [float(x) for x in losses]
        self.reason: str | None = None

    def append(self, loss: float) -> str | None:
        """Record the next step's loss; returns the divergence reason, or None while the run is healthy."""
        self.losses.append(float(loss))
        self.reason = self.check()
        return self.reason

    def check(self) -> str | None:
        """The divergence reason for the history so far, or None."""
        if not self.losses:
            return None
        step = len(self.losses) - 1
        last = self.losses[-1]
        if not math.isfinite(last):
            return f"diverged: the training loss at step {step} is {last}"
        window = self.losses[-DIVERGENCE_WINDOW:]
        if len(window) < DIVERGENCE_WINDOW and step < self.total_steps - 1:
            return None
        mean, start = sum(window) / len(window), self.losses[0]
        if mean > start + DIVERGENCE_MARGIN:
            return (f"diverged: the mean training loss of steps {step - len(window) + 1}-{step} is {mean:.4g} nats, "
                    f"more than {DIVERGENCE_MARGIN:g} above the first step's {start:.4g}")
        return None

    def curve(self) -> tuple[tuple[int, float], ...]:
        """The downsampled (step, loss) curve."""
        return downsample(self.losses)
