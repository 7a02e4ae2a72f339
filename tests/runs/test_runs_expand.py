"""Sweep grids: IsoFLOP, token/param and context expansions, skipped sizes, and their typed errors.

The trainer's planning rule is a stand-in here (``runs_testlib.fake_plan_run``: whole steps within the budget,
>= 50 steps, <= 4 epochs), so these tests check the grids, not the trainer.
"""

from __future__ import annotations

import math
import re

import pytest
from runs_testlib import big_corpus_stub, fake_rules

from xlstm_lab.accounting import count_params, flops_per_sequence
from xlstm_lab.runs import (
    NoFeasibleSizeError,
    SweepError,
    SweepSettings,
    context_plan,
    isoflop_plan,
    ladder_shapes,
    n_opt,
    tokenparam_plan,
)

RULES = fake_rules(lr=1e-2, batch=4)


@pytest.fixture(scope="module")
def corpus():
    return big_corpus_stub()


def test_isoflop_grid_is_families_x_budgets_x_sizes_x_seeds(corpus):
    s = SweepSettings(seeds=(0, 1), corpus="tiny")
    plan = isoflop_plan(["xlstm", "llama"], [3e11, 1e12], ctx=256, settings=s, rules=RULES, corpus=corpus)
    assert plan.kind == "isoflop" and len(plan.runs) == 2 * 2 * 5 * 2
    assert len({r.key for r in plan.runs}) == len(plan.runs)
    for r in plan.runs:
        assert r.spec.corpus_sha256 == corpus.sha256 and r.spec.lr == 1e-2 and r.spec.batch_size == 4
        assert r.spec.model.context_length == 256 and r.spec.extra["sweep"] == "isoflop"
    for fam in ("xlstm", "llama"):
        for budget in (3e11, 1e12):
            ns = sorted({r.plan.n_params for r in plan.runs if r.spec.model.family == fam
                         and r.spec.budget_flops == budget})
            assert len(ns) == 5 and ns[0] < n_opt(budget) < ns[-1]


def test_auto_sizes_work_from_1e10_flops(corpus):
    plan = isoflop_plan(["xlstm", "llama"], [1e10], settings=SweepSettings(corpus="tiny"), rules=RULES,
                        corpus=corpus)
    for fam in ("xlstm", "llama"):
        assert len([r for r in plan.runs if r.spec.model.family == fam]) >= 5
    assert not plan.skipped  # auto only offers shapes that can be planned


def test_explicit_sizes_map_to_nearest_shapes_and_dedupe(corpus):
    plan = isoflop_plan(["llama"], [1e12], sizes=[2e4, 2.05e4, 5e4], settings=SweepSettings(corpus="tiny"),
                        rules=RULES, corpus=corpus)
    ns = sorted(r.plan.n_params for r in plan.runs)
    assert len(ns) == 2 and abs(math.log(ns[0] / 2e4)) < 0.3 and abs(math.log(ns[1] / 5e4)) < 0.3


def test_sizes_that_cannot_be_planned_are_skipped_and_reported(corpus):
    # at 1e11 FLOPs and 4 x 256 tokens a step, a 1M-parameter model buys fewer than 50 steps
    plan = isoflop_plan(["xlstm"], [1e11], sizes=[1e4, 1e6], settings=SweepSettings(corpus="tiny"), rules=RULES,
                        corpus=corpus)
    assert len(plan.runs) == 1
    (skip,) = plan.skipped
    assert skip.budget_flops == 1e11 and skip.n_params > 5e5 and "steps" in skip.reason


def test_budget_too_small_for_every_size(corpus):
    with pytest.raises(NoFeasibleSizeError, match=r"too small for every xlstm size.*raise the budget to >="):
        isoflop_plan(["xlstm"], [1e8], settings=SweepSettings(corpus="tiny"), rules=RULES, corpus=corpus)
    # the minimum it names is right: 50 steps of the smallest shape
    smallest = min(ladder_shapes("llama", 256), key=count_params)
    need = 50 * 4 * flops_per_sequence(smallest).forward_backward
    unit = 10 ** (math.floor(math.log10(need)) - 1)
    with pytest.raises(NoFeasibleSizeError, match=re.escape(f">= {math.ceil(need / unit) * unit:.2g} FLOPs")):
        isoflop_plan(["llama"], [need * 0.99], settings=SweepSettings(corpus="tiny"), rules=RULES, corpus=corpus)
    isoflop_plan(["llama"], [need * 1.01], settings=SweepSettings(corpus="tiny"), rules=RULES, corpus=corpus)


def test_budget_too_large_for_the_corpus():
    with pytest.raises(NoFeasibleSizeError, match="epochs"):
        isoflop_plan(["llama"], [1e15], settings=SweepSettings(corpus="tiny"), rules=RULES,
                     corpus=big_corpus_stub(10**5))


def test_tokenparam_budget_buys_ratio_tokens_per_parameter(corpus):
    plan = tokenparam_plan(["xlstm"], [20, 100], sizes=[2e4, 6e4], settings=SweepSettings(corpus="tiny"),
                           rules=RULES, corpus=corpus)
    assert len(plan.runs) == 4
    for r in plan.runs:
        n, ratio = count_params(r.spec.model), r.spec.extra["ratio"]
        assert r.spec.budget_flops == pytest.approx(flops_per_sequence(r.spec.model).per_token * ratio * n)
        tokens_per_step = r.spec.batch_size * r.spec.model.context_length
        assert ratio * n - tokens_per_step <= r.plan.tokens <= ratio * n + 1e-6 * n


def test_tokenparam_auto_centres_on_around(corpus):
    plan = tokenparam_plan(["llama"], [20], around=3e12, settings=SweepSettings(corpus="tiny"), rules=RULES,
                           corpus=corpus)
    ns = sorted(r.plan.n_params for r in plan.runs)
    assert len(ns) == 5 and ns[0] < n_opt(3e12) < ns[-1]


def test_context_grid(corpus):
    plan = context_plan(["xlstm", "llama"], [64, 256], [3e11], sizes=[2e4, 4e4], settings=SweepSettings(corpus="tiny"),
                        rules=RULES, corpus=corpus)
    assert sorted({r.spec.model.context_length for r in plan.runs}) == [64, 256]
    assert len(plan.runs) == 2 * 2 * 2


def test_overrides_and_defaults_of_lr_and_batch(corpus):
    s = SweepSettings(corpus="tiny", lr=3e-3, batch_size=2)
    plan = isoflop_plan(["llama"], [1e12], settings=s, rules=RULES, corpus=corpus)
    assert {(r.spec.lr, r.spec.batch_size) for r in plan.runs} == {(3e-3, 2)}


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: isoflop_plan(["mamba"], [1e12], rules=RULES, corpus=c), "unknown family 'mamba'"),
    (lambda c: isoflop_plan([], [1e12], rules=RULES, corpus=c), "no family"),
    (lambda c: isoflop_plan(["xlstm"], [], rules=RULES, corpus=c), "no budgets"),
    (lambda c: isoflop_plan(["xlstm"], [-1.0], rules=RULES, corpus=c), "budgets must be positive"),
    (lambda c: context_plan(["xlstm"], [64.5], [1e12], rules=RULES, corpus=c), "whole numbers"),
    (lambda c: tokenparam_plan(["xlstm"], [math.nan], rules=RULES, corpus=c), "ratios"),
    (lambda c: isoflop_plan(["xlstm"], [1e12], sizes="big", rules=RULES, corpus=c), "sizes must be 'auto'"),
])
def test_bad_input_is_a_sweep_error(corpus, call, message):
    with pytest.raises(SweepError, match=message):
        call(corpus)


def test_settings_validate():
    with pytest.raises(SweepError, match="device"):
        SweepSettings(device="tpu")
    with pytest.raises(SweepError, match="seeds"):
        SweepSettings(seeds=())
    with pytest.raises(SweepError, match="lr"):
        SweepSettings(lr=-1.0)
