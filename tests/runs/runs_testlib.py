"""Stand-ins for the trainer (plan and train) with known behaviour, and small corpora, for the run-store tests.

The fake trainer follows the contract of ``xlstm_lab.train.train``: it "trains" ``TICKS`` ticks, writes a
checkpoint (the tick reached) atomically after each, resumes from it, and returns a RunResult whose loss is a
known function of N, D and the seed. Environment variables steer it in subprocesses:
``FAKE_TICK_S`` (seconds per tick, default 0) and ``FAKE_LOG`` (a file that gets one JSON line per call).
A spec with ``extra["fail"]`` raises; one with ``extra["diverge"]`` returns "diverged".
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from types import SimpleNamespace

from xlstm_lab.accounting import count_params, flops_per_sequence
from xlstm_lab.data import Corpus
from xlstm_lab.models import ModelConfig
from xlstm_lab.runs import TrainerRules
from xlstm_lab.train.spec import PlanError, RunPlan, RunResult, RunSpec

TICKS = 10
FAKE_TRAIN_TOKENS = 10**9


def fake_plan_run(config: ModelConfig, budget_flops: float, *, batch_size: int, train_tokens: int,
                  max_epochs: float = 4.0, min_steps: int = 50) -> RunPlan:
    """The planning rule of the issue: whole steps within the budget, >= min_steps, <= max_epochs."""
    per_step = flops_per_sequence(config).forward_backward * batch_size
    steps = int(budget_flops // per_step)
    if steps < min_steps:
        raise PlanError(f"budget buys {steps} steps < {min_steps}")
    tokens = steps * batch_size * config.context_length
    if tokens / train_tokens > max_epochs:
        raise PlanError(f"{tokens / train_tokens:.1f} epochs > {max_epochs}")
    return RunPlan(count_params(config), per_step, steps, tokens, steps * per_step, tokens / train_tokens,
                   steps // 10)


def fake_rules(lr: float = 1e-2, batch: int = 4) -> TrainerRules:
    return TrainerRules(fake_plan_run, lambda config: lr, lambda config: batch)


def fake_loss(n: float, d: float, seed: int) -> float:
    """A Chinchilla-like surface (E + A/N^a + B/D^b) plus a seed-determined wobble of at most 0.005."""
    return 1.5 + 60.0 / n**0.35 + 120.0 / d**0.3 + 0.005 * random.Random(seed).uniform(-1, 1)


def _checkpoint(folder: str | None) -> int:
    if folder is None or not os.path.exists(os.path.join(folder, "tick.json")):
        return 0
    return json.loads(Path(folder, "tick.json").read_text())["tick"]


def _save(folder: str | None, tick: int) -> None:
    if folder is None:
        return
    tmp = os.path.join(folder, "tick.json.tmp")
    with open(tmp, "w") as fh:
        json.dump({"tick": tick}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(folder, "tick.json"))


def fake_train(spec: RunSpec, *, corpus=None, checkpoint_dir=None, progress=True, **kwargs) -> RunResult:
    plan = fake_plan_run(spec.model, spec.budget_flops, batch_size=spec.batch_size, train_tokens=FAKE_TRAIN_TOKENS,
                         max_epochs=spec.max_epochs)
    start = _checkpoint(checkpoint_dir)
    if os.environ.get("FAKE_LOG"):
        with open(os.environ["FAKE_LOG"], "a") as fh:
            fh.write(json.dumps({"key": spec.key(), "start": start, "pid": os.getpid()}) + "\n")
    if spec.extra.get("fail"):
        raise RuntimeError("the fake trainer was told to fail")
    tick_s = float(os.environ.get("FAKE_TICK_S", "0"))
    for tick in range(start, TICKS):
        time.sleep(tick_s)
        _save(checkpoint_dir, tick + 1)
    curve = tuple((s, 5.0 - 0.01 * s) for s in range(0, plan.steps, max(1, plan.steps // 20)))
    if spec.extra.get("diverge"):
        return RunResult(spec.key(), spec, plan, "diverged", None, curve + ((plan.steps, math.nan),),
                         steps_done=plan.steps // 2, device="cpu (fake)")
    loss = fake_loss(plan.n_params, plan.tokens, spec.seed)
    return RunResult(spec.key(), spec, plan, "done", loss, curve, steps_done=plan.steps, wall_s=0.01,
                     tokens_per_s=1e6, model_flops_per_s=1e9, device="cpu (fake)", versions={"fake": "1"})


def big_corpus_stub(n_train: int = FAKE_TRAIN_TOKENS) -> SimpleNamespace:
    """What a plan needs of a corpus (its checksum and training-token count) without the text: a large corpus."""
    return SimpleNamespace(name="stub", sha256="5" * 64, train=range(n_train))


def tiny_corpus(name: str = "tiny") -> Corpus:
    """A small in-memory corpus (a few kB of repeated text)."""
    text = "the quick brown fox jumps over the lazy dog. " * 200
    return Corpus.from_texts(name, [text, text.upper(), text[::-1]])


def write_text_corpus(folder: Path, n_docs: int = 3, words: int = 20000, seed: int = 0) -> Path:
    """A folder of .txt files for subprocess tests (``--corpus FOLDER``)."""
    rng = random.Random(seed)
    vocab = "the quick brown fox jumps over a lazy dog and then runs far away into night with bright stars".split()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        (folder / f"doc{i}.txt").write_text(" ".join(rng.choice(vocab) for _ in range(words)) + "\n")
    return folder


def spec_for(d_model: int = 16, budget: float = 1e10, seed: int = 0, **extra) -> RunSpec:
    config = ModelConfig("llama", 256, d_model, 2, 1, None, 64)
    return RunSpec(config, budget, 1e-2, 4, seed, corpus="tiny", corpus_sha256="0" * 64, extra=dict(extra))


def plan_of(sizes=(1e4, 2e4, 4e4), seeds=(0,), budgets=(3e11,), family="llama"):
    """A small IsoFLOP plan with the stand-in trainer's rules (the same in every process)."""
    from xlstm_lab.runs import SweepSettings, isoflop_plan

    return isoflop_plan([family], list(budgets), sizes=list(sizes), settings=SweepSettings(corpus="stub", seeds=seeds),
                        rules=fake_rules(), corpus=big_corpus_stub())


# A sweep in a child process: python -c CHILD_SWEEP STORE '{"sizes": [...], "seeds": [...]}'
CHILD_SWEEP = """
import json, os, sys
sys.path.insert(0, os.environ["RUNS_TESTLIB_DIR"])
from runs_testlib import fake_train, plan_of
from xlstm_lab.runs import LocalExecutor, run_sweep
kw = json.loads(sys.argv[2])
run_sweep(sys.argv[1], plan_of(**kw), executor=LocalExecutor(fake_train, threads=1), progress=False,
          heartbeat_s=0.2)
"""


def child_env(**extra) -> dict:
    env = dict(os.environ, RUNS_TESTLIB_DIR=str(Path(__file__).parent), **{k: str(v) for k, v in extra.items()})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env
