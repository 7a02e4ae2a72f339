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


def cotangents(h, last, seed=1):
    """Fixed random cotangents (dh, dC_T, dn_T) in float64 for an output h and a last state."""
    g = torch.Generator().manual_seed(seed)
    dh = torch.randn(h.shape, generator=g, dtype=torch.float64)
    dC = torch.randn(last.C.shape, generator=g, dtype=torch.float64)
    dn = torch.randn(last.n.shape, generator=g, dtype=torch.float64)
    return dh, dC, dn


def run(xs, state, *, dtype, backend, normalizer_grad="exact", chunk_size=16, seed=1, last_state_grad=True, **kw):
    """Forward + backward of one backend with fixed random cotangents for h and the last state.

    Returns (h, last_state, grads) with grads of q, k, v, i, f and, with a state, of C0 and n0. Extra keywords
    (eps, split_operands) go to ``mlstm``.
    """
    leaves = [x.to(dtype).clone().requires_grad_() for x in xs]
    st = None
    if state is not None:  # states are float32 whatever the input dtype (float64 for float64 runs)
        sd = torch.float64 if dtype == torch.float64 else torch.float32
        st = MLSTMState(state.C.to(sd).clone().requires_grad_(), state.n.to(sd).clone().requires_grad_(),
                        state.m.to(sd).clone())
    if backend in ("triton", "torch_chunkwise"):
        kw["chunk_size"] = chunk_size
    if backend == "reference":
        h, last = mlstm_parallel(*leaves, initial_state=st, return_last_state=True, normalizer_grad=normalizer_grad,
                                 **kw)
    else:
        h, last = mlstm(*leaves, backend=backend, initial_state=st, return_last_state=True,
                        normalizer_grad=normalizer_grad, **kw)
    dh, dC, dn = cotangents(h, last, seed)
    loss = (h * dh.to(h.dtype)).sum(dtype=torch.float64)
    if last_state_grad:
        loss = loss + (last.C * dC).sum() + (last.n * dn).sum()
    loss.backward()
    grads = [x.grad for x in leaves] + ([] if st is None else [st.C.grad, st.n.grad])
    return h, last, grads


GRAD_NAMES = ["dq", "dk", "dv", "di", "df", "dC0", "dn0"]


def _gate_gradient_scales(xs, last_ref, grads_ref, seed=1):
    """Norms of the sums whose cancellation gives di and df, from float64 reference gradients.

    The kernels form di_t = k_t . dk_t and df_t = sigmoid(-f_t) sum_{r>=t} (q_r . dq_r - k_r . dk_r) (plus the
    last state's term). Where those terms cancel (strong forgetting makes the true df tiny), float32 cannot
    resolve the result better than ~1e-7 of the terms in any implementation, so a gate gradient's error is
    measured against max(its own norm, the norm of its terms' magnitudes).
    """
    q, k, f = xs[0], xs[1], xs[4]
    qd = q.norm(dim=-1) * grads_ref[0].double().norm(dim=-1)
    kd = k.norm(dim=-1) * grads_ref[1].double().norm(dim=-1)
    terms = qd + kd
    h_shape = (*q.shape[:3], xs[2].shape[-1])
    _, dC, dn = cotangents(torch.empty(h_shape), last_ref, seed)
    terms[..., -1] += (last_ref.C.abs() * dC.abs()).sum((-1, -2)) + (last_ref.n.abs() * dn.abs()).sum(-1)
    df_scale = torch.sigmoid(-f) * terms.flip(-1).cumsum(-1).flip(-1)
    return kd.norm().item(), df_scale.norm().item()


def error_profile(out, ref, xs, seed=1):
    """Relative errors of (h, last state, grads) against the float64 reference ``ref`` of the same form.

    di and df are measured with the floors of :func:`_gate_gradient_scales`; everything else plainly.
    """
    (h, last, grads), (h_ref, last_ref, g_ref) = out, ref
    di_floor, df_floor = _gate_gradient_scales(xs, last_ref, g_ref, seed)
    errs = {"h": relerr(h, h_ref), "C": relerr(last.C, last_ref.C), "n": relerr(last.n, last_ref.n)}
    for name, a, b in zip(GRAD_NAMES, grads, g_ref, strict=False):
        floor = {"di": di_floor, "df": df_floor}.get(name, 1e-30)
        errs[name] = relerr(a, b, floor=floor)
    return errs


class LaunchLog:
    """Records every Triton launch of the mLSTM launchers: ``(kernel name, grid, constexpr/launch kwargs)``.

    ``install(monkeypatch, run=True)`` wraps the jit kernels of ``chunkwise_triton`` and ``step``; with
    ``run=False`` nothing executes (outputs stay as allocated), which lets a test inspect the grids of shapes
    too large to run in the interpreter.
    """

    KERNELS = ("_states_kernel", "_output_kernel", "_dstates_kernel", "_grads_kernel", "_dgate_kernel")

    def __init__(self):
        self.calls = []

    def install(self, monkeypatch, run=True):
        from xlstm_lab.kernels.mlstm import chunkwise_triton, step

        targets = [(chunkwise_triton, name) for name in self.KERNELS] + [(step, "_step_kernel")]
        for module, name in targets:
            monkeypatch.setattr(module, name, _Spy(getattr(module, name), name, self, run))
        return self

    def names(self):
        return [c[0] for c in self.calls]

    def clear(self):
        self.calls.clear()


class _Spy:
    def __init__(self, kernel, name, log, run):
        self.kernel, self.name, self.log, self.run = kernel, name, log, run

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.log.calls.append((self.name, tuple(grid), dict(kwargs)))
            if self.run:
                return self.kernel[grid](*args, **kwargs)
            return None

        return launch
