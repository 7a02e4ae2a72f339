"""Decode steps: prefill + steps equals one long call, for every prefill and step backend."""

import pytest
import torch
from mlstm_testlib import TOL, make_inputs, relerr, rounded

from xlstm_lab.kernels import MLSTMBackendError, MLSTMState, mlstm, mlstm_step
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


@pytest.mark.parametrize("prefill_backend", ["triton", "torch_chunkwise"])
def test_a_step_after_a_prefill_with_strong_forgetting(prefill_backend):
    """One chunk of L = 64 steps with f ~ -20, then a step that keeps the state (f = 3).

    The chunk's total log forget gate g must be the last element of the in-chunk cumulative sum b: the state
    weights exp(g - b_s + i_s - m) then give the last step exactly exp(i - m). A separately rounded sum (the
    Triton kernel's former ``tl.sum``) is off by ~1e-4 at these gates, which scales the whole state by
    e^1e-4; the next step mixes that state with a new token, and h was off by up to 2e-4 (1.5e-7 now).
    """
    B, H, T, K, V = 1, 4, 65, 16, 16
    (q, k, v, _, _), _ = make_inputs(B, H, T, K, V, seed=1)
    g = torch.Generator().manual_seed(1)
    f = -20.0 + 2.0 * torch.rand(B, H, T, generator=g, dtype=torch.float64)
    f[..., 64] = 3.0
    i = torch.randn(B, H, T, generator=g, dtype=torch.float64)
    xs = (q, k, v, i, f)
    h_ref, _ = mlstm_parallel(*xs, return_last_state=True)
    _, prefill_ref = mlstm_parallel(*(x[:, :, :64] for x in xs), return_last_state=True)
    x32 = [x.float() for x in xs]
    _, state = mlstm(*(x[:, :, :64] for x in x32), backend=prefill_backend, chunk_size=64, return_last_state=True)
    # the true state is C * exp(m): compare it, whatever m each side chose
    true_C = state.C.double() * torch.exp(state.m.double() - prefill_ref.m)[..., None, None]
    assert relerr(true_C, prefill_ref.C) < 2e-6
    h, _ = mlstm_step(*(x[:, :, 64] for x in x32), state, backend="torch")
    assert relerr(h, h_ref[:, :, 64]) < 2e-6


def test_triton_step_refuses_inputs_that_need_a_gradient():
    """The fused step has no backward: it used to return an h with no grad_fn, silently cutting the graph."""
    xs, _ = make_inputs(1, 2, 1, 8, 8, seed=5)
    q, k, v, i, f = (x[:, :, 0].float() for x in xs)
    state = MLSTMState.zeros(1, 2, 8, 8)
    with pytest.raises(MLSTMBackendError, match="no backward"):
        mlstm_step(q.requires_grad_(), k, v, i, f, state, backend="triton")
    with torch.no_grad():
        h, _ = mlstm_step(q, k, v, i, f, state, backend="triton")
    h_torch, _ = mlstm_step(q, k, v, i, f, state, backend="torch")
    assert h_torch.requires_grad and relerr(h, h_torch) < 1e-6
