"""The learning-rate schedule (linear warm-up, cosine to a floor), the lr / batch rules and the optimizer groups."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.models import ModelConfig, build_model, get_shape
from xlstm_lab.train import default_batch_size, default_lr, lr_at, tokens_per_step, warmup_steps_for


def test_schedule_closed_form_points():
    peak, floor_frac, steps, warm = 1e-2, 0.1, 101, 10
    lr = [lr_at(s, peak=peak, steps=steps, warmup_steps=warm, min_lr_frac=floor_frac) for s in range(steps)]
    assert lr[0] == pytest.approx(peak / 11)  # first update: peak / (W + 1), not 0
    assert lr[4] == pytest.approx(peak * 5 / 11)
    assert lr[9] == pytest.approx(peak * 10 / 11)
    assert lr[warm] == pytest.approx(peak)  # the peak right after warm-up
    # cosine from step 10 (peak) to step 100 (floor): its midpoint, step 55, is halfway between peak and floor
    assert lr[55] == pytest.approx((peak + floor_frac * peak) / 2)
    quarter = floor_frac * peak + (peak - floor_frac * peak) * (0.5 + math.sqrt(2) / 4)  # cos(pi / 4)
    assert lr_at(30, peak=peak, steps=91, warmup_steps=warm, min_lr_frac=floor_frac) == pytest.approx(quarter)
    assert lr[-1] == pytest.approx(floor_frac * peak, rel=1e-12)  # the last update is at the floor


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(2, 3000), frac=st.floats(0.0, 0.5), floor=st.floats(0.0, 1.0))
def test_schedule_shape(steps, frac, floor):
    warm = warmup_steps_for(steps, frac)
    lr = [lr_at(s, peak=1.0, steps=steps, warmup_steps=warm, min_lr_frac=floor) for s in range(steps)]
    assert all(b > a for a, b in zip(lr[:warm], lr[1:warm + 1], strict=False))  # rises through warm-up
    assert all(b <= a + 1e-15 for a, b in zip(lr[warm:], lr[warm + 1:], strict=False))  # never rises after
    assert max(lr) == pytest.approx(1.0) and lr[warm] == pytest.approx(1.0)
    assert lr[-1] == pytest.approx(floor, abs=1e-12)
    assert min(lr) >= min(floor, lr[0]) - 1e-12


def test_schedule_rejects_steps_outside_the_run():
    with pytest.raises(ValueError, match="step"):
        lr_at(10, peak=1.0, steps=10, warmup_steps=1, min_lr_frac=0.1)
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, peak=1.0, steps=10, warmup_steps=10, min_lr_frac=0.1)


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_lr_rule_anchors(family):
    def cfg(d, ctx=256):
        heads = 2 if family == "xlstm" else d // 16
        return ModelConfig(family, 256, d, 2, heads, None, context_length=ctx)

    # lab scale: the CPU calibration (1e-2 at d 32-64); paper scale: runs.csv
    assert default_lr(cfg(32)) == default_lr(cfg(64)) == 1e-2
    assert default_lr(get_shape(f"{family}-160m")) == 3e-3
    assert default_lr(get_shape(f"{family}-1.4b")) == (2e-3 if family == "xlstm" else 8e-4)
    assert default_lr(get_shape(f"{family}-7b")) == 8e-4
    mids = [default_lr(cfg(d)) for d in (96, 128, 192, 256, 384)]
    assert all(3e-3 < b < a < 1e-2 for a, b in zip(mids, mids[1:], strict=False))
    # log-linear in d: d = 128 and 256 are 1/3 and 2/3 of the way from 64 to 512 in log d
    assert default_lr(cfg(128)) == pytest.approx(1e-2 * 0.3 ** (1 / 3), rel=5e-3)
    assert default_lr(cfg(256)) == pytest.approx(1e-2 * 0.3 ** (2 / 3), rel=5e-3)


def test_batch_rule():
    def cfg(d, ctx):
        return ModelConfig("xlstm", 256, d, 2, 2, None, context_length=ctx)

    assert default_batch_size(cfg(32, 256)) == 4  # 1024 tokens a step at CPU budgets (benchmarks/results/calibrate_lr_*)
    assert default_batch_size(cfg(128, 64)) == 16
    assert default_batch_size(cfg(32, 4096)) == 1
    assert default_batch_size(cfg(768, 2048)) == 512  # the paper: 512 x 2048 = 2^20 tokens
    assert default_batch_size(cfg(768, 8192)) == 128
    sizes = [tokens_per_step(cfg(d, 256)) for d in (128, 192, 256, 384, 512)]
    assert sizes[0] == 1024 and sizes[-1] == 2**20 and sizes == sorted(sizes)
    assert all(b & (b - 1) == 0 for b in (default_batch_size(cfg(d, 256)) for d in range(16, 1100, 16)))


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_weight_decay_on_matrices_only(family):
    from xlstm_lab.train.optim import build_optimizer

    model = build_model(ModelConfig(family, 256, 16, 2, 2, 48, context_length=32))
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.1)
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.0
    seen = 0
    for name, p in model.named_parameters():
        # by name, independently of the grouping rule: matrices of linear layers (and the head) decay
        expect = name.endswith(".weight") and p.dim() == 2 and not name.startswith("embedding")
        assert (id(p) in decayed) == expect, name
        seen += 1
    assert seen == sum(len(g["params"]) for g in opt.param_groups)
