"""plan_run: the budget spent to within one step with the paper's FLOP count; the step and epoch bounds."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.accounting import count_params, flops_per_sequence
from xlstm_lab.models import ModelConfig, build_model
from xlstm_lab.train import PlanError, TrainError, plan_run, warmup_steps_for

TRAIN_TOKENS = 8_893_088  # the lab corpus' training stream


def _config(family, d, layers, ctx):
    heads = 2 if d % 4 == 0 else 1
    return ModelConfig(family, 256, d, layers, heads, None, context_length=ctx)


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(["xlstm", "llama"]), d=st.sampled_from([16, 32, 48, 64, 128]),
       layers=st.integers(1, 3), ctx=st.sampled_from([32, 64, 256, 1000]), batch=st.integers(1, 64),
       steps=st.floats(50.0, 5000.0))
def test_budget_spent_within_half_a_step(family, d, layers, ctx, batch, steps):
    config = _config(family, d, layers, ctx)
    per_step = flops_per_sequence(config).forward_backward * batch  # the accounting, independently tested
    budget = steps * per_step
    plan = plan_run(config, budget, batch_size=batch, train_tokens=10**12)
    assert plan.flops_per_step == per_step
    assert abs(plan.flops - budget) <= per_step / 2 * (1 + 1e-12)
    assert plan.steps == round(steps) or abs(steps - round(steps)) == pytest.approx(0.5)
    assert plan.flops == plan.steps * per_step
    assert plan.tokens == plan.steps * batch * ctx
    assert plan.epochs == pytest.approx(plan.steps * batch / ((10**12 - 1) // ctx))
    assert plan.warmup_steps == max(1, math.floor(0.1 * plan.steps + 0.5))


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_n_is_every_parameter_of_the_built_model(family):
    config = _config(family, 32, 2, 64)
    plan = plan_run(config, 1e12, batch_size=8, train_tokens=TRAIN_TOKENS)
    module_count = sum(p.numel() for p in build_model(config).parameters())
    assert plan.n_params == module_count == count_params(config)


def test_min_steps_bound():
    config = _config("xlstm", 32, 2, 256)
    per_step = flops_per_sequence(config).forward_backward * 8
    plan = plan_run(config, 50 * per_step, batch_size=8, train_tokens=TRAIN_TOKENS)
    assert plan.steps == 50
    with pytest.raises(PlanError) as info:
        plan_run(config, 49 * per_step, batch_size=8, train_tokens=TRAIN_TOKENS)
    msg = str(info.value)
    assert "49 optimizer steps" in msg and "minimum is 50" in msg and "min_steps" in msg
    assert f"{50 * per_step:.3g}" in msg  # the budget that would do
    assert "batch of <= 7 sequences" in msg  # 49 steps of 8 rows = 392 rows = 50 steps of 7.84 rows
    plan = plan_run(config, 49 * per_step, batch_size=8, train_tokens=TRAIN_TOKENS, min_steps=49)
    assert plan.steps == 49


def test_max_epochs_bound():
    config = _config("llama", 16, 1, 64)
    train_tokens = 64 * 1000 + 1  # exactly 1000 windows of 65 tokens
    per_step = flops_per_sequence(config).forward_backward * 10
    plan = plan_run(config, 400 * per_step, batch_size=10, train_tokens=train_tokens)  # 4000 rows = 4 epochs
    assert plan.epochs == 4.0
    with pytest.raises(PlanError) as info:
        plan_run(config, 401 * per_step, batch_size=10, train_tokens=train_tokens)
    msg = str(info.value)
    assert "4.01 epochs" in msg and "limit is 4 epochs" in msg and "max_epochs" in msg
    assert "bigger model" in msg and f"{400 * per_step:.3g}" in msg
    assert plan_run(config, 401 * per_step, batch_size=10, train_tokens=train_tokens, max_epochs=5).steps == 401


@pytest.mark.parametrize("kwargs, word", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.0}, "batch_size"), ({"train_tokens": 10}, "shorter"),
    ({"max_epochs": 0}, "max_epochs"), ({"min_steps": 0}, "min_steps"), ({"warmup_frac": 1.0}, "warmup_frac"),
])
def test_bad_arguments_are_train_errors(kwargs, word):
    args = {"batch_size": 4, "train_tokens": TRAIN_TOKENS, **kwargs}
    with pytest.raises(TrainError, match=word):
        plan_run(_config("xlstm", 32, 2, 64), 1e12, **args)


@pytest.mark.parametrize("budget", [0.0, -1.0, math.inf, math.nan])
def test_bad_budget(budget):
    with pytest.raises(TrainError, match="budget_flops"):
        plan_run(_config("xlstm", 32, 2, 64), budget, batch_size=4, train_tokens=TRAIN_TOKENS)


def test_warmup_steps():
    assert warmup_steps_for(100, 0.1) == 10
    assert warmup_steps_for(50, 0.01) == 1  # at least one step when asked for any
    assert warmup_steps_for(50, 0.0) == 0
    assert warmup_steps_for(3, 0.9) == 1  # the peak (step W) comes before the last step (the floor)
    assert warmup_steps_for(2, 0.5) == 0
