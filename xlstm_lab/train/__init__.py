"""The trainer: plan a FLOP budget (``plan_run``), train it (``train``), and the lr / batch rules per size.

Importing ``xlstm_lab.train`` is torch-free (``spec``, ``plan``, ``schedule``, ``rules``, ``monitor``): the run
store and sweep planning use it without torch. ``train``, ``evaluate``, the checkpoint functions and the
distributed helpers import torch on first access.

Typical use::

    from xlstm_lab.data import load_corpus
    from xlstm_lab.models import ModelConfig
    from xlstm_lab.train import RunSpec, default_batch_size, default_lr, train

    config = ModelConfig("xlstm", 256, 32, 2, 2, 96, context_length=256)
    corpus = load_corpus()
    spec = RunSpec(config, budget_flops=3e11, lr=default_lr(config), batch_size=default_batch_size(config),
                   corpus_sha256=corpus.sha256)
    result = train(spec, corpus=corpus)      # result.status, result.val_loss (nats per byte), result.curve

Multi-process (DDP): ``torchrun --nproc_per_node 2 -m xlstm_lab.train.launch --spec spec.json --out result.json``
(``xlstm_lab.train.launch``).
"""

from __future__ import annotations

import importlib
from typing import Any

from xlstm_lab.train.monitor import DIVERGENCE_MARGIN, DIVERGENCE_WINDOW, LossMonitor
from xlstm_lab.train.plan import MAX_EPOCHS, MIN_STEPS, plan_run, warmup_steps_for
from xlstm_lab.train.rules import default_batch_size, default_lr, tokens_per_step
from xlstm_lab.train.schedule import lr_at
from xlstm_lab.train.spec import (
    RUN_STATUSES,
    TRAIN_CODE_VERSION,
    PlanError,
    RunPlan,
    RunResult,
    RunSpec,
    RunStatus,
    TrainError,
)

__all__ = [
    "TRAIN_CODE_VERSION",
    "RUN_STATUSES",
    "RunStatus",
    "RunSpec",
    "RunPlan",
    "RunResult",
    "TrainError",
    "PlanError",
    "MIN_STEPS",
    "MAX_EPOCHS",
    "plan_run",
    "warmup_steps_for",
    "lr_at",
    "default_lr",
    "default_batch_size",
    "tokens_per_step",
    "DIVERGENCE_WINDOW",
    "DIVERGENCE_MARGIN",
    "LossMonitor",
    "train",
    "StepInfo",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
]

_LAZY = {
    "train": "xlstm_lab.train.loop",
    "StepInfo": "xlstm_lab.train.loop",
    "evaluate": "xlstm_lab.train.evaluate",
    "save_checkpoint": "xlstm_lab.train.checkpoint",
    "load_checkpoint": "xlstm_lab.train.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xlstm_lab.train' has no attribute {name!r}")
