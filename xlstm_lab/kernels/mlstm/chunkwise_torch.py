"""Chunkwise mLSTM in plain torch with a hand-written backward: the readable twin of the Triton kernels.

The sequence is cut into NC chunks of L steps. Between chunks the state (C, n, m) is carried by a short
recurrence (inter-chunk); inside a chunk the outputs use the quadratic form on an L x L decay matrix plus the
state at the chunk start (intra-chunk). The backward recomputes the chunk states, runs the mirror recurrence
for dC backwards over chunks, and gets the gate gradients from two identities of the parallel form
(m constant): di_s = k_s . dk_s and dF_t = q_t . dq_t - k_t . dk_t, with dlogsigmoid(f) the reverse
cumulative sum of dF. The Triton kernels (``chunkwise_triton.py``) compute exactly these quantities.

Within a chunk (0-based step j, inclusive cumulative log forget gate b_j, total g = b_{L-1}):
    m_j   = max(b_j + m_c, max_{s<=j} b_j - b_s + i_s)            (equals the recurrence's m_t)
    h~_j  = exp(b_j + m_c - m_j) C_c^T q^_j + sum_{s<=j} exp(b_j - b_s + i_s - m_j) (q^_j . k_s) v_s
    m_c+1 = max(g + m_c, max_s g - b_s + i_s)
    C_c+1 = exp(g + m_c - m_c+1) C_c + sum_s exp(g - b_s + i_s - m_c+1) k_s v_s^T   (n likewise with k_s)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .reference import EPS
from .state import MLSTMState

__all__ = ["mlstm_chunkwise_torch"]


def _chunked(x: torch.Tensor, L: int, fill: float = 0.0) -> torch.Tensor:
    """(B, H, T, ...) -> (B, H, NC, L, ...), padding T up to a multiple of L with ``fill``."""
    T = x.shape[2]
    pad = (-T) % L
    if pad:
        widths = [0, 0] * (x.dim() - 3) + [0, pad]
        x = F.pad(x, widths, value=fill)
    return x.reshape(x.shape[0], x.shape[1], -1, L, *x.shape[3:])


def _gates(i, f, L):
    """Chunked input gates, inclusive in-chunk cumsums b and chunk totals g; padding is a no-op step."""
    ic = _chunked(i, L, float("-inf"))  # exp(-inf) = 0: a padded step writes nothing
    b = torch.cumsum(_chunked(F.logsigmoid(f), L, 0.0), dim=-1)  # logsigmoid = 0: padding does not decay
    return ic, b, b[..., -1]


def _states(kc, vc, ic, b, g, C0, n0, m0):
    """States before every chunk and after the last: (B, H, NC+1, K, V), (B, H, NC+1, K), (B, H, NC+1)."""
    u = g[..., None] - b + ic  # log weight of step s in the state at the chunk end
    mu = u.amax(-1)
    w = torch.exp(u - mu[..., None])
    Chat = torch.einsum("bhcl,bhclk,bhclv->bhckv", w, kc, vc)
    nhat = torch.einsum("bhcl,bhclk->bhck", w, kc)
    Cs, ns, ms = [C0], [n0], [m0]
    for c in range(kc.shape[2]):
        m_new = torch.maximum(g[:, :, c] + ms[-1], mu[:, :, c])
        decay, gain = torch.exp(g[:, :, c] + ms[-1] - m_new), torch.exp(mu[:, :, c] - m_new)
        Cs.append(decay[..., None, None] * Cs[-1] + gain[..., None, None] * Chat[:, :, c])
        ns.append(decay[..., None] * ns[-1] + gain[..., None] * nhat[:, :, c])
        ms.append(m_new)
    return torch.stack(Cs, 2), torch.stack(ns, 2), torch.stack(ms, 2)


def _intra(b, ic, m_prev):
    """Per-step stabiliser m (B,H,NC,L), decay matrix A (B,H,NC,L,L) and state weight e (B,H,NC,L)."""
    L = b.shape[-1]
    logA = b[..., :, None] - b[..., None, :] + ic[..., None, :]
    causal = torch.ones(L, L, dtype=torch.bool, device=b.device).tril()
    logA = logA.masked_fill(~causal, float("-inf"))
    m_state = b + m_prev[..., None]
    m = torch.maximum(logA.amax(-1), m_state)
    return m, torch.exp(logA - m[..., None]), torch.exp(m_state - m)


def _forward(q, k, v, i, f, C0, n0, m0, L, eps):
    """Returns h~/den (B,H,T,V), signed n.q (B,H,T), m (B,H,T) and the last state, all in q's dtype."""
    T, K = q.shape[2], q.shape[3]
    qc, kc, vc = _chunked(q, L) / math.sqrt(K), _chunked(k, L), _chunked(v, L)
    ic, b, g = _gates(i, f, L)
    Cs, ns, ms = _states(kc, vc, ic, b, g, C0, n0, m0)
    m, A, e = _intra(b, ic, ms[:, :, :-1])
    P = (qc @ kc.transpose(-1, -2)) * A
    num = P @ vc + e[..., None] * (qc @ Cs[:, :, :-1])
    nq = P.sum(-1) + e * torch.einsum("bhclk,bhck->bhcl", qc, ns[:, :, :-1])
    h = num / (torch.maximum(nq.abs(), torch.exp(-m)) + eps)[..., None]
    flat = lambda x: x.reshape(x.shape[0], x.shape[1], -1, *x.shape[4:])[:, :, :T]  # noqa: E731
    return flat(h), flat(nq), flat(m), MLSTMState(Cs[:, :, -1], ns[:, :, -1], ms[:, :, -1])


def _backward(q, k, v, i, f, C0, n0, m0, h, nq, m_t, dh, dC_T, dn_T, L, eps, exact):
    """Gradients (dq, dk, dv, di, df, dC0, dn0) of the chunkwise forward with m constant."""
    T, K = q.shape[2], q.shape[3]
    den = torch.maximum(nq.abs(), torch.exp(-m_t)) + eps
    dy = dh / den[..., None]
    dn = torch.zeros_like(nq)
    if exact:  # d den / d(n.q) = sign(n.q) where |n.q| wins the max
        dn = -(dh * h).sum(-1) / den * torch.sign(nq) * (nq.abs() > torch.exp(-m_t))
    qc, kc, vc = _chunked(q, L) / math.sqrt(K), _chunked(k, L), _chunked(v, L)
    dyc, dnc = _chunked(dy, L), _chunked(dn, L)
    ic, b, g = _gates(i, f, L)
    Cs, ns, ms = _states(kc, vc, ic, b, g, C0, n0, m0)  # recomputed, as the kernels do
    m, A, e = _intra(b, ic, ms[:, :, :-1])
    # mirror recurrence: dC_c = exp(g_c + m_c - m_c+1) dC_c+1 + sum_j e_j q^_j dy_j^T
    Qhat = torch.einsum("bhcl,bhclk,bhclv->bhckv", e, qc, dyc)
    qhat = torch.einsum("bhcl,bhclk->bhck", e * dnc, qc)
    dCs, dns = [dC_T], [dn_T]
    for c in reversed(range(qc.shape[2])):
        decay = torch.exp(g[:, :, c] + ms[:, :, c] - ms[:, :, c + 1])
        dCs.insert(0, decay[..., None, None] * dCs[0] + Qhat[:, :, c])
        dns.insert(0, decay[..., None] * dns[0] + qhat[:, :, c])
    dCs, dns = torch.stack(dCs, 2), torch.stack(dns, 2)
    S = qc @ kc.transpose(-1, -2)
    dS = (dyc @ vc.transpose(-1, -2) + dnc[..., None]) * A
    w = torch.exp(g[..., None] - b + ic - ms[:, :, 1:, None])  # weight of key s in the next state
    dqs = dS @ kc + e[..., None] * (dyc @ Cs[:, :, :-1].transpose(-1, -2) + dnc[..., None] * ns[:, :, :-1, None, :])
    dk = dS.transpose(-1, -2) @ qc + w[..., None] * (vc @ dCs[:, :, 1:].transpose(-1, -2) + dns[:, :, 1:, None, :])
    dv = (S * A).transpose(-1, -2) @ dyc + w[..., None] * (kc @ dCs[:, :, 1:])
    flat = lambda x: x.reshape(x.shape[0], x.shape[1], -1, *x.shape[4:])[:, :, :T]  # noqa: E731
    dq, dk, dv = flat(dqs) / math.sqrt(K), flat(dk), flat(dv)
    di = (k * dk).sum(-1)
    dF = (q * dq).sum(-1) - di
    dF[:, :, -1] += (Cs[:, :, -1] * dC_T).sum((-1, -2)) + (ns[:, :, -1] * dn_T).sum(-1)
    dlf = dF.flip(-1).cumsum(-1).flip(-1)
    df = dlf * torch.sigmoid(-f)  # d logsigmoid(f) / df
    return dq, dk, dv, di, df, dCs[:, :, 0], dns[:, :, 0]


class _ChunkwiseTorch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, i, f, C0, n0, m0, L, eps, exact):
        h, nq, m_t, last = _forward(q, k, v, i, f, C0, n0, m0, L, eps)
        ctx.save_for_backward(q, k, v, i, f, C0, n0, m0, h, nq, m_t)
        ctx.L, ctx.eps, ctx.exact = L, eps, exact
        ctx.mark_non_differentiable(last.m)
        return h, last.C, last.n, last.m

    @staticmethod
    def backward(ctx, dh, dC_T, dn_T, _dm):
        q, k, v, i, f, C0, n0, m0, h, nq, m_t = ctx.saved_tensors
        dC_T = torch.zeros_like(C0) if dC_T is None else dC_T
        dn_T = torch.zeros_like(n0) if dn_T is None else dn_T
        grads = _backward(q, k, v, i, f, C0, n0, m0, h, nq, m_t, dh, dC_T, dn_T, ctx.L, ctx.eps, ctx.exact)
        return (*grads, None, None, None, None)


def mlstm_chunkwise_torch(
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
):
    """Chunkwise mLSTM (torch ops, hand-written backward); arguments as ``xlstm_lab.kernels.mlstm.mlstm``.

    Computes in float32 (float64 if q is float64) and returns h (B, H, T, V) in q's dtype, plus the last
    MLSTMState in float32 (float64 for float64 inputs) if ``return_last_state``.
    """
    B, H, T, K = q.shape
    V = v.shape[-1]
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    state = initial_state if initial_state is not None else MLSTMState.zeros(B, H, K, V, q.device)
    state.validate(B, H, K, V)
    L = max(1, min(chunk_size, T))
    xs = (x.to(acc) for x in (q, k, v, i, f, *state))
    h, C, n, m = _ChunkwiseTorch.apply(*xs, L, eps, normalizer_grad == "exact")
    h = h.to(q.dtype)
    return (h, MLSTMState(C, n, m)) if return_last_state else h
