"""The decode state's allocation against accounting: the KV cache sized and typed deliberately, the mLSTM state fixed."""

import pytest
import torch

from xlstm_lab.accounting import kv_cache_bytes, mlstm_state_bytes
from xlstm_lab.inference import (
    InferenceInputError,
    load_model,
    memory_vs_context,
    model_config,
    prefill,
    state_nbytes,
)
from xlstm_lab.models import build_model, get_shape


def _by_hand_kv(cfg, positions, batch, width):
    # keys and values, per layer, B x H x positions x D, ``width`` bytes each: an independent closed form
    return 2 * cfg.n_layers * batch * cfg.n_heads * positions * (cfg.d_model // cfg.n_heads) * width


@pytest.mark.parametrize("dtype,width", [("float32", 4), ("bfloat16", 2)])
def test_kv_cache_allocation_equals_accounting(dtype, width):
    cfg = model_config("llama", "mini", context_length=512)
    model = load_model(cfg, dtype=dtype)
    for prompt, new, batch in ((7, 0, 1), (40, 9, 3), (100, 28, 2)):
        _, cache = prefill(model, torch.randint(0, 256, (batch, prompt)), max_new_tokens=new)
        measured = state_nbytes(cache)
        assert measured == _by_hand_kv(cfg, prompt + new, batch, width)
        assert measured == kv_cache_bytes(cfg, prompt + new, batch, dtype_bytes=width)
        assert cache.keys[0].dtype == getattr(torch, dtype)


def test_prefill_allocates_the_prompt_not_the_context():
    # before the fix, a prefill of any prompt preallocated max(T, context_length) positions (8192 at paper shapes)
    cfg = get_shape("llama-tiny")
    assert cfg.context_length == 512
    model = build_model(cfg).eval()
    with torch.no_grad():
        _, cache = model.prefill(torch.randint(0, 256, (2, 10)))
    assert cache.capacity == 10
    assert state_nbytes(cache) == kv_cache_bytes(cfg, 10, 2, dtype_bytes=4)


def test_kv_cache_takes_the_autocast_dtype():
    # before the fix the cache took the fp32 weights' dtype under bf16 autocast: twice kv_cache_bytes(dtype_bytes=2)
    cfg = get_shape("llama-tiny")
    model = build_model(cfg).eval()
    tokens = torch.randint(0, 256, (1, 12))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, cache = model.prefill(tokens, capacity=16)
        model.step(tokens[:, 0], cache)
    assert cache.keys[0].dtype == torch.bfloat16 and cache.values[-1].dtype == torch.bfloat16
    assert state_nbytes(cache) == kv_cache_bytes(cfg, 16, 1, dtype_bytes=2)
    assert cache.capacity == 16  # a step within the capacity does not reallocate


def test_prefill_capacity_below_prompt_is_refused():
    from xlstm_lab.models import ModelInputError

    model = build_model(get_shape("llama-tiny")).eval()
    with pytest.raises(ModelInputError, match="capacity 3 is less than the 5 prompt tokens"):
        model.prefill(torch.randint(0, 256, (1, 5)), capacity=3)


def test_memory_grows_for_the_cache_and_not_for_the_state():
    contexts = [16, 64, 256]
    llama = memory_vs_context("llama", "tiny", contexts, batch=2, new_tokens=4)
    xlstm = memory_vs_context("xlstm", "tiny", contexts, batch=2, new_tokens=4)
    for row in llama + xlstm:
        assert row["state_bytes"] == row["state_bytes_predicted"]
        assert row["weight_bytes"] == row["weight_bytes_predicted"]
    cfg = get_shape("llama-tiny")
    slope = (llama[-1]["state_bytes"] - llama[0]["state_bytes"]) / (contexts[-1] - contexts[0])
    assert slope == _by_hand_kv(cfg, 1, 2, 4)  # linear in the context: one position's keys and values
    x = get_shape("xlstm-tiny")
    k, v = x.qk_head_dim, x.v_head_dim
    fixed = x.n_layers * 2 * x.n_heads * (k * v + k + 1) * 4  # C, n, m per head, float32
    assert {r["state_bytes"] for r in xlstm} == {fixed} == {mlstm_state_bytes(x, 2)}


def test_state_nbytes_refuses_other_objects():
    with pytest.raises(InferenceInputError, match="not a decode state"):
        state_nbytes([torch.zeros(3)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_grows_by_at_least_the_kv_cache():
    from xlstm_lab.inference import cuda_peak_bytes

    cfg = model_config("llama", "lab-3m", context_length=4200)
    model = load_model(cfg, device="cuda", dtype="bfloat16")
    peaks = {t: cuda_peak_bytes(model, torch.randint(0, 256, (4, t), device="cuda"), 8) for t in (512, 4096)}
    grown = kv_cache_bytes(cfg, 4096 + 8, 4, 2) - kv_cache_bytes(cfg, 512 + 8, 4, 2)
    assert peaks[4096] - peaks[512] >= grown
    assert peaks[512] >= sum(p.numel() * 2 for p in model.parameters()) + kv_cache_bytes(cfg, 520, 4, 2)
    x = model_config("xlstm", "lab-3m", context_length=4200)
    xm = load_model(x, device="cuda", dtype="bfloat16")
    _, state = prefill(xm, torch.randint(0, 256, (4, 4096), device="cuda"), max_new_tokens=8)
    assert state_nbytes(state) == mlstm_state_bytes(x, 4)
