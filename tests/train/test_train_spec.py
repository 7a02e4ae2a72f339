"""RunSpec checks and JSON round trips; the trainer's torch-free import surface."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
from train_testlib import spec_for

from xlstm_lab.train import RunPlan, RunResult, RunSpec, TrainError


@pytest.mark.parametrize("change, word", [
    ({"budget_flops": 0.0}, "budget_flops"), ({"budget_flops": math.inf}, "budget_flops"),
    ({"lr": 0.0}, "lr"), ({"lr": math.nan}, "lr"), ({"batch_size": 2.0}, "batch_size"),
    ({"batch_size": True}, "batch_size"), ({"seed": -1}, "seed"), ({"device": "mps"}, "device"),
    ({"warmup_frac": -0.1}, "warmup_frac"), ({"min_lr_frac": 1.5}, "min_lr_frac"),
    ({"weight_decay": -1.0}, "weight_decay"), ({"grad_clip": 0.0}, "grad_clip"), ({"max_epochs": 0}, "max_epochs"),
    ({"model": "xlstm"}, "ModelConfig"),
])
def test_check_names_the_field(change, word):
    with pytest.raises(TrainError, match=word):
        dataclasses.replace(spec_for("xlstm"), **change).check()


def test_check_accepts_the_defaults_and_edge_values():
    spec = spec_for("llama")
    assert spec.check() is spec
    dataclasses.replace(spec, warmup_frac=0.0, min_lr_frac=1.0, weight_decay=0.0, grad_clip=math.inf,
                        device="cuda:1").check()


def test_spec_round_trips_through_json_with_the_same_key():
    spec = spec_for("xlstm", seed=7, corpus="/data/texts", corpus_sha256="ab" * 32, extra={"sweep": "isoflop"})
    back = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.key() == spec.key()
    assert RunSpec.from_dict({**spec.to_dict(), "from_the_future": 1}).key() == spec.key()


def test_result_round_trips_through_json():
    spec = spec_for("llama")
    plan = RunPlan(n_params=100, flops_per_step=1e6, steps=50, tokens=6400, flops=5e7, epochs=0.5, warmup_steps=5)
    result = RunResult(spec.key(), spec, plan, "diverged", None, ((0, 5.5), (1, math.nan)), steps_done=2,
                       device="cpu (x)", versions={"torch": "2"}, error="diverged: nan")
    back = RunResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=True)))
    assert back.spec.key() == spec.key() and back.plan == plan and back.status == "diverged"
    assert back.curve[0] == (0, 5.5) and math.isnan(back.curve[1][1]) and back.error == "diverged: nan"


def test_import_is_torch_free():
    code = ("import sys; import xlstm_lab.train as t; t.plan_run; t.default_lr; t.RunSpec; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
