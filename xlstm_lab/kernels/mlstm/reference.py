"""Reference mLSTM: the step-by-step recurrence and the quadratic parallel form (the specification).

Both follow the xLSTM paper (Beck et al. 2024, eqs. 19-27, and its appendix on the parallel form) with a
log-sigmoid forget gate and an exponential input gate. Per head, on pre-activations i_t, f_t and vectors
q_t, k_t (K), v_t (V), starting from the state (C_0, n_0, m_0) (empty: 0, 0, -inf):

    f~_t = logsigmoid(f_t)           m_t = max(f~_t + m_{t-1}, i_t)
    f'_t = exp(f~_t + m_{t-1} - m_t)  i'_t = exp(i_t - m_t)
    C_t  = f'_t C_{t-1} + i'_t k_t v_t^T      (K x V)
    n_t  = f'_t n_{t-1} + i'_t k_t            (K)
    h_t  = C_t^T q^_t / (max(|n_t . q^_t|, exp(-m_t)) + eps),   q^_t = q_t / sqrt(K)

The parallel form writes the same h_t with D_ts = exp(F_t - F_s + i_s - m_t), F_t = sum_{r<=t} f~_r, and
m_t = max(F_t + m_0, max_{s<=t} F_t - F_s + i_s). Both compute in float64 when given float64 inputs
(float32 otherwise) and return h in the input dtype. The stabiliser m is always a constant for autograd
(it cancels out of h except through eps, so the gradient is the true one for eps = 0 and leaves out an O(eps)
term otherwise: see ``xlstm_lab.kernels.mlstm``); the denominator is differentiated unless
``normalizer_grad="detached"``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .state import MLSTMState

__all__ = ["EPS", "mlstm_recurrent", "mlstm_parallel", "recurrent_step"]

EPS = 1e-6  # added to the normaliser, in stabilised units, as in the paper and mlstm_kernels


def _acc_dtype(*xs: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(x.dtype == torch.float64 for x in xs) else torch.float32


def _denominator(nq: torch.Tensor, m: torch.Tensor, eps: float, normalizer_grad: str) -> torch.Tensor:
    den = torch.maximum(nq.abs(), torch.exp(-m)) + eps
    return den.detach() if normalizer_grad == "detached" else den


def recurrent_step(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    state: MLSTMState,
    *,
    eps: float = EPS,
    normalizer_grad: str = "exact",
) -> tuple[torch.Tensor, MLSTMState]:
    """One recurrence step in the accumulation dtype (float64 if any input is, else float32).

    Args:
        q, k: (B, H, K). v: (B, H, V). i, f: (B, H) gate pre-activations.
        state: (C, n, m) before the step, shapes (B, H, K, V), (B, H, K), (B, H).

    Returns:
        h in the accumulation dtype (B, H, V) and the new state in the accumulation dtype.
    """
    acc = _acc_dtype(q, k, v, i, f, state.C)
    q, k, v, i, f = (x.to(acc) for x in (q, k, v, i, f))
    C0, n0, m0 = (x.to(acc) for x in state)
    lf = F.logsigmoid(f)
    m = torch.maximum(lf + m0, i).detach()  # stabiliser: a constant for autograd
    fg = torch.exp(lf + m0 - m)  # exp(-inf) = 0 on the empty state: m_1 = i_1
    ig = torch.exp(i - m)
    C = fg[..., None, None] * C0 + ig[..., None, None] * (k[..., :, None] * v[..., None, :])
    n = fg[..., None] * n0 + ig[..., None] * k
    qs = q / math.sqrt(q.shape[-1])
    num = torch.einsum("bhkv,bhk->bhv", C, qs)
    nq = (n * qs).sum(-1)
    h = num / _denominator(nq, m, eps, normalizer_grad)[..., None]
    return h, MLSTMState(C, n, m)


def _start_state(q, v, initial_state, acc) -> MLSTMState:
    B, H, _, K = q.shape
    if initial_state is None:
        initial_state = MLSTMState.zeros(B, H, K, v.shape[-1], q.device)
    initial_state.validate(B, H, K, v.shape[-1])
    return MLSTMState(*(x.to(acc) for x in initial_state))


def mlstm_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    *,
    initial_state: MLSTMState | None = None,
    return_last_state: bool = False,
    normalizer_grad: str = "exact",
    eps: float = EPS,
):
    """mLSTM by a Python loop over time (O(T) steps, for tests and as the readable definition).

    Args:
        q, k: (B, H, T, K). v: (B, H, T, V). i, f: (B, H, T) gate pre-activations.
        initial_state: optional MLSTMState; the empty state if None.
        return_last_state: also return the state after step T.
        normalizer_grad: "exact" or "detached" (see ``xlstm_lab.kernels.mlstm``).

    Returns:
        h (B, H, T, V) in q's dtype, and the final MLSTMState (accumulation dtype) if asked.
    """
    acc = _acc_dtype(q, k, v, i, f)
    state = _start_state(q, v, initial_state, acc)
    hs = []
    for t in range(q.shape[2]):
        h, state = recurrent_step(
            q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state, eps=eps,
            normalizer_grad=normalizer_grad,
        )
        hs.append(h)
    h = torch.stack(hs, dim=2).to(q.dtype)
    return (h, state) if return_last_state else h


def mlstm_parallel(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    *,
    initial_state: MLSTMState | None = None,
    return_last_state: bool = False,
    normalizer_grad: str = "exact",
    eps: float = EPS,
):
    """mLSTM in the quadratic parallel form (T x T decay matrix; memory O(T^2) per head).

    Same arguments and returns as :func:`mlstm_recurrent`. The initial state enters as one extra "column"
    with log weight F_t + m_0.
    """
    acc = _acc_dtype(q, k, v, i, f)
    B, H, T, K = q.shape
    qa, ka, va, ia, fa = (x.to(acc) for x in (q, k, v, i, f))
    C0, n0, m0 = _start_state(q, v, initial_state, acc)
    Fc = torch.cumsum(F.logsigmoid(fa), dim=-1)  # (B, H, T)
    logD = Fc[..., :, None] - Fc[..., None, :] + ia[..., None, :]  # (B, H, T, T): row t, column s
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    logD = logD.masked_fill(~causal, float("-inf"))
    log0 = Fc + m0[..., None]  # (B, H, T): weight of the initial state
    m = torch.maximum(logD.amax(-1), log0).detach()
    D = torch.exp(logD - m[..., None])
    d0 = torch.exp(log0 - m)
    qs = qa / math.sqrt(K)
    P = (qs @ ka.transpose(-1, -2)) * D
    num = P @ va + d0[..., None] * torch.einsum("bhtk,bhkv->bhtv", qs, C0)
    nq = P.sum(-1) + d0 * torch.einsum("bhtk,bhk->bht", qs, n0)
    h = (num / _denominator(nq, m, eps, normalizer_grad)[..., None]).to(q.dtype)
    if not return_last_state:
        return h
    w = torch.exp(logD[..., -1, :] - m[..., -1:])  # weights of each step in the last state
    C = torch.einsum("bhs,bhsk,bhsv->bhkv", w, ka, va) + d0[..., -1, None, None] * C0
    n = torch.einsum("bhs,bhsk->bhk", w, ka) + d0[..., -1, None] * n0
    return h, MLSTMState(C, n, m[..., -1])
