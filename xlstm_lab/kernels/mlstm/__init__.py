"""mLSTM sequence mixing: ``mlstm`` (whole sequences) and ``mlstm_step`` (one decode step), with backends.

Shapes use one alphabet: B batch, H heads, T time, K = d_qk, V = d_v, L chunk length. Inputs are
q, k (B, H, T, K), v (B, H, T, V) and the gate pre-activations i, f (B, H, T); the output h is (B, H, T, V)
in q's dtype. The state ``MLSTMState(C, n, m)`` is float32 with shapes (B,H,K,V), (B,H,K), (B,H). Gate math
and states are float32 whatever the input dtype (bf16, fp16, fp32); float64 inputs run in float64 on the torch
backends. ``reference.py`` is the specification; every other backend is tested against it.

Backends (``BACKENDS``): "triton" (chunkwise Triton kernels, forward and backward, CUDA or TRITON_INTERPRET=1),
"torch_chunkwise" (the same algorithm in torch ops), "torch_parallel" (quadratic form), "torch_recurrent"
(a loop over time). "auto" picks "triton" for fp32/bf16/fp16 CUDA tensors; otherwise (CPU, or float64) it picks
"torch_parallel" when the sequence fits in one chunk (T <= chunk_size) and "torch_chunkwise" beyond.
``benchmarks/bench_mlstm_cpu.py`` measured, on 2 cores in float32 (fwd+bwd time of parallel / chunkwise): 0.6 at
T = 64, ~1.0 at T = 128, 1.5-1.7 at 256, 2.6-3.0 at 512, 4.7-6.5 at 1024; chunkwise also needs O(T L) rather than
O(T^2) memory.

Two gradient conventions (``normalizer_grad``)
----------------------------------------------
The output is h_t = h~_t / den_t with h~_t = C_t^T q^_t and den_t = max(|n_t . q^_t|, exp(-m_t)) + eps,
everything stabilised by m_t. In true units h_t = C*_t^T q^_t / (max(|n*_t . q^_t|, 1) + eps exp(m_t)), so h
depends on the stabiliser m only through eps. Both conventions treat m as a constant (a stop-gradient), as
NX-AI's ``mlstm_kernels`` does. With ``eps=0`` that is exact. With eps > 0 (default 1e-6, as in the paper) the
gradient leaves out one term, -(dh_t . h_t) eps / den_t routed through the argmax of the max that defines
m_t: it touches only di and df, and is eps / den_t relative to dh_t . h_t, so ~1e-6 where |n.q^| is O(1) and
larger only where the normaliser nearly cancels (1.4e-4 relative in di with gates at +-20 in one review).
``tests/kernels/test_mlstm_reference.py`` checks this against an independent gradient with m differentiable.
Why not differentiate m: it would take a reverse scan over the argmax of every m_t and, to stay consistent
across calls, gradients through the returned state's m as well, for a term of order eps; pass ``eps=0`` where
the true gradient matters (h then divides by max(|n.q^|, exp(-m)), which is > 0 while m < ~87 in fp32).

* ``"exact"`` (default): the gradient of the cell as written, m constant. The denominator is differentiated; where
  |n.q^| wins the max it contributes d(n.q^)_t = -sign(n.q^) (dh_t . h_t) / den_t. In the kernels this is one
  extra "value column of ones" whose upstream gradient is d(n.q^)_t, so it costs almost nothing.
* ``"detached"``: den_t is a constant, as in NX-AI's ``mlstm_kernels`` (whose kernels trained the xLSTM
  7B and the scaling-law models) and its ``parallel/native_stablef`` backward. This is *not* the gradient of
  the forward pass. Where the normaliser is active (|n.q^| > exp(-m), the usual case after a few tokens)
  h_t is invariant to rescaling q_t, so the true dq_t is orthogonal to q_t, while the detached dq_t is not;
  on random inputs (B=1, H=8, T=2048, K=V=128, f = randn + 3) exact and detached gradients differ by
  0.95, 0.94, 0.97, 0.94 in dq, dk, di, df (relative Frobenius norm; dv is identical: den does not depend on v).
  The detached gradient is a biased but well-behaved surrogate (it ignores how a change in q or k moves the
  normaliser), and it is what the paper's models were trained with; pick it to reproduce them, pick "exact" for
  a true gradient.

Both are tested against float64 autograd of ``reference.mlstm_parallel`` with m detached and the
denominator detached or not. The forget-gate gradient is a reverse cumulative sum,
df_t = sigmoid(-f_t) sum_{r>=t} (q_r . dq_r - k_r . dk_r), whose terms nearly cancel; it is accumulated in
float32 (float64 for float64 inputs): with float32 inputs its relative error is 1e-7 to 1e-6 at typical
gates and up to ~1e-5 with gates at +-20 (as for every other gradient there). Under strong forgetting
(f well below 0) the true df is a tiny difference of those terms, and float32 resolves it only to ~1e-7 of
their size, in every implementation alike (the property tests measure errors against that size).

Gradients flow to the initial state's C and n (m is a constant) on every backend; a returned last state
(C, n) can carry gradients back as well.

Bad input (shapes, dtypes, devices, options, states) raises a subclass of ``MLSTMError`` naming the problem and
the fix (``errors.py``; the checks and the dtype policy are in ``validation.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .chunkwise_torch import mlstm_chunkwise_torch
from .errors import MLSTMBackendError, MLSTMDtypeError, MLSTMError, MLSTMInputError
from .reference import EPS, mlstm_parallel, mlstm_recurrent, recurrent_step
from .state import MLSTMState
from .validation import (
    KERNEL_DTYPES,
    NORMALIZER_GRADS,
    as_state,
    check_chunk_size,
    check_options,
    check_sequence,
    check_step,
    require_triton,
)

__all__ = ["BACKENDS", "STEP_BACKENDS", "NORMALIZER_GRADS", "EPS", "MLSTMState", "MLSTMError", "MLSTMInputError",
           "MLSTMDtypeError", "MLSTMBackendError", "mlstm", "mlstm_step", "select_backend", "select_step_backend"]


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


def select_backend(device: torch.device, dtype: torch.dtype, T: int, chunk_size: int) -> str:
    """What ``backend="auto"`` runs: Triton for fp32/bf16/fp16 CUDA tensors, else a torch backend.

    On CPU (and for float64) the quadratic form when the sequence fits in one chunk (T <= chunk_size): it does
    the same work with fewer, larger ops; the chunkwise form beyond.
    """
    if torch.device(device).type == "cuda" and dtype in KERNEL_DTYPES:
        return "triton"
    return "torch_parallel" if T <= chunk_size else "torch_chunkwise"


def select_step_backend(device: torch.device, dtype: torch.dtype, needs_grad: bool) -> str:
    """What ``mlstm_step(backend="auto")`` runs: the fused Triton step for fp32/bf16/fp16 CUDA tensors when no
    gradient is needed (it has no backward), the torch step otherwise."""
    usable = torch.device(device).type == "cuda" and dtype in KERNEL_DTYPES
    return "triton" if usable and not needs_grad else "torch"


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
    eps: float = EPS,
    split_operands: bool | None = None,
):
    """Run the mLSTM cell over whole sequences.

    Args:
        q, k: queries and keys, (B, H, T, K); q is scaled by 1/sqrt(K) inside.
        v: values, (B, H, T, V), in q's dtype.
        i, f: input and forget gate pre-activations, (B, H, T) (f goes through logsigmoid, i through exp), in
            q's dtype or float32 when q is bf16/fp16.
        backend: "auto" (see the module docstring) or a key of ``BACKENDS``.
        chunk_size: L of the chunkwise backends, a power of two >= 16 (checked on every backend, so a setting
            runs alike on CPU and GPU); any T works.
        initial_state: MLSTMState (or a (C, n, m) tuple) to start from, float32; the empty state if None.
        return_last_state: also return the MLSTMState after step T.
        normalizer_grad: "exact" or "detached" (see the module docstring).
        eps: added to the normaliser in stabilised units, >= 0 (default 1e-6, as in the paper).
        split_operands: Triton only: carry computed matmul operands of bf16/fp16 runs as hi + lo pairs (None:
            the default, on; see ``heuristics.split_operands``). The torch backends compute in fp32/fp64 and
            need no split.

    Returns:
        h (B, H, T, V) in q's dtype, or (h, MLSTMState) if ``return_last_state``.

    Raises:
        MLSTMInputError: bad shapes, devices, options or state (a ValueError).
        MLSTMDtypeError: dtypes that do not go together, or float64 on "triton" (a TypeError).
        MLSTMBackendError: "triton" without CUDA or the interpreter (a RuntimeError).
    """
    eps = check_options(backend=backend, normalizer_grad=normalizer_grad, eps=eps,
                        return_last_state=return_last_state, split_operands=split_operands, backends=BACKENDS)
    B, H, T, K, V = check_sequence(q, k, v, i, f)
    chunk_size = check_chunk_size(chunk_size)
    if initial_state is not None:
        initial_state = as_state(initial_state, B, H, K, V, q.device, "initial_state")
    if backend == "auto":
        backend = select_backend(q.device, q.dtype, T, chunk_size)
    kwargs = dict(initial_state=initial_state, return_last_state=bool(return_last_state),
                  normalizer_grad=normalizer_grad, eps=eps)
    if backend == "triton":
        require_triton(q, "mLSTM")
        kwargs["split_operands"] = split_operands
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
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """One decode step: consume one token per sequence and return (h, new state).

    Args:
        q, k: (B, H, K). v: (B, H, V). i, f: (B, H) gate pre-activations (dtypes as for ``mlstm``).
        state: MLSTMState (or a (C, n, m) tuple) before the step (``MLSTMState.zeros(B, H, K, V, device)``
            to start empty).
        backend: "auto" (fused Triton kernel for CUDA fp32/bf16/fp16 without autograd, torch otherwise),
            "triton" (refuses inputs that require a gradient: it has no backward) or "torch".
        eps: as for ``mlstm``.

    Returns:
        h (B, H, V) in q's dtype and the new float32 MLSTMState (a fresh one; the old state is not modified).
        A prefill ``mlstm(..., return_last_state=True)`` followed by steps equals one long ``mlstm`` call.

    Raises:
        MLSTMInputError, MLSTMDtypeError, MLSTMBackendError: as for ``mlstm``.
    """
    eps = check_options(backend=backend, normalizer_grad="exact", eps=eps, return_last_state=False,
                        split_operands=None, backends=STEP_BACKENDS, kind="step")
    B, H, K, V = check_step(q, k, v, i, f)
    state = as_state(state, B, H, K, V, q.device, "state")
    if backend == "auto":
        needs_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v, i, f, *state))
        backend = select_step_backend(q.device, q.dtype, needs_grad)
    return STEP_BACKENDS[backend](q, k, v, i, f, state, eps=eps)
