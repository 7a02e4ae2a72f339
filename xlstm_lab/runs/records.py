"""One stored run (``RunRecord``) and the JSON forms of ``RunSpec`` and ``RunPlan`` kept in the store (torch-free)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from xlstm_lab.train.spec import RunPlan, RunSpec

__all__ = ["RunRecord", "spec_to_json", "spec_from_json", "plan_to_json", "plan_from_json", "downsample_curve",
           "MAX_CURVE_POINTS"]

MAX_CURVE_POINTS = 512
"""A stored loss curve keeps at most this many (step, loss) points (first and last always kept)."""


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls`` (a newer store may hold more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def spec_to_json(spec: RunSpec) -> str:
    """The spec as compact JSON (``RunSpec.to_dict``: ``extra`` values that are not JSON are stored as text)."""
    return json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> RunSpec:
    """Inverse of :func:`spec_to_json` (``RunSpec.from_dict``): ``spec_from_json(spec_to_json(s)).key() == s.key()``."""
    return RunSpec.from_dict(json.loads(text))


def plan_to_json(plan: RunPlan) -> str:
    """The plan as compact JSON."""
    return json.dumps(dataclasses.asdict(plan), sort_keys=True, separators=(",", ":"))


def plan_from_json(text: str | None) -> RunPlan | None:
    """Inverse of :func:`plan_to_json` (None stays None)."""
    return None if text is None else RunPlan(**_known(RunPlan, json.loads(text)))


def downsample_curve(curve: Any, max_points: int = MAX_CURVE_POINTS) -> list[tuple[int, float | None]]:
    """At most ``max_points`` (step, loss) pairs, evenly spread over the history, first and last kept.

    Non-finite losses (a diverged run's NaN) are kept as None so the JSON stays valid.
    """
    points = [(int(s), float(v)) for s, v in curve]
    if len(points) > max_points:
        last = len(points) - 1
        idx = sorted({round(i * last / (max_points - 1)) for i in range(max_points)})
        points = [points[i] for i in idx]
    return [(s, v if math.isfinite(v) else None) for s, v in points]


@dataclass(frozen=True)
class RunRecord:
    """One row of the run store. Losses in nats per byte; times in seconds (Unix time for the ``*_at`` fields)."""

    key: str
    status: str
    """"pending", "running", "done", "diverged" or "failed"."""
    spec: RunSpec
    plan: RunPlan | None
    val_loss: float | None = None
    curve: tuple[tuple[int, float | None], ...] = ()
    steps_done: int = 0
    wall_s: float | None = None
    tokens_per_s: float | None = None
    model_flops_per_s: float | None = None
    device: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    sweep: str | None = None
    attempts: int = 0
    owner: str | None = None
    """"host:pid" of the process that claimed the run last."""
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None

    @property
    def val_bpb(self) -> float | None:
        """Validation loss in bits per byte."""
        return None if self.val_loss is None else self.val_loss / math.log(2)

    @property
    def n_params(self) -> int | None:
        """N of the plan (None when the run was never planned)."""
        return None if self.plan is None else self.plan.n_params

    @property
    def flops_spent(self) -> float | None:
        """C actually spent: the plan's C for a done run, ``steps_done`` steps' worth otherwise."""
        if self.plan is None:
            return None
        return self.plan.flops if self.status == "done" else self.steps_done * self.plan.flops_per_step

    @property
    def tokens_spent(self) -> int | None:
        """D actually trained: the plan's D for a done run, ``steps_done`` steps' worth otherwise."""
        if self.plan is None:
            return None
        if self.status == "done":
            return self.plan.tokens
        return self.steps_done * self.spec.batch_size * self.spec.model.context_length
