"""Tiny corpora, configs and specs for the trainer tests (d 16, ctx 32: a run of 30-60 steps takes < 1 s)."""

from __future__ import annotations

import random
from pathlib import Path

from xlstm_lab.accounting import flops_per_sequence
from xlstm_lab.data import Corpus
from xlstm_lab.models import ModelConfig
from xlstm_lab.train import RunSpec

WORDS = "the quick brown fox jumps over a lazy dog and then runs far away into night with bright stars".split()
CONTEXT = 32
BATCH = 4


def texts(n_docs: int = 3, words: int = 4000, seed: int = 0) -> list[str]:
    """Random word salad from a 19-word vocabulary: learnable (the loss falls from 5.5 to ~2 nats) and fast."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(n_docs)]


def tiny_corpus() -> Corpus:
    return Corpus.from_texts("tiny", texts())


def write_corpus(folder: Path) -> Path:
    """The same documents as :func:`tiny_corpus`, as .txt files (for ``load_corpus(folder)`` in subprocesses)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts()):
        (folder / f"doc{i}.txt").write_text(text)
    return folder


def tiny_config(family: str = "xlstm", d_model: int = 16, context: int = CONTEXT) -> ModelConfig:
    return ModelConfig(family, 256, d_model, 2, 2, 48, context_length=context)


def spec_for(family: str = "xlstm", steps: int = 30, lr: float = 1e-2, batch: int = BATCH, seed: int = 0,
             **kw) -> RunSpec:
    """A spec whose budget buys exactly ``steps`` steps (computed from the accounting, not from plan_run)."""
    config = kw.pop("config", None) or tiny_config(family)
    budget = steps * batch * flops_per_sequence(config).forward_backward
    return RunSpec(config, budget, lr, batch, seed, **kw)
