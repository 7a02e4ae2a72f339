"""Decode steps: prefill + steps equals one long call, for every prefill and step backend."""

import pytest
import torch
from mlstm_testlib import TOL, make_inputs, relerr, rounded

from xlstm_lab.kernels import MLSTMState, mlstm, mlstm_step
from xlstm_lab.kernels.mlstm.reference import mlstm_parallel


@pytest.mark.parametrize("step_backend", ["triton", "torch"])
@pytest.mark.parametrize("prefill_backend", ["triton", "torch_chunkwise", "torch_parallel"])
@pytest.mark.parametrize("regime", ["typical", "large"])
def test_prefill_then_steps_equals_one_call(prefill_backend, step_backend, regime):
    B, H, T, K, V, T0 = 2, 2, 26, 5, 40, 21  # prefill of 21 steps: not a multiple of the chunk (16)
    xs, st = make_inputs(B, H, T, K, V, regime=regime, with_state=True, seed=21)
    h_ref, last_ref = mlstm_parallel(*xs, initial_state=st, return_last_state=True)
    x32 = [x.float() for x in xs]
    st32 = MLSTMState(*(x.float() for x in st))
    kw = {"chunk_size": 16} if prefill_backend != "torch_parallel" else {}
    h0, state = mlstm(*(x[:, :, :T0] for x in x32), backend=prefill_backend, initial_state=st32,
                      return_last_state=True, **kw)
    hs = [h0]
    for t in range(T0, T):
        h_t, state = mlstm_step(*(x[:, :, t] for x in x32), state, backend=step_backend)
        hs.append(h_t[:, :, None])
    scale = 10.0 if regime == "large" else 1.0  # float32 conditioning at gates of +-20, see mlstm_testlib
    assert relerr(torch.cat(hs, dim=2), h_ref) < scale * TOL[torch.float32]["value"]
    for name, a, b in zip("Cnm", state, last_ref, strict=True):
        assert a.dtype == torch.float32, name
        assert relerr(a, b) < scale * TOL[torch.float32]["value"], name


@pytest.mark.parametrize("step_backend", ["triton", "torch"])
def test_steps_from_the_empty_state_equal_one_call(step_backend):
    B, H, T, K, V = 1, 3, 9, 16, 24
    xs, _ = make_inputs(B, H, T, K, V, seed=4)
    h_ref = mlstm_parallel(*xs)
    state, hs = MLSTMState.zeros(B, H, K, V), []
    for t in range(T):
        h_t, state = mlstm_step(*(x[:, :, t].float() for x in xs), state, backend=step_backend)
        hs.append(h_t)
    assert relerr(torch.stack(hs, dim=2), h_ref) < TOL[torch.float32]["value"]


def test_triton_step_leaves_the_input_state_alone():
    xs, st = make_inputs(1, 2, 1, 8, 8, with_state=True, seed=8)
    st32 = MLSTMState(*(x.float() for x in st))
    before = [x.clone() for x in st32]
    _, new = mlstm_step(*(x[:, :, 0].float() for x in xs), st32, backend="triton")
    assert all(torch.equal(a, b) for a, b in zip(st32, before, strict=True))
    assert not torch.equal(new.C, st32.C)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_triton_step_in_half_precision(dtype):
    B, H, T, K, V = 2, 2, 6, 32, 32
    xs, _ = make_inputs(B, H, T, K, V, seed=9)
    xs = rounded(xs, dtype)
    h_ref = mlstm_parallel(*xs)
    state, hs = MLSTMState.zeros(B, H, K, V), []
    for t in range(T):
        h_t, state = mlstm_step(*(x[:, :, t].to(dtype) for x in xs), state, backend="triton")
        assert h_t.dtype == dtype and state.C.dtype == torch.float32
        hs.append(h_t)
    assert relerr(torch.stack(hs, dim=2), h_ref) < TOL[dtype]["value"]


def test_auto_step_under_autograd_uses_torch_and_is_differentiable():
    xs, _ = make_inputs(1, 1, 1, 4, 4, seed=2)
    q, k, v, i, f = (x[:, :, 0].float().requires_grad_() for x in xs)
    h, state = mlstm_step(q, k, v, i, f, MLSTMState.zeros(1, 1, 4, 4))
    (h.sum() + state.C.sum()).backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in (q, k, v, i, f))
