"""Shared inputs, tolerances and comparison helpers of the mLSTM kernel tests."""

from __future__ import annotations

import torch

from xlstm_lab.kernels import MLSTMState, mlstm
from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

# Relative Frobenius error allowed against the float64 reference, per input dtype, for outputs ("value")
# and for every gradient ("grad"). float32: measured worst cases are 1.4e-5 (h, gates at +-20, where
# rounding i to fp32 alone moves exp(i) by 1e-6 relative) and 3.2e-5 (dq); the bounds leave ~7x margin.
# bf16/fp16: the reference gets the same rounded inputs, so what is left is rounding h and the gradients
# to the input dtype (relative Frobenius 1.7e-3 for bf16, 2.1e-4 for fp16) plus, for gradients, the
# exact-convention term dh.h computed from the rounded h; measured worst cases 2.1e-3 / 1.3e-2 (bf16 value
# / grad, gates at +-20) and 2.2e-4 / 5.7e-3 (fp16).
TOL = {
    torch.float32: {"value": 1e-4, "grad": 2e-4},
    torch.bfloat16: {"value": 6e-3, "grad": 3e-2},
    torch.float16: {"value": 1e-3, "grad": 2e-2},
    torch.float64: {"value": 1e-10, "grad": 1e-9},  # torch backends in float64: only summation order differs
}

# Gates at +-20 make exp(i) span 1e17 and let a few steps dominate n_t; when two of them have q.k of opposite
# sign, n.q^ cancels and float32 loses digits in every implementation alike (the plain float32 recurrence
# reaches 6.5e-5 / 1.3e-4, value / grad, over 8 seeds; the chunked forms up to 1.8e-4 / 5.4e-4).
# Tolerances for that regime are scaled by this factor.
LARGE_GATE_TOL_SCALE = 10.0

GATE_REGIMES = {
    "typical": ((-1.0, 1.0), (1.0, 4.0)),  # (i range, f range): forget gates near 1 as after xLSTM init
    "large": ((-20.0, 20.0), (-10.0, 15.0)),  # exp(i) spans 1e17: only the stabiliser keeps this finite
}


def make_inputs(B, H, T, K, V, regime="typical", seed=0, with_state=False):
    """float64 q, k, v (B,H,T,K|V), gates (B,H,T) uniform in the regime's ranges, optional random state."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    (i_lo, i_hi), (f_lo, f_hi) = GATE_REGIMES[regime]
    uni = lambda lo, hi: lo + (hi - lo) * torch.rand(B, H, T, generator=g, dtype=torch.float64)  # noqa: E731
    xs = (rnd(B, H, T, K), rnd(B, H, T, K), rnd(B, H, T, V), uni(i_lo, i_hi), uni(f_lo, f_hi))
    state = None
    if with_state:
        state = MLSTMState(rnd(B, H, K, V), rnd(B, H, K).abs(), 2.0 * rnd(B, H))
    return xs, state


def relerr(a: torch.Tensor, b: torch.Tensor, floor: float = 1e-30) -> float:
    """Relative Frobenius error ||a - b|| / max(||b||, floor) in float64; NaN or inf in ``a`` gives inf.

    The floor matters only for gradients that underflow float32 (with f = -10 a state decays by e^-10 per
    step, so the last state's dependence on the first can be 1e-45, a float32 denormal with no precision).
    """
    a, b = a.detach().double(), b.detach().double()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - b).norm() / b.norm().clamp_min(floor)).item()


def rounded(xs, dtype):
    """The float64 inputs as the low-precision run sees them (so the reference differs only in arithmetic)."""
    return tuple(x.to(dtype).double() for x in xs)


def run(xs, state, *, dtype, backend, normalizer_grad="exact", chunk_size=16, seed=1, last_state_grad=True):
    """Forward + backward of one backend with fixed random cotangents for h and the last state.

    Returns (h, last_state, grads) with grads of q, k, v, i, f and, with a state, of C0 and n0.
    """
    leaves = [x.to(dtype).clone().requires_grad_() for x in xs]
    st = None
    if state is not None:  # states are float32 whatever the input dtype (float64 for float64 runs)
        sd = torch.float64 if dtype == torch.float64 else torch.float32
        st = MLSTMState(state.C.to(sd).clone().requires_grad_(), state.n.to(sd).clone().requires_grad_(),
                        state.m.to(sd).clone())
    kw = {"chunk_size": chunk_size} if backend in ("triton", "torch_chunkwise") else {}
    if backend == "reference":
        h, last = mlstm_parallel(*leaves, initial_state=st, return_last_state=True, normalizer_grad=normalizer_grad)
    else:
        h, last = mlstm(*leaves, backend=backend, initial_state=st, return_last_state=True,
                        normalizer_grad=normalizer_grad, **kw)
    g = torch.Generator().manual_seed(seed)
    dh = torch.randn(h.shape, generator=g, dtype=torch.float64).to(h.dtype)
    loss = (h * dh).sum(dtype=torch.float64)
    if last_state_grad:
        dC = torch.randn(last.C.shape, generator=g, dtype=torch.float64)
        dn = torch.randn(last.n.shape, generator=g, dtype=torch.float64)
        loss = loss + (last.C * dC).sum() + (last.n * dn).sum()
    loss.backward()
    grads = [x.grad for x in leaves] + ([] if st is None else [st.C.grad, st.n.grad])
    return h, last, grads


GRAD_NAMES = ["dq", "dk", "dv", "di", "df", "dC0", "dn0"]
