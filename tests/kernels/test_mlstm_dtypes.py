"""Half-precision inputs: outputs and gradients in the input dtype, within the dtype's tolerance; the hi/lo split."""

import pytest
import torch
import triton  # after tests/kernels/conftest.py has set TRITON_INTERPRET=1
import triton.language as tl
from mlstm_testlib import GRAD_NAMES, TOL, make_inputs, relerr, rounded, run

from xlstm_lab.kernels import mlstm
from xlstm_lab.kernels.mlstm.chunkwise_triton import _round_bf16


@triton.jit
def _round_kernel(X, Y, N, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + o, _round_bf16(tl.load(X + o, mask=o < N, other=0.0)), mask=o < N)


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


def test_split_operands_is_an_option_and_on_by_default():
    """bf16 without the hi/lo split rounds the states' matmul operands to 8 bits: the last state's error goes
    from 2e-6 to 1.5e-3 and h's from 1.6e-3 to 2.5e-3 on this input (CPU interpreter, GPU-like rounding)."""
    xs, _ = make_inputs(1, 2, 64, 32, 32, seed=17)
    xs = rounded(xs, torch.bfloat16)
    h_ref, last_ref, _ = run(xs, None, dtype=torch.float64, backend="reference")
    out = {s: run(xs, None, dtype=torch.bfloat16, backend="triton", split_operands=s)[:2] for s in (None, True, False)}
    assert torch.equal(out[None][0], out[True][0]) and torch.equal(out[None][1].C, out[True][1].C)
    err = {s: (relerr(h, h_ref), relerr(last.C, last_ref.C)) for s, (h, last) in out.items()}
    assert err[True][1] < 1e-5 < 1e-4 < err[False][1]
    assert err[True][0] < err[False][0] < TOL[torch.bfloat16]["value"]


def test_the_interpreter_rounds_to_bf16_as_a_gpu_does():
    """Under TRITON_INTERPRET the bf16 kernels round through ``_round_bf16`` instead of a bf16 cast (the 3.7
    interpreter truncates). That emulation must be round-to-nearest-even, the rounding of sm_90's
    ``cvt.rn.bf16.f32`` and of torch's own cast, so interpreter errors stand for the real path's."""
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(20000, generator=g) * torch.pow(10.0, 60 * torch.rand(20000, generator=g) - 30)
    hi = torch.randint(0, 2**15, (4000,), generator=g, dtype=torch.int32) << 16
    ties = (hi | 0x8000).view(torch.float32)  # exactly half-way between two bf16 values, odd and even
    near = ((hi | 0x7FFF).view(torch.float32), (hi | 0x8001).view(torch.float32))
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 3.3895e38, -3.3895e38, 1e-40, -1e-45])
    x = torch.cat([spread, ties, -ties, *near, special])
    x = x[~x.isnan()]  # NaN payloads are not rounded alike (never produced by the kernels' finite math)
    y = torch.empty_like(x)
    _round_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024)
    want = x.to(torch.bfloat16).float()
    assert torch.equal(y.view(torch.int32), want.view(torch.int32))
