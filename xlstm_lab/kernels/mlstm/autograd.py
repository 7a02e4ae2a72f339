"""The autograd.Function around the Triton chunkwise kernels: layout, padding and dtype policy."""

from __future__ import annotations

import torch

from . import heuristics
from .chunkwise_triton import mlstm_chunkwise_bwd, mlstm_chunkwise_fwd
from .reference import EPS
from .state import MLSTMState
from .validation import check_chunk_size, require_triton

__all__ = ["mlstm_triton"]


class _MLSTMTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, i, f, C0, n0, m0, L, eps, exact, split):
        h, nq, mt, (Cs, Ns, Ms) = mlstm_chunkwise_fwd(q, k, v, i, f, C0, n0, m0, L, eps, split)
        ctx.save_for_backward(q, k, v, i, f, C0, n0, m0, h, nq, mt)
        ctx.L, ctx.eps, ctx.exact, ctx.split = L, eps, exact, split
        # an unused output (the last state, or h when only the state is used) gets None, not a tensor of
        # zeros, so the backward can skip the last-state path instead of launching it on zeros
        ctx.set_materialize_grads(False)
        m_last = Ms[:, -1]
        ctx.mark_non_differentiable(m_last)
        return h, Cs[:, -1], Ns[:, -1], m_last  # views; the caller clones them only when it keeps them

    @staticmethod
    def backward(ctx, dh, dC_T, dn_T, _dm):
        q, k, v, i, f, C0, n0, m0, h, nq, mt = ctx.saved_tensors
        dh = torch.zeros_like(h) if dh is None else dh.contiguous()
        grads = mlstm_chunkwise_bwd(q, k, v, i, f, C0, n0, m0, h, nq, mt, dh, dC_T, dn_T,
                                    ctx.L, ctx.eps, ctx.exact, ctx.split)
        return (*grads, None, None, None, None, None)


def mlstm_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    *,
    chunk_size: int = 64,
    initial_state: MLSTMState | None = None,
    return_last_state: bool = False,
    normalizer_grad: str = "exact",
    eps: float = EPS,
    split_operands: bool | None = None,
):
    """Chunkwise mLSTM on the Triton kernels; arguments and returns as ``xlstm_lab.kernels.mlstm.mlstm``.

    q, k, v must be fp32, bf16 or fp16; gates keep their dtype and get gradients in it. ``chunk_size`` must
    be a power of two >= 16; for T < chunk_size a smaller chunk is used. ``split_operands``: hi/lo operand
    split of 16-bit matmuls (None: the default of ``heuristics.split_operands``, on).
    ``mlstm(..., backend="triton")`` checks every argument first; this function checks only what the kernels need.
    """
    require_triton(q, "mLSTM")
    chunk_size = check_chunk_size(chunk_size)
    B, H, T, K = q.shape
    V = v.shape[-1]
    L = heuristics.chunk_length(T, chunk_size)
    flat = lambda x, *tail: x.reshape(B * H, *tail).contiguous()  # noqa: E731
    state = (None, None, None)  # the empty state is built inside the kernel: no extra launches
    if initial_state is not None:
        initial_state.validate(B, H, K, V)
        C0, n0, m0 = initial_state
        state = (flat(C0.float(), K, V), flat(n0.float(), K), flat(m0.float()))
    args = (flat(q, T, K), flat(k.to(q.dtype), T, K), flat(v.to(q.dtype), T, V), flat(i, T), flat(f, T), *state)
    h, C, n, m = _MLSTMTriton.apply(*args, L, float(eps), normalizer_grad == "exact", split_operands)
    h = h.reshape(B, H, T, V)
    if not return_last_state:
        return h
    last = MLSTMState(C.reshape(B, H, K, V).clone(), n.reshape(B, H, K).clone(), m.reshape(B, H).clone())
    return h, last
