"""train(): determinism, resume equality, diverged and failed runs, bad specs, the validation loss, the backend."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from train_testlib import BATCH, CONTEXT, spec_for, tiny_config, tiny_corpus

from xlstm_lab.kernels.mlstm import BACKENDS
from xlstm_lab.models import build_model
from xlstm_lab.train import PlanError, TrainError, load_checkpoint, train
from xlstm_lab.train.checkpoint import checkpoint_path
from xlstm_lab.train.loop import model_config_for

FAMILIES = ["xlstm", "llama"]


@pytest.fixture(scope="module")
def corpus():
    return tiny_corpus()


def _train(spec, corpus, **kw):
    return train(spec, corpus=corpus, progress=False, min_steps=10, **kw)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_spec_same_losses_bit_for_bit(family, corpus):
    spec = spec_for(family, steps=30)
    rng_before, threads = torch.get_rng_state(), torch.get_num_threads()
    a, b = _train(spec, corpus), _train(spec, corpus)
    assert a.status == b.status == "done", (a.error, b.error)
    assert a.val_loss == b.val_loss and a.curve == b.curve  # exact equality, not approx
    assert len(a.curve) == 30 and a.curve[-1][1] < a.curve[0][1] - 1.0  # it learned
    other = _train(dataclasses.replace(spec, seed=1), corpus)
    assert other.val_loss != a.val_loss  # the seed matters (init and data order)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random state is untouched
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("family", FAMILIES)
def test_resumed_run_ends_exactly_like_an_uninterrupted_one(family, corpus, tmp_path):
    spec = spec_for(family, steps=30)
    whole = _train(spec, corpus)

    class Crash(Exception):
        pass

    def crash_at_17(info):
        if info.step == 17:
            raise Crash("simulated crash after step 17")

    first = _train(spec, corpus, checkpoint_dir=tmp_path, checkpoint_every=5, on_step=crash_at_17)
    assert first.status == "failed" and "simulated crash" in first.error and first.steps_done == 18
    state = torch.load(checkpoint_path(tmp_path), weights_only=True)  # loads with weights_only
    assert state["step"] == 15 and state["losses"].shape == (15,)
    resumed = _train(spec, corpus, checkpoint_dir=tmp_path, checkpoint_every=5)
    assert resumed.status == "done", resumed.error
    assert resumed.val_loss == whole.val_loss  # bitwise: the same arithmetic from step 15 on
    assert resumed.curve == whole.curve
    assert resumed.steps_done == 30


def test_finished_checkpoint_skips_training(corpus, tmp_path):
    spec = spec_for("llama", steps=20)
    first = _train(spec, corpus, checkpoint_dir=tmp_path)
    steps_seen = []
    again = _train(spec, corpus, checkpoint_dir=tmp_path, on_step=lambda info: steps_seen.append(info.step))
    assert steps_seen == [] and again.val_loss == first.val_loss and again.curve == first.curve
    assert load_checkpoint(tmp_path, key=spec.key())["step"] == 20
    assert again.tokens_per_s > 0 and again.steps_done == 20  # throughput of the run's earlier session


def test_checkpoints_by_time_when_no_step_interval_is_given(corpus, tmp_path, monkeypatch):
    from xlstm_lab.train import checkpoint as ckpt
    from xlstm_lab.train import loop

    saved = []
    real = ckpt.save_checkpoint
    monkeypatch.setattr(ckpt, "save_checkpoint", lambda d, state: saved.append(state["step"]) or real(d, state))
    monkeypatch.setattr(loop, "CHECKPOINT_INTERVAL_S", 0.0)  # every step is "due"
    _train(spec_for("llama", steps=12), corpus, checkpoint_dir=tmp_path)
    assert saved == list(range(1, 13))  # after every step but the last, then once more when training ends
    saved.clear()
    monkeypatch.setattr(loop, "CHECKPOINT_INTERVAL_S", 1e9)
    _train(spec_for("llama", steps=12, seed=1), corpus, checkpoint_dir=tmp_path / "b")
    assert saved == [12]  # only the end-of-training checkpoint


@pytest.mark.parametrize("family", FAMILIES)
def test_diverged_run_is_a_result_with_its_history(family, corpus):
    result = _train(spec_for(family, steps=40, lr=1e3), corpus)
    assert result.status == "diverged" and result.val_loss is None
    assert "diverged" in result.error
    assert 1 <= result.steps_done < 40
    assert len(result.curve) == result.steps_done  # every step's loss up to the divergence is kept
    steps, losses = zip(*result.curve, strict=True)
    assert steps == tuple(range(result.steps_done))
    assert not math.isfinite(losses[-1]) or np.mean(losses[-10:]) > losses[0] + 1.0


def test_exception_inside_training_is_a_failed_result(corpus, monkeypatch):
    calls = []

    def broken_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the optimizer broke")
        return original(self, *args, **kwargs)

    original = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", broken_step)
    result = _train(spec_for("xlstm", steps=20), corpus)
    assert result.status == "failed" and result.val_loss is None
    assert "RuntimeError: the optimizer broke" in result.error
    assert result.steps_done == 2 and len(result.curve) == 2


@pytest.mark.parametrize("change, error, word", [
    ({"lr": -1.0}, TrainError, "lr"),
    ({"batch_size": 0}, TrainError, "batch_size"),
    ({"device": "tpu"}, TrainError, "device"),
    ({"warmup_frac": 1.0}, TrainError, "warmup_frac"),
    ({"budget_flops": 1.0}, PlanError, "min_steps"),
    ({"corpus_sha256": "0" * 64}, TrainError, "checksum"),
])
def test_bad_spec_raises_before_training(change, error, word, corpus):
    seen = []
    with pytest.raises(error, match=word):
        train(dataclasses.replace(spec_for("llama"), **change), corpus=corpus, progress=False, min_steps=10,
              on_step=seen.append)
    assert seen == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_spec_without_cuda_raises(corpus):
    with pytest.raises(TrainError, match="no CUDA device"):
        train(dataclasses.replace(spec_for("llama"), device="cuda"), corpus=corpus, progress=False, min_steps=10)


def test_checkpoint_of_another_run_is_refused(corpus, tmp_path):
    _train(spec_for("llama", steps=12), corpus, checkpoint_dir=tmp_path)
    with pytest.raises(TrainError, match="belongs to run"):
        _train(spec_for("llama", steps=12, seed=3), corpus, checkpoint_dir=tmp_path)


def _independent_val_loss(model, corpus, context):
    """Mean next-byte NLL over the validation stream, windows cut by hand, float64 model, math.fsum."""
    model = model.double().eval()
    val = corpus.val
    n = (len(val) - 1) // context
    nll = []
    with torch.no_grad():
        for j in range(n):
            window = torch.tensor(val[j * context:j * context + context + 1].astype(np.int64))[None]
            logp = torch.log_softmax(model(window[:, :-1]), dim=-1)[0]
            nll.extend((-logp[torch.arange(context), window[0, 1:]]).tolist())
    return math.fsum(nll) / len(nll)


@pytest.mark.parametrize("family", FAMILIES)
def test_val_loss_equals_an_independent_computation(family, corpus, tmp_path):
    spec = spec_for(family, steps=20)
    result = _train(spec, corpus, checkpoint_dir=tmp_path)
    model = build_model(tiny_config(family))  # backend "auto": float64 on CPU runs another mLSTM backend
    model.load_state_dict(load_checkpoint(tmp_path)["model"])  # the final weights
    expected = _independent_val_loss(model, corpus, CONTEXT)
    assert result.val_loss == pytest.approx(expected, rel=2e-6)
    assert result.val_bpb == pytest.approx(expected / math.log(2), rel=2e-6)


def test_throughput_device_and_versions(corpus):
    result = _train(spec_for("llama", steps=12), corpus)
    per_token = result.plan.flops_per_step / (BATCH * CONTEXT)
    assert result.tokens_per_s > 0
    assert result.model_flops_per_s == pytest.approx(result.tokens_per_s * per_token)
    assert result.wall_s > 12 * BATCH * CONTEXT / result.tokens_per_s  # wall time includes set-up and validation
    assert result.device.startswith("cpu (") and f"{torch.get_num_threads()} threads" in result.device
    assert result.versions["torch"] == torch.__version__ and result.versions["train_code_version"]
    assert result.key == result.spec.key() and result.plan.steps == 12


def test_xlstm_trains_with_the_chunkwise_kernel_on_cpu(corpus, monkeypatch):
    used = []
    chunkwise = BACKENDS["torch_chunkwise"]

    def spy(*args, **kwargs):
        used.append(kwargs.get("chunk_size"))
        return chunkwise(*args, **kwargs)

    monkeypatch.setitem(BACKENDS, "torch_chunkwise", spy)
    result = _train(spec_for("xlstm", steps=10), corpus)
    assert result.status == "done"
    # 10 steps x 2 layers of training, then validation batches: all through the pinned chunkwise kernel
    assert len(used) > 20 and set(used) == {64}
    config = tiny_config("xlstm")
    assert model_config_for(config, torch.device("cpu")).xlstm.backend == "torch_chunkwise"
    assert model_config_for(config, torch.device("cuda")).xlstm.backend == "triton"
    explicit = dataclasses.replace(config, xlstm=dataclasses.replace(config.xlstm, backend="torch_parallel"))
    assert model_config_for(explicit, torch.device("cpu")) == explicit  # an explicit choice is kept


def test_micro_batches_match_the_whole_batch(corpus):
    spec = spec_for("llama", steps=15)
    whole, micro = _train(spec, corpus), _train(spec, corpus, micro_batch_size=2)
    assert micro.status == "done"
    assert micro.val_loss == pytest.approx(whole.val_loss, rel=1e-4)
    with pytest.raises(TrainError, match="micro_batch_size"):
        _train(spec, corpus, micro_batch_size=3)
