"""Half-precision inputs: outputs and gradients in the input dtype, finite, within the dtype's tolerance."""

import pytest
import torch
from mlstm_testlib import GRAD_NAMES, TOL, make_inputs, relerr, rounded, run

from xlstm_lab.kernels import mlstm


@pytest.mark.parametrize("normalizer_grad", ["exact", "detached"])
@pytest.mark.parametrize("regime", ["typical", "large"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("backend", ["triton", "torch_chunkwise"])
def test_half_precision_within_tolerance(backend, dtype, regime, normalizer_grad):
    xs, st = make_inputs(1, 2, 40, 16, 24, regime=regime, with_state=True, seed=17)
    xs = rounded(xs, dtype)  # the reference sees exactly the numbers the kernel sees
    h_ref, last_ref, g_ref = run(xs, st, dtype=torch.float64, backend="reference", normalizer_grad=normalizer_grad)
    h, last, grads = run(xs, st, dtype=dtype, backend=backend, normalizer_grad=normalizer_grad)
    assert h.dtype == dtype
    assert all(x.dtype == torch.float32 for x in last)
    assert relerr(h, h_ref) < TOL[dtype]["value"]
    for name, a, b in zip("Cn", last[:2], last_ref[:2], strict=True):
        assert relerr(a, b) < TOL[dtype]["value"], name
    for name, a, b in zip(GRAD_NAMES[: len(grads)], grads, g_ref, strict=True):
        want = dtype if name in ("dq", "dk", "dv", "di", "df") else torch.float32
        assert a.dtype == want, name
        assert relerr(a, b) < TOL[dtype]["grad"], (name, relerr(a, b))


@pytest.mark.parametrize("backend", ["triton", "torch_chunkwise"])
def test_bf16_activations_with_float32_gates(backend):
    """Models may keep gate pre-activations in fp32 while q, k, v are bf16: gate gradients stay fp32."""
    xs, _ = make_inputs(1, 2, 20, 16, 16, seed=19)
    q, k, v = (x.bfloat16().requires_grad_() for x in xs[:3])
    i, f = (x.float().requires_grad_() for x in xs[3:])
    h = mlstm(q, k, v, i, f, backend=backend, chunk_size=16)
    h.float().sum().backward()
    assert h.dtype == torch.bfloat16
    assert i.grad.dtype == torch.float32 and f.grad.dtype == torch.float32
    h_ref = mlstm(*(x.detach().double() for x in (q, k, v, i, f)), backend="torch_parallel")
    assert relerr(h, h_ref) < TOL[torch.bfloat16]["value"]
