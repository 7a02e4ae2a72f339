"""mLSTM sequence mixing: ``mlstm`` (whole sequences) and ``mlstm_step`` (one decode step), with backends.

Shapes use one alphabet: B batch, H heads, T time, K = d_qk, V = d_v, L chunk length. Inputs are
q, k (B, H, T, K), v (B, H, T, V) and the gate pre-activations i, f (B, H, T); the output h is (B, H, T, V)
in q's dtype. The state ``MLSTMState(C, n, m)`` is float32 with shapes (B,H,K,V), (B,H,K), (B,H). Gate math
and states are float32 whatever the input dtype (bf16, fp16, fp32); float64 inputs run in float64 on the torch
backends. ``reference.py`` is the specification; every other backend is tested against it.

Backends (``BACKENDS``): "triton" (chunkwise Triton kernels, forward and backward, CUDA or TRITON_INTERPRET=1),
"torch_chunkwise" (the same algorithm in torch ops), "torch_parallel" (quadratic form), "torch_recurrent"
(a loop over time). "auto" picks "triton" on CUDA; on CPU it picks "torch_parallel" when the sequence fits in
one chunk (T <= chunk_size) and "torch_chunkwise" otherwise. ``benchmarks/bench_mlstm_cpu.py`` measured, on
2 cores in float32 (fwd+bwd time of parallel / chunkwise): 0.6 at T = 64, ~1.0 at T = 128, 1.5-1.7 at 256,
2.6-3.0 at 512, 4.7-6.5 at 1024; chunkwise also needs O(T L) rather than O(T^2) memory.

Two gradient conventions (``normalizer_grad``)
----------------------------------------------
The output is h_t = h~_t / den_t with h~_t = C_t^T q^_t and den_t = max(|n_t . q^_t|, exp(-m_t)) + eps,
everything stabilised by m_t. In true units h_t = C*_t^T q^_t / max(|n*_t . q^_t|, 1) (up to eps), so h does
not depend on m: both conventions treat m as a constant (stop-gradient), which is exact, not an approximation.

* ``"exact"`` (default): the gradient of the cell as written. The denominator is differentiated; where
  |n.q^| wins the max it contributes d(n.q^)_t = -sign(n.q^) (dh_t . h_t) / den_t. In the kernels this is one
  extra "value column of ones" whose upstream gradient is d(n.q^)_t, so it costs almost nothing.
* ``"detached"``: den_t is a constant, as in NX-AI's ``mlstm_kernels`` (whose kernels trained the xLSTM
  7B and the scaling-law models) and its ``parallel/native_stablef`` backward. This is *not* the gradient of
  the forward pass. Where the normaliser is active (|n.q^| > exp(-m), the usual case after a few tokens)
  h_t is invariant to rescaling q_t, so the true dq_t is orthogonal to q_t, while the detached dq_t is not;
  on random inputs (B=1, H=8, T=2048, K=V=128, f = randn + 3) exact and detached gradients differ by
  0.95, 0.94, 0.97, 0.94 in dq, dk, di, df (relative Frobenius norm; dv is identical: den does not depend on v). The detached gradient is a biased but
  well-behaved surrogate (it ignores how a change in q or k moves the normaliser), and it is what the
  paper's models were trained with; pick it to reproduce them, pick "exact" for a true gradient.

Both are tested against float64 autograd of ``reference.mlstm_parallel`` with m detached and the
denominator detached or not. The forget-gate gradient is a reverse cumulative sum,
df_t = sigmoid(-f_t) sum_{r>=t} (q_r . dq_r - k_r . dk_r), whose terms nearly cancel; it is accumulated in
float32 (float64 for float64 inputs): with float32 inputs its relative error is 1e-7 to 1e-6 at typical
gates and up to ~1e-5 with gates at +-20 (as for every other gradient there).

Gradients flow to the initial state's C and n (m is a constant) on every backend; a returned last state
(C, n) can carry gradients back as well.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .chunkwise_torch import mlstm_chunkwise_torch
from .reference import EPS, mlstm_parallel, mlstm_recurrent, recurrent_step
from .state import MLSTMState

__all__ = ["BACKENDS", "STEP_BACKENDS", "MLSTMState", "mlstm", "mlstm_step"]

NORMALIZER_GRADS = ("exact", "detached")


def _triton_mlstm(*args, **kwargs):
    from .autograd import mlstm_triton  # lazy: triton is imported only when this backend runs

    return mlstm_triton(*args, **kwargs)


def _triton_step(*args, **kwargs):
    from .step import mlstm_step_triton

    return mlstm_step_triton(*args, **kwargs)


def _torch_step(q, k, v, i, f, state, *, eps=EPS):
    h, new = recurrent_step(q, k, v, i, f, state, eps=eps)
    return h.to(q.dtype), MLSTMState(*(x.float() if x.dtype != torch.float64 else x for x in new))


BACKENDS: dict[str, Callable] = {
    "triton": _triton_mlstm,
    "torch_chunkwise": mlstm_chunkwise_torch,
    "torch_parallel": mlstm_parallel,
    "torch_recurrent": mlstm_recurrent,
}
STEP_BACKENDS: dict[str, Callable] = {"triton": _triton_step, "torch": _torch_step}


def _triton_usable(device: torch.device) -> bool:
    import os

    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def _check_inputs(q, k, v, i, f):
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must both be (B, H, T, K); got {tuple(q.shape)} and {tuple(k.shape)}")
    B, H, T, K = q.shape
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, H, T):
        raise ValueError(f"v must be (B, H, T, V) = ({B}, {H}, {T}, V); got {tuple(v.shape)}")
    for name, g in (("i", i), ("f", f)):
        if tuple(g.shape) != (B, H, T):
            raise ValueError(f"gate {name} must be (B, H, T) = {(B, H, T)}; got {tuple(g.shape)}")
    if T == 0:
        raise ValueError("empty sequence (T = 0): call mlstm only with T >= 1")


def mlstm(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    *,
    backend: str = "auto",
    chunk_size: int = 64,
    initial_state: MLSTMState | None = None,
    return_last_state: bool = False,
    normalizer_grad: str = "exact",
):
    """Run the mLSTM cell over whole sequences.

    Args:
        q, k: queries and keys, (B, H, T, K); q is scaled by 1/sqrt(K) inside.
        v: values, (B, H, T, V).
        i, f: input and forget gate pre-activations, (B, H, T) (f goes through logsigmoid, i through exp).
        backend: "auto" (see the module docstring) or a key of ``BACKENDS``.
        chunk_size: L for the chunkwise backends (a power of two >= 16 for "triton"); any T works.
        initial_state: MLSTMState to start from (float32); the empty state if None.
        return_last_state: also return the MLSTMState after step T.
        normalizer_grad: "exact" or "detached" (see the module docstring).

    Returns:
        h (B, H, T, V) in q's dtype, or (h, MLSTMState) if ``return_last_state``.
    """
    _check_inputs(q, k, v, i, f)
    if normalizer_grad not in NORMALIZER_GRADS:
        raise ValueError(f"normalizer_grad={normalizer_grad!r}; use one of {NORMALIZER_GRADS}")
    if backend == "auto":
        if q.device.type == "cuda":
            backend = "triton"
        else:  # one chunk: the quadratic form does the same work with fewer, larger ops
            backend = "torch_parallel" if q.shape[2] <= chunk_size else "torch_chunkwise"
    if backend not in BACKENDS:
        raise ValueError(f"unknown mLSTM backend {backend!r}; choose 'auto' or one of {sorted(BACKENDS)}")
    if backend == "triton" and not _triton_usable(q.device):
        raise RuntimeError("backend='triton' needs a CUDA tensor (or TRITON_INTERPRET=1 for CPU tests)")
    kwargs = dict(initial_state=initial_state, return_last_state=return_last_state, normalizer_grad=normalizer_grad)
    if backend in ("triton", "torch_chunkwise"):
        kwargs["chunk_size"] = chunk_size
    return BACKENDS[backend](q, k, v, i, f, **kwargs)


def mlstm_step(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    state: MLSTMState,
    *,
    backend: str = "auto",
) -> tuple[torch.Tensor, MLSTMState]:
    """One decode step: consume one token per sequence and return (h, new state).

    Args:
        q, k: (B, H, K). v: (B, H, V). i, f: (B, H) gate pre-activations.
        state: MLSTMState before the step (``MLSTMState.zeros(B, H, K, V, device)`` to start empty).
        backend: "auto" (fused Triton kernel on CUDA without autograd, torch otherwise), "triton" or "torch".

    Returns:
        h (B, H, V) in q's dtype and the new float32 MLSTMState (a fresh one; the old state is not modified).
        A prefill ``mlstm(..., return_last_state=True)`` followed by steps equals one long ``mlstm`` call.
    """
    if q.dim() != 3 or k.shape != q.shape or v.dim() != 3 or tuple(v.shape[:2]) != tuple(q.shape[:2]):
        raise ValueError(f"mlstm_step wants q, k (B,H,K) and v (B,H,V); got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)} (for a sequence use mlstm)")
    B, H, K = q.shape
    for name, g in (("i", i), ("f", f)):
        if tuple(g.shape) != (B, H):
            raise ValueError(f"gate {name} must be (B, H) = {(B, H)}; got {tuple(g.shape)}")
    state.validate(B, H, K, v.shape[-1])
    if backend == "auto":
        needs_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v, i, f, *state))
        backend = "triton" if q.device.type == "cuda" and not needs_grad else "torch"
    if backend not in STEP_BACKENDS:
        raise ValueError(f"unknown step backend {backend!r}; choose 'auto' or one of {sorted(STEP_BACKENDS)}")
    if backend == "triton" and not _triton_usable(q.device):
        raise RuntimeError("backend='triton' needs a CUDA tensor (or TRITON_INTERPRET=1 for CPU tests)")
    return STEP_BACKENDS[backend](q, k, v, i, f, state)
