"""The fused Triton decode step: read the state once, update it, write it once, emit h.

One program per (b, h, V block), all on grid axis 0 (CUDA allows 2^31 - 1 programs there, 65,535 on the
other axes): it loads q, k (all of K) and its v block, updates C[:, block] and (in the first V block) n and m,
and reduces q^T C for its h block. Bytes per step are 2 * 4 * (K*V + K + 1) for the
state read and written plus the token's q, k, v, h: the kernel is bandwidth-bound, so the state is never
touched twice. Inference only: it has no backward, so ``mlstm_step(backend="triton")`` refuses inputs that
require a gradient (``backend="auto"`` uses the torch step under autograd).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from . import heuristics
from .chunkwise_triton import _empty, _grid
from .errors import MLSTMBackendError
from .reference import EPS
from .state import MLSTMState
from .validation import require_triton

__all__ = ["mlstm_step_triton"]


@triton.jit
def _step_kernel(
    Q, Kp, Vp, I, Fg, C, N, M, Hout, Cn, Nn, Mn,
    K, V, scale, eps,
    BK: tl.constexpr, BV: tl.constexpr,
):
    pid = tl.program_id(0)
    nv = tl.cdiv(V, BV)
    pv = pid % nv
    bh = (pid // nv).to(tl.int64)
    ig = tl.load(I + bh).to(tl.float32)
    fg = tl.load(Fg + bh).to(tl.float32)
    lf = tl.minimum(fg, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(fg)))
    m_old = tl.load(M + bh)
    m = tl.maximum(lf + m_old, ig)  # -inf + lf = -inf on the empty state, so m_1 = i_1
    decay = tl.exp(lf + m_old - m)
    gain = tl.exp(ig - m)
    ov = pv * BV + tl.arange(0, BV)
    mv = ov < V
    v = tl.load(Vp + bh * V + ov, mask=mv, other=0.0).to(tl.float32)
    num = tl.zeros((BV,), dtype=tl.float32)
    nq = tl.zeros((BK,), dtype=tl.float32)
    for kb in range(0, K, BK):
        ok = kb + tl.arange(0, BK)
        mk = ok < K
        q = tl.load(Q + bh * K + ok, mask=mk, other=0.0).to(tl.float32) * scale
        k = tl.load(Kp + bh * K + ok, mask=mk, other=0.0).to(tl.float32)
        kv = bh * K * V + ok[:, None] * V + ov[None, :]
        mkv = mk[:, None] & mv[None, :]
        c = decay * tl.load(C + kv, mask=mkv, other=0.0) + gain * k[:, None] * v[None, :]
        tl.store(Cn + kv, c, mask=mkv)
        num += tl.sum(c * q[:, None], 0)
        n = decay * tl.load(N + bh * K + ok, mask=mk, other=0.0) + gain * k
        tl.store(Nn + bh * K + ok, n, mask=mk & (pv == 0))
        nq += n * q
    den = tl.maximum(tl.abs(tl.sum(nq, 0)), tl.exp(-m)) + eps
    tl.store(Hout + bh * V + ov, num / den, mask=mv)
    tl.store(Mn + bh, m, mask=pv == 0)


def mlstm_step_triton(q, k, v, i, f, state: MLSTMState, *, eps: float = EPS) -> tuple[torch.Tensor, MLSTMState]:
    """One decode step on the fused kernel; shapes as ``xlstm_lab.kernels.mlstm.mlstm_step``.

    Returns h (B, H, V) in q's dtype and a new float32 state (the input state is read, never written).

    Raises:
        MLSTMBackendError: inputs require a gradient (the kernel has no backward), or no CUDA/interpreter.
        MLSTMDtypeError: q is not fp32, bf16 or fp16.
    """
    require_triton(q, "decode step")
    if torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v, i, f, *state)):
        raise MLSTMBackendError("the Triton decode step has no backward, but its inputs require a gradient: use "
                                "backend='torch' (or 'auto', which picks it under autograd), or torch.no_grad()")
    B, H, K = q.shape
    V = v.shape[-1]
    cfg = heuristics.step_config(K, V, B * H)
    C, n, m = (x.float().contiguous() for x in state)
    h = _empty(B, H, V, dtype=q.dtype, device=q.device)
    Cn, nn, mn = (_empty(*x.shape, dtype=torch.float32, device=q.device) for x in (C, n, m))
    launch = {key: cfg[key] for key in ("num_warps", "num_stages") if key in cfg}
    _step_kernel[_grid(B * H, triton.cdiv(V, cfg["BV"]))](
        q.contiguous(), k.contiguous(), v.contiguous(), i.contiguous(), f.contiguous(), C, n, m, h, Cn, nn, mn,
        K, V, 1.0 / math.sqrt(K), float(eps), BK=cfg["BK"], BV=cfg["BV"], **launch)
    return h, MLSTMState(Cn, nn, mn)
