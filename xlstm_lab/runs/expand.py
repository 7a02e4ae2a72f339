"""Sweep plans: IsoFLOP (budgets x sizes), token/param (sizes x ratios) and context (contexts x budgets x sizes).

Each expansion turns its grid into planned runs -- a ``RunSpec`` (shape, budget, lr, batch, seed, corpus checksum)
and the trainer's ``RunPlan`` (steps, tokens, FLOPs actually spent) -- per family and seed. A size whose plan
fails at a budget (too few steps, too many epochs) is skipped and reported; a budget for which every size fails
raises ``NoFeasibleSizeError``. Nothing is trained here: ``sweep.run_sweep`` does that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xlstm_lab.accounting.flops import flops_per_sequence
from xlstm_lab.accounting.params import count_params
from xlstm_lab.models.config import FAMILIES, ModelConfig
from xlstm_lab.runs.errors import NoFeasibleSizeError, SweepError
from xlstm_lab.runs.ladder import ladder_shapes, n_opt, pick_sizes, shape_label, shape_near
from xlstm_lab.train.spec import PlanError, RunPlan, RunSpec

__all__ = ["SweepKind", "Sizes", "TrainerRules", "trainer_rules", "SweepSettings", "PlannedRun", "SkippedSize",
           "SweepPlan", "isoflop_plan", "tokenparam_plan", "context_plan"]

SweepKind = Literal["isoflop", "tokenparam", "context"]
Sizes = Literal["auto"] | Sequence[float]
"""``"auto"`` (the ladder around each budget's expected optimum) or target parameter counts (nearest shapes)."""


@dataclass(frozen=True)
class TrainerRules:
    """The trainer functions a plan needs (``xlstm_lab.train``; tests may pass stand-ins)."""

    plan_run: Callable[..., RunPlan]
    """``plan_run(config, budget_flops, *, batch_size, train_tokens, max_epochs, min_steps) -> RunPlan``."""
    default_lr: Callable[[ModelConfig], float]
    default_batch_size: Callable[[ModelConfig], int]


def trainer_rules() -> TrainerRules:
    """The real trainer's planning function and lr / batch rules (imported on first use)."""
    from xlstm_lab.train import default_batch_size, default_lr, plan_run

    return TrainerRules(plan_run, default_lr, default_batch_size)


@dataclass(frozen=True)
class SweepSettings:
    """What every run of a sweep shares.

    Attributes:
        corpus: corpus name or folder (``xlstm_lab.data.load_corpus``); its checksum enters every run key.
        device: "cpu" or "cuda".
        seeds: one run per seed for each grid point (>= 2 near each optimum: seed noise is 0.007-0.02 nats).
        lr: peak learning rate for every run; None uses the trainer's rule per shape.
        batch_size: sequences per step for every run; None uses the trainer's rule per shape.
        max_epochs: refuse plans that repeat the training split more often than this.
        min_steps: refuse plans with fewer optimizer steps.
        n_sizes: shapes per budget with sizes "auto" (>= 5 gives an IsoFLOP parabola room).
        size_step: ratio of neighbouring sizes with sizes "auto".
    """

    corpus: str = "shakespeare_kjv"
    device: str = "cpu"
    seeds: tuple[int, ...] = (0,)
    lr: float | None = None
    batch_size: int | None = None
    max_epochs: float = 4.0
    min_steps: int = 50
    n_sizes: int = 5
    size_step: float = 2.0

    def __post_init__(self) -> None:
        if self.device.split(":")[0] not in ("cpu", "cuda"):
            raise SweepError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise SweepError(f"seeds must be whole numbers >= 0, got {self.seeds!r}; e.g. --seeds 0,1")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise SweepError(f"lr must be a positive number, got {self.lr!r}; e.g. --lr 1e-2")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise SweepError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if self.n_sizes < 1 or not self.size_step > 1:
            raise SweepError(f"need n_sizes >= 1 and size_step > 1, got {self.n_sizes}, {self.size_step}")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: what determines it (``spec``) and how its budget is spent (``plan``)."""

    spec: RunSpec
    plan: RunPlan

    @property
    def key(self) -> str:
        return self.spec.key()


@dataclass(frozen=True)
class SkippedSize:
    """A shape that cannot be planned at one grid point, and why (the trainer's message)."""

    family: str
    shape: str
    n_params: int
    context_length: int
    budget_flops: float
    reason: str


@dataclass(frozen=True)
class SweepPlan:
    """The runs of a sweep (unique keys, in grid order) and the sizes left out."""

    kind: str
    runs: tuple[PlannedRun, ...]
    skipped: tuple[SkippedSize, ...] = ()
    corpus: Any = field(default=None, repr=False, compare=False)
    """The loaded corpus the plan was made for (handed to in-process training; not stored)."""
    min_steps: int = 50
    """The planning bound the runs were planned with (the trainer re-plans each run with it)."""


class _Planner:
    """Plans one grid point at a time with the corpus size, the settings and the trainer's rules."""

    def __init__(self, kind: str, settings: SweepSettings, rules: TrainerRules | None, corpus: Any) -> None:
        self.kind, self.settings, self.rules = kind, settings, rules or trainer_rules()
        if corpus is None or isinstance(corpus, str):
            from xlstm_lab.data import load_corpus

            corpus = load_corpus(corpus or settings.corpus)
        self.corpus = corpus
        self.train_tokens = len(corpus.train)
        self.runs: dict[str, PlannedRun] = {}
        self.skipped: list[SkippedSize] = []

    def spec(self, config: ModelConfig, budget: float, seed: int = 0, **extra: Any) -> RunSpec:
        s = self.settings
        lr = s.lr if s.lr is not None else float(self.rules.default_lr(config))
        batch = s.batch_size if s.batch_size is not None else int(self.rules.default_batch_size(config))
        return RunSpec(model=config, budget_flops=float(budget), lr=lr, batch_size=batch, seed=seed,
                       corpus=s.corpus, corpus_sha256=self.corpus.sha256, device=s.device, max_epochs=s.max_epochs,
                       extra={"sweep": self.kind, "shape": shape_label(config), **extra})

    def plan(self, spec: RunSpec) -> RunPlan | str:
        """The trainer's plan, or the reason it refuses (a ``PlanError`` message)."""
        try:
            return self.rules.plan_run(spec.model, spec.budget_flops, batch_size=spec.batch_size,
                                       train_tokens=self.train_tokens, max_epochs=self.settings.max_epochs,
                                       min_steps=self.settings.min_steps)
        except PlanError as exc:
            return str(exc)

    def shapes(self, family: str, ctx: int, budget: float | None, sizes: Sizes, around: float | None = None
               ) -> list[ModelConfig]:
        """The shapes of one grid point: the ladder around the budget's optimum, or those nearest ``sizes``."""
        if isinstance(sizes, str):
            if sizes != "auto":
                raise SweepError(f"sizes must be 'auto' or a list of parameter counts, got {sizes!r}")
            ladder = ladder_shapes(family, ctx)
            if budget is not None:  # only shapes the trainer can plan at this budget
                ladder = [c for c in ladder if not isinstance(self.plan(self.spec(c, budget)), str)]
            target = n_opt(budget if around is None else around)
            return pick_sizes(ladder, target, self.settings.n_sizes, self.settings.size_step)
        shapes = [shape_near(family, float(n), ctx) for n in sizes]
        return list(dict.fromkeys(shapes))  # two sizes mapped to one shape run once

    def add(self, config: ModelConfig, budget: float, **extra: Any) -> bool:
        """Plan ``config`` at ``budget`` for every seed; False (and a skipped entry) when the plan fails."""
        for seed in self.settings.seeds:
            spec = self.spec(config, budget, seed, **extra)
            plan = self.plan(spec)
            if isinstance(plan, str):
                self.skipped.append(SkippedSize(config.family, shape_label(config), count_params(config),
                                                config.context_length, float(budget), plan))
                return False
            self.runs.setdefault(spec.key(), PlannedRun(spec, plan))
        return True

    def grid_point(self, family: str, ctx: int, budget: float, sizes: Sizes) -> None:
        """Every size of one (family, context, budget); raises when none can be planned."""
        shapes = self.shapes(family, ctx, budget, sizes)
        first_skip = len(self.skipped)
        planned = [self.add(c, budget) for c in shapes]
        if not any(planned):
            reasons = [s.reason for s in self.skipped[first_skip:]]
            raise self._none_fits(family, ctx, budget, shapes, reasons)

    def _none_fits(self, family: str, ctx: int, budget: float, shapes: list[ModelConfig], reasons: list[str]
                   ) -> NoFeasibleSizeError:
        ladder = ladder_shapes(family, ctx)
        smallest = self.spec(ladder[0], budget)
        need = flops_per_sequence(ladder[0]).forward_backward * smallest.batch_size * self.settings.min_steps
        if budget < need:
            rows = smallest.batch_size
            other = "lower --batch-size" if rows > 1 else "use a shorter context"
            return NoFeasibleSizeError(
                f"budget {budget:.3g} FLOPs is too small for every {family} size at ctx {ctx}: even the smallest "
                f"shape ({shape_label(ladder[0])}, N={count_params(ladder[0]):,}) needs {need:.3g} FLOPs for "
                f"{self.settings.min_steps} steps of {rows} sequence{'s' if rows != 1 else ''}; raise the budget to "
                f">= {_round_up(need):.2g} FLOPs or {other}")
        if not reasons:  # sizes "auto": report why the shape nearest the expected optimum fails
            nearest = min(ladder, key=lambda c: abs(math.log(count_params(c) / n_opt(budget))))
            reasons = [str(self.plan(self.spec(nearest, budget)))]
            shapes = [nearest]
        tried = ", ".join(shape_label(c) for c in shapes)
        return NoFeasibleSizeError(f"no {family} size can be planned at budget {budget:.3g} FLOPs, ctx {ctx} "
                                   f"(tried {tried}): {reasons[0]}")

    def result(self) -> SweepPlan:
        return SweepPlan(self.kind, tuple(self.runs.values()), tuple(self.skipped), self.corpus,
                         self.settings.min_steps)


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (a minimum budget quoted to the user must suffice)."""
    unit = 10.0 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / unit - 1e-9) * unit


def _families(families: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(families))
    bad = [f for f in out if f not in FAMILIES]
    if bad or not out:
        raise SweepError(f"unknown family {bad[0]!r}; use one or more of {', '.join(FAMILIES)}, e.g. "
                         f"--families xlstm,llama" if bad else "no family given; e.g. --families xlstm,llama")
    return out


def _positive(name: str, values: Iterable[float], *, whole: bool = False) -> list:
    out = list(dict.fromkeys(values))
    if not out:
        raise SweepError(f"no {name} given; give at least one")
    for v in out:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        if not ok or (whole and int(v) != v):
            kind = "whole numbers" if whole else "positive numbers"
            raise SweepError(f"{name} must be {kind} > 0, got {v!r}")
    return [int(v) for v in out] if whole else [float(v) for v in out]


def isoflop_plan(families: Iterable[str], budgets: Iterable[float], *, ctx: int = 256, sizes: Sizes = "auto",
                 settings: SweepSettings = SweepSettings(), rules: TrainerRules | None = None,
                 corpus: Any = None) -> SweepPlan:
    """IsoFLOP sweep: for each family and budget C, the sizes (``"auto"``: >= 5 around N_opt(C)), each seed.

    Args:
        families: "xlstm", "llama" or both.
        budgets: training budgets in FLOPs (paper convention), e.g. (3e11, 1e12).
        ctx: context length (tokens per sequence).
        sizes: "auto" or target parameter counts (each mapped to the nearest ladder shape).
        settings: corpus, device, seeds, lr / batch overrides and planning bounds.
        rules: the trainer's planning rules (default: ``xlstm_lab.train``).
        corpus: a loaded corpus (default: load ``settings.corpus``).

    Raises:
        SweepError: an unknown family or an empty / non-positive list.
        NoFeasibleSizeError: a budget for which no size can be planned.
    """
    fams, budgets = _families(families), _positive("budgets", budgets)
    ctx = _positive("context lengths", [ctx], whole=True)[0]
    planner = _Planner("isoflop", settings, rules, corpus)
    for family in fams:
        for budget in budgets:
            planner.grid_point(family, ctx, budget, sizes)
    return planner.result()


def context_plan(families: Iterable[str], contexts: Iterable[int], budgets: Iterable[float], *,
                 sizes: Sizes = "auto", settings: SweepSettings = SweepSettings(),
                 rules: TrainerRules | None = None, corpus: Any = None) -> SweepPlan:
    """Context sweep: an IsoFLOP grid (budgets x sizes) at every context length. Arguments as :func:`isoflop_plan`."""
    fams, budgets = _families(families), _positive("budgets", budgets)
    contexts = _positive("context lengths", contexts, whole=True)
    planner = _Planner("context", settings, rules, corpus)
    for family in fams:
        for ctx in contexts:
            for budget in budgets:
                planner.grid_point(family, ctx, budget, sizes)
    return planner.result()


def tokenparam_plan(families: Iterable[str], ratios: Iterable[float], *, ctx: int = 256, sizes: Sizes = "auto",
                    around: float = 1e12, settings: SweepSettings = SweepSettings(),
                    rules: TrainerRules | None = None, corpus: Any = None) -> SweepPlan:
    """Token/param sweep: each size trained for D = ratio x N tokens, so C = (FLOPs per token) x ratio x N.

    N is ``accounting.count_params`` (all parameters) and FLOPs per token the paper's count at ``ctx``; the
    trainer then spends C to within one step, so D/N lands within a step of the ratio.

    Args:
        ratios: tokens per parameter, e.g. (20, 50, 100, 200).
        sizes: "auto" (``settings.n_sizes`` ladder shapes around N_opt(``around``)) or target parameter counts.
        around: the budget whose expected optimum centres ``sizes="auto"`` (default 1e12 FLOPs).
        Others as :func:`isoflop_plan`.

    Raises:
        NoFeasibleSizeError: a ratio at which no size can be planned.
    """
    fams, ratios = _families(families), _positive("ratios", ratios)
    ctx = _positive("context lengths", [ctx], whole=True)[0]
    planner = _Planner("tokenparam", settings, rules, corpus)
    for family in fams:
        shapes = planner.shapes(family, ctx, None, sizes, around=around)
        for ratio in ratios:
            ok = [planner.add(c, flops_per_sequence(c).per_token * ratio * count_params(c), ratio=ratio)
                  for c in shapes]
            if not any(ok):
                raise NoFeasibleSizeError(f"no {family} size can be trained for {ratio:g} tokens per parameter at "
                                          f"ctx {ctx}: {planner.skipped[-1].reason}")
    return planner.result()
