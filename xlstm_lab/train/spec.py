"""What a training run is (``RunSpec``), what planning it gives (``RunPlan``) and what it returns (``RunResult``).

This module is the contract between the trainer (``xlstm_lab.train``) and the run store and sweeps
(``xlstm_lab.runs``): both sides import these types and nothing else from each other. It is torch-free.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from xlstm_lab.models.config import ModelConfig

__all__ = [
    "TRAIN_CODE_VERSION",
    "RunStatus",
    "RUN_STATUSES",
    "TrainError",
    "PlanError",
    "RunSpec",
    "RunPlan",
    "RunResult",
]

TRAIN_CODE_VERSION = "1"
"""Bump when a change to the trainer changes results (schedule, init, data order...): it enters every run key,
so a sweep re-runs instead of mixing results of two trainers."""

RunStatus = Literal["pending", "running", "done", "diverged", "failed"]
RUN_STATUSES: tuple[str, ...] = ("pending", "running", "done", "diverged", "failed")


class TrainError(ValueError):
    """A run cannot be planned or started as asked; the message names the bound and what to change."""


class PlanError(TrainError):
    """The FLOP budget buys too few steps or too many epochs for this model, batch and corpus."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run's result.

    Two specs with equal :meth:`key` give the same result on the same device kind (the trainer is seeded and
    deterministic on CPU). Use ``dataclasses.replace`` for variants.
    """

    model: ModelConfig
    """Architecture, including ``context_length`` (the training sequence length) and the byte vocabulary."""
    budget_flops: float
    """Training compute C in the paper's convention (``accounting.flops_per_sequence``, backward = 2 x forward)."""
    lr: float
    """Peak learning rate of AdamW."""
    batch_size: int
    """Sequences per optimizer step (tokens per step = batch_size * context_length)."""
    seed: int = 0
    """Seeds the initialisation and the data order."""
    corpus: str = "shakespeare_kjv"
    """A corpus name known to ``xlstm_lab.data`` or a path to a local folder of text files."""
    corpus_sha256: str = ""
    """Checksum of the corpus' token streams (filled in by whoever resolves ``corpus``; enters the key)."""
    device: str = "cpu"
    """"cpu" or "cuda" (fp32 on CPU, bf16 autocast on CUDA); the device kind enters the key."""
    warmup_frac: float = 0.1
    """Fraction of the steps spent in linear warm-up (then cosine decay)."""
    min_lr_frac: float = 0.1
    """Final learning rate as a fraction of ``lr`` at the end of the cosine decay."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay (on matrices, not on norms, biases or embeddings)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    max_epochs: float = 4.0
    """Refuse a plan that repeats the training split more often than this (repetition changes scaling)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form labels that do not change the result (sweep name, plan coordinates); not in the key."""

    def key_fields(self) -> dict[str, Any]:
        """The JSON-able fields that determine the result (everything but ``extra``), plus the code version."""
        data = asdict(self)
        data.pop("extra")
        data["device"] = self.device.split(":")[0]  # the kind, not the index
        data["train_code_version"] = TRAIN_CODE_VERSION
        return data

    def key(self) -> str:
        """A stable 16-hex-digit hash of :meth:`key_fields` (the run store's primary key)."""
        text = json.dumps(self.key_fields(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def check(self) -> RunSpec:
        """Raise a :class:`TrainError` naming the first field that cannot be trained, and the fix; else ``self``.

        The trainer calls it before anything else (a bad spec raises; it never becomes a "failed" run).
        """
        if not isinstance(self.model, ModelConfig):
            raise TrainError(f"RunSpec.model must be a ModelConfig, got {type(self.model).__name__}")
        _positive_finite("budget_flops", self.budget_flops, "e.g. 1e12")
        _positive_finite("lr", self.lr, "e.g. 1e-2 (xlstm_lab.train.default_lr gives the calibrated value)")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise TrainError(f"RunSpec.batch_size must be a whole number >= 1 (sequences per step), got "
                             f"{self.batch_size!r}; xlstm_lab.train.default_batch_size gives the calibrated value")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise TrainError(f"RunSpec.seed must be a whole number in [0, 2**63), got {self.seed!r}")
        if self.device.split(":")[0] not in ("cpu", "cuda"):
            raise TrainError(f"RunSpec.device must be 'cpu' or 'cuda' (optionally 'cuda:N'), got {self.device!r}")
        _fraction("warmup_frac", self.warmup_frac, upper_open=True)
        _fraction("min_lr_frac", self.min_lr_frac, upper_open=False)
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise TrainError(f"RunSpec.weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0):
            raise TrainError(f"RunSpec.grad_clip must be > 0 (math.inf turns clipping off), got {self.grad_clip!r}")
        _positive_finite("max_epochs", self.max_epochs, "the lab default is 4")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``extra`` values that are not JSON become text); :meth:`from_dict` inverts it."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """Inverse of :meth:`to_dict` (unknown keys, e.g. from a newer version, are ignored): equal :meth:`key`."""
        from xlstm_lab.models.config import LlamaOptions, XLSTMOptions

        data = dict(data)
        model = dict(data.pop("model"))
        xlstm = XLSTMOptions(**_known(XLSTMOptions, model.pop("xlstm", {})))
        llama = LlamaOptions(**_known(LlamaOptions, model.pop("llama", {})))
        config = ModelConfig(**_known(ModelConfig, model), xlstm=xlstm, llama=llama)
        return cls(model=config, **_known(cls, data))


@dataclass(frozen=True)
class RunPlan:
    """How a budget is spent: the exact FLOP accounting turned into steps and tokens."""

    n_params: int
    """N in the paper's convention: ``accounting.count_params(config)``, i.e. *every* parameter -- embedding,
    untied output head and norm scales included (the paper's ``N_params``; equal to the built module's
    ``sum(p.numel())``)."""
    flops_per_step: float
    """Training FLOPs of one optimizer step (batch_size sequences of context_length)."""
    steps: int
    """Optimizer steps; steps * flops_per_step is within one step of the budget."""
    tokens: int
    """D: training tokens = steps * batch_size * context_length."""
    flops: float
    """C actually spent = steps * flops_per_step."""
    epochs: float
    """Passes over the training split: sequences trained / training windows of ``context + 1`` tokens (stride
    ``context``) in the split, i.e. steps * batch_size / floor((train_tokens - 1) / context); close to
    tokens / training-split tokens."""
    warmup_steps: int
    """Steps of linear warm-up (then cosine decay to ``min_lr_frac * lr`` at the last step)."""


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run: what the run store keeps. Losses are in nats per byte (token = byte)."""

    key: str
    spec: RunSpec
    plan: RunPlan
    status: RunStatus
    """"done", "diverged" (NaN or loss far above its start; kept with its history) or "failed" (an error)."""
    val_loss: float | None
    """Final validation loss on the whole fixed validation split, nats per byte (None unless done)."""
    curve: tuple[tuple[int, float], ...] = ()
    """Downsampled (step, training loss) history."""
    steps_done: int = 0
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    model_flops_per_s: float = 0.0
    """Achieved training FLOP/s in the paper's convention (plan.flops_per_step * steps / time)."""
    device: str = ""
    """The device as run, e.g. "cpu (AMD EPYC ..., 2 threads)" or "cuda (NVIDIA H100 80GB HBM3)"."""
    versions: dict[str, str] = field(default_factory=dict)
    """torch, triton, python, xlstm_lab, train_code_version."""
    error: str | None = None

    @property
    def val_bpb(self) -> float | None:
        """Validation loss in bits per byte."""
        return None if self.val_loss is None else self.val_loss / math.log(2)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite losses stay floats: use ``json.dumps(..., allow_nan=True)``)."""
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        data["curve"] = [list(p) for p in self.curve]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["spec"] = RunSpec.from_dict(data["spec"])
        data["plan"] = None if data.get("plan") is None else RunPlan(**_known(RunPlan, data["plan"]))
        data["curve"] = tuple((int(s), float(v)) for s, v in data.get("curve", ()))
        return cls(**_known(cls, data))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls``."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _positive_finite(name: str, value: Any, hint: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise TrainError(f"RunSpec.{name} must be a finite number > 0, got {value!r}; {hint}")


def _fraction(name: str, value: Any, *, upper_open: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and 0.0 <= value and (value < 1.0 if upper_open else value <= 1.0)
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise TrainError(f"RunSpec.{name} must be a fraction in {bound}, got {value!r}; the default is 0.1")
