"""Every fast backend against float64 autograd of the quadratic reference: values, last state, all gradients."""

import pytest
import torch
from mlstm_testlib import GRAD_NAMES, LARGE_GATE_TOL_SCALE, TOL, make_inputs, relerr, run

from xlstm_lab.kernels import MLSTMState, mlstm
from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

# (B, H, T, K, V, chunk_size, gate regime, initial state): T is mostly not a multiple of the chunk
CASES = {
    "ragged_T": (1, 2, 40, 8, 16, 16, "typical", False),
    "odd_head_dims": (2, 1, 23, 5, 7, 16, "typical", True),
    "large_gates": (1, 2, 37, 8, 16, 16, "large", True),
    "T_multiple_of_L": (1, 1, 32, 16, 16, 16, "typical", True),
    "T_below_L": (1, 2, 7, 16, 16, 64, "typical", True),
    "single_step": (2, 1, 1, 8, 8, 16, "large", True),
    "wide_heads_L32": (1, 1, 45, 40, 72, 32, "typical", False),  # K, V loop over several blocks
}
BACKENDS = ["triton", "torch_chunkwise", "torch_parallel", "torch_recurrent"]


@pytest.mark.parametrize("normalizer_grad", ["exact", "detached"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_float32_matches_float64_reference(case, backend, normalizer_grad):
    B, H, T, K, V, L, regime, with_state = CASES[case]
    xs, st = make_inputs(B, H, T, K, V, regime=regime, with_state=with_state, seed=list(CASES).index(case))
    h_ref, last_ref, g_ref = run(xs, st, dtype=torch.float64, backend="reference", normalizer_grad=normalizer_grad)
    h, last, grads = run(xs, st, dtype=torch.float32, backend=backend, normalizer_grad=normalizer_grad,
                         chunk_size=L)
    scale = LARGE_GATE_TOL_SCALE if regime == "large" else 1.0
    tol = {key: scale * value for key, value in TOL[torch.float32].items()}
    assert h.dtype == torch.float32 and h.shape == h_ref.shape
    assert relerr(h, h_ref) < tol["value"]
    for name, a, b in zip("Cnm", last, last_ref, strict=True):
        assert a.dtype == torch.float32, name
        assert relerr(a, b) < tol["value"], name
    assert len(grads) == len(g_ref)
    for name, a, b in zip(GRAD_NAMES[: len(grads)], grads, g_ref, strict=True):
        assert relerr(a, b) < tol["grad"], (name, relerr(a, b))


@pytest.mark.parametrize("backend", ["triton", "torch_chunkwise"])
def test_chunk_size_does_not_change_the_result(backend):
    xs, st = make_inputs(1, 2, 50, 8, 8, with_state=True, seed=11)
    outs = [run(xs, st, dtype=torch.float32, backend=backend, chunk_size=L)[0] for L in (16, 32, 64)]
    assert relerr(outs[0], outs[2]) < 1e-5 and relerr(outs[1], outs[2]) < 1e-5


def test_gradient_through_a_returned_state_only():
    """A loss on the last state alone (no dh) still reaches every input, as in truncated BPTT."""
    xs, st = make_inputs(1, 1, 20, 8, 8, with_state=True, seed=13)
    got = {}
    for backend, dtype in (("reference", torch.float64), ("triton", torch.float32)):
        leaves = [x.to(dtype).clone().requires_grad_() for x in xs]
        s = MLSTMState(st.C.to(dtype), st.n.to(dtype), st.m.to(dtype))
        if backend == "reference":
            _, last = mlstm_parallel(*leaves, initial_state=s, return_last_state=True)
        else:
            _, last = mlstm(*leaves, backend=backend, initial_state=s, return_last_state=True, chunk_size=16)
        (last.C.sum() + last.n.square().sum()).backward()
        got[backend] = [x.grad for x in leaves]
    assert got["reference"][0] is None and not got["triton"][0].any()  # q does not enter the state
    for name, a, b in zip(GRAD_NAMES[1:5], got["triton"][1:], got["reference"][1:], strict=True):
        assert relerr(a, b) < TOL[torch.float32]["grad"], name
