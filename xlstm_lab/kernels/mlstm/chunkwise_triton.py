"""Triton kernels of the chunkwise mLSTM, forward and backward, and their launchers.

Algorithm: exactly ``chunkwise_torch.py`` (read that first); only the loop structure differs.

Every grid is 1-D (all programs on CUDA's axis 0, which allows 2^31 - 1 of them; axes 1 and 2 stop at
65,535, which B*H alone can exceed), with b*h the slowest index so the tiles of one head run together.
Forward, 2 launches:
  1. ``_states_kernel``   B*H x K/BK x V/BV programs: walks the NC chunks in order and writes the state before
     every chunk and after the last, C (B*H, NC+1, K, V), n (B*H, NC+1, K), m (B*H, NC+1), all fp32.
  2. ``_output_kernel``   B*H x NC x V/BV programs: one chunk per program; intra-chunk L x L part plus the
     inter-chunk part q^ C_c, normalised; also stores the per-step stabiliser m_t and the signed n_t.q^_t
     (B*H, T) fp32 for the backward.
Backward, 4 launches: ``_states_kernel`` again (states are recomputed, not saved: they would cost
4*K*V bytes per chunk and head), ``_dstates_kernel`` (the mirror recurrence for dC, dn backwards over chunks;
it also forms d(n.q^)_t for the exact convention), ``_grads_kernel`` (dq, dk, dv and the per-step gate terms
k.dk and q.dq - k.dk of one chunk) and ``_dgate_kernel`` (the reverse cumulative sum that gives df). A
gradient on the returned last state adds a few torch ops (its dC_T, dn_T and their d/dF_T); without one the
kernels compile the variant that skips that path (``HAS_DLAST``/``HAS_EXTRA`` false).

Design targets on an H100 with bf16 inputs, H=8, K=V=128, L=64 (not measured: written without a GPU; see
``benchmarks/bench_mlstm_gpu.py`` and the anchors in ``shared/anchor_data/gpu_h100/SOURCE.md``):
forward <= 0.6 ms and forward+backward <= 2 ms at B=4, T=8192 (parity with mlstm_kernels' xl_chunk), at most
2 launches forward and 4 backward with thin wrappers (the empty initial state is made inside the kernel).
The kernels walk chunks sequentially only in the two state recurrences, parallel over (b, h, K and V tiles).

Precision: gate math, states and accumulators are fp32; ``tl.dot`` runs in true fp32 for fp32 inputs and on
16-bit tensor cores for bf16/fp16 inputs. By default, operands that are computed rather than loaded
(decay-weighted scores, states, gradients) are split into a hi + lo pair of 16-bit values (``_mma``), because
rounding them to bf16 alone gave a forward error of 6.4e-3 at the anchor shape (B=1, H=8, T=2048, K=V=128;
the target is <= 3e-3); with the split it is 1.7e-3, which is the rounding of h itself to bf16 (measured in
the CPU interpreter, whose bf16 casts are emulated to round like a GPU's). ``split_operands=False`` turns the
split off (``heuristics.split_operands`` has the trade-off). T need not be a multiple of L: the last
chunk is masked (a masked step has forget gate 1 and input gate 0).
Pointers assume contiguous (B*H, T, ...) layouts; offsets of a (b, h) are int64 so large T*K stays safe.
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl

from . import heuristics
from .errors import MLSTMInputError

__all__ = ["mlstm_chunkwise_fwd", "mlstm_chunkwise_bwd", "set_nan_fill"]

if os.environ.get("TRITON_INTERPRET") == "1" and type(tl.standard.cumsum).__name__ != "InterpretedFunction":
    raise RuntimeError(
        "TRITON_INTERPRET=1 was set after triton had been imported (by this process, e.g. through "
        "torch._dynamo), so triton's own library functions were not built for the CPU interpreter. "
        "Set TRITON_INTERPRET=1 before anything imports triton (at the top of a conftest.py or in the shell)."
    )

_NAN_FILL = False


def set_nan_fill(on: bool) -> None:
    """Tests: fill every buffer the kernels allocate with NaN, so an unwritten element fails loudly."""
    global _NAN_FILL
    _NAN_FILL = bool(on)


def _upcast(dtype: torch.dtype) -> bool:
    return dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"


def _empty(*shape, dtype, device) -> torch.Tensor:
    x = torch.empty(*shape, dtype=dtype, device=device)
    return x.fill_(float("nan")) if _NAN_FILL else x


@triton.jit
def _logsigmoid(x):
    return tl.minimum(x, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _round_bf16(x):
    """x (fp32) rounded to the nearest bf16 (ties to even) and kept in fp32: what a GPU's cast does."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _lowp(x, DT: tl.constexpr, UPCAST: tl.constexpr):
    """x rounded to the input dtype DT.

    UPCAST (bf16 under TRITON_INTERPRET only): the Triton 3.7 CPU interpreter multiplies bf16 bit patterns
    as integers and truncates fp32 -> bf16 casts, so the interpreter rounds in fp32 as a GPU would instead.
    """
    if UPCAST:
        y = _round_bf16(x.to(tl.float32))
    else:
        y = x.to(DT)
    return y


@triton.jit
def _out(x, UPCAST: tl.constexpr):
    """A value about to be stored to an input-dtype tensor (rounded like a GPU under the interpreter)."""
    if UPCAST:
        x = _round_bf16(x)
    return x


@triton.jit
def _mma(a, b, acc, DT: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, SPLIT: tl.constexpr,
         WHICH: tl.constexpr):
    """acc + a @ b on tensor cores in the input dtype DT, fp32 accumulation.

    With SPLIT, the operands that are computed in fp32 (WHICH: 1 = a, 2 = b, 3 = both) are carried as a
    pair hi + lo of DT values (hi = round(x), lo = round(x - hi)), one extra dot each: ~16 mantissa bits
    instead of bf16's 8, for decay-weighted scores, states and gradients that are not inputs.
    """
    ah = _lowp(a, DT, UPCAST)
    bh = _lowp(b, DT, UPCAST)
    out = tl.dot(ah, bh, acc, input_precision=PREC)
    if SPLIT:
        if WHICH == 1 or WHICH == 3:
            out = tl.dot(_lowp(a.to(tl.float32) - ah.to(tl.float32), DT, UPCAST), bh, out, input_precision=PREC)
        if WHICH == 2 or WHICH == 3:
            out = tl.dot(ah, _lowp(b.to(tl.float32) - bh.to(tl.float32), DT, UPCAST), out, input_precision=PREC)
    return out


@triton.jit
def _chunk_gates(I, Fg, base, c, T, L: tl.constexpr):
    """Steps t of chunk c, their validity, input gates (masked: -inf), inclusive log-forget cumsum b, total g.

    g is the last element of b, not a separate ``tl.sum``: the two round differently in fp32 (by ~1e-4 at
    L = 64, f = -20), and every weight exp(g - b_s + i_s - m) must see the same total the stabiliser does.
    """
    t = c * L + tl.arange(0, L)
    valid = t < T
    ig = tl.load(I + base + t, mask=valid, other=float("-inf")).to(tl.float32)
    fg = tl.load(Fg + base + t, mask=valid, other=0.0).to(tl.float32)
    lf = tl.where(valid, _logsigmoid(fg), 0.0)
    b = tl.cumsum(lf, 0)
    g = tl.sum(tl.where(tl.arange(0, L) == L - 1, b, 0.0), 0)  # exact: one non-zero term
    return t, valid, ig, b, g


@triton.jit
def _tile_ids(K, V, BK: tl.constexpr, BV: tl.constexpr):
    """(b*h, K block, V block) of this program on a 1-D grid (b*h slowest, so tiles of one head run together).

    Everything sits on grid axis 0, which CUDA allows up to 2^31 - 1 programs; axes 1 and 2 stop at 65,535.
    """
    pid = tl.program_id(0)
    nv = tl.cdiv(V, BV)
    nk = tl.cdiv(K, BK)
    return (pid // (nv * nk)).to(tl.int64), (pid // nv) % nk, pid % nv


@triton.jit
def _states_kernel(
    Kp, Vp, I, Fg, C0, N0, M0, Cs, Ns, Ms,
    T, K, V, NC,
    L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, SPLIT: tl.constexpr,
    HAS_INIT: tl.constexpr,
):
    DT: tl.constexpr = Kp.dtype.element_ty
    bh, pk, pv = _tile_ids(K, V, BK, BV)
    ok = pk * BK + tl.arange(0, BK)
    ov = pv * BV + tl.arange(0, BV)
    mk, mv = ok < K, ov < V
    mkv = mk[:, None] & mv[None, :]
    kv = ok[:, None] * V + ov[None, :]
    C = tl.load(C0 + bh * K * V + kv, mask=mkv & HAS_INIT, other=0.0)  # no initial state: C = 0, n = 0,
    n = tl.load(N0 + bh * K + ok, mask=mk & HAS_INIT, other=0.0)  # m = -inf, without a launch to make them
    m = tl.load(M0 + bh, mask=HAS_INIT, other=float("-inf"))
    lead = (pk == 0) & (pv == 0)
    tl.store(Cs + bh * (NC + 1) * K * V + kv, C, mask=mkv)
    tl.store(Ns + bh * (NC + 1) * K + ok, n, mask=mk & (pv == 0))
    tl.store(Ms + bh * (NC + 1), m, mask=lead)
    for c in range(NC):
        t, valid, ig, b, g = _chunk_gates(I, Fg, bh * T, c, T, L)
        u = g - b + ig  # log weight of step s in the state at the chunk end
        m_new = tl.maximum(g + m, tl.max(u, 0))
        decay = tl.exp(g + m - m_new)  # 0 on the empty state (m = -inf)
        w = tl.exp(u - m_new)
        kc = tl.load(Kp + bh * T * K + t[:, None] * K + ok[None, :], mask=valid[:, None] & mk[None, :], other=0.0)
        vc = tl.load(Vp + bh * T * V + t[:, None] * V + ov[None, :], mask=valid[:, None] & mv[None, :], other=0.0)
        kw = kc.to(tl.float32) * w[:, None]
        C = decay * C + _mma(tl.trans(kw), vc, None, DT, PREC, UPCAST, SPLIT, 1)
        n = decay * n + tl.sum(kw, 0)
        m = m_new
        tl.store(Cs + (bh * (NC + 1) + c + 1) * K * V + kv, C, mask=mkv)
        tl.store(Ns + (bh * (NC + 1) + c + 1) * K + ok, n, mask=mk & (pv == 0))
        tl.store(Ms + bh * (NC + 1) + c + 1, m, mask=lead)


@triton.jit
def _intra_weights(t, valid, ig, b):
    """Decay matrix A[j, s] = exp(b_j - b_s + i_s - m_j) on the causal, valid part; zero elsewhere."""
    causal = (t[:, None] >= t[None, :]) & valid[None, :]
    logA = tl.where(causal, b[:, None] - b[None, :] + ig[None, :], float("-inf"))
    return logA, causal


@triton.jit
def _output_kernel(
    Q, Kp, Vp, I, Fg, Cs, Ns, Ms, Hout, NQ, MT,
    T, K, V, NC, scale, eps,
    L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, SPLIT: tl.constexpr,
):
    DT: tl.constexpr = Q.dtype.element_ty
    pid = tl.program_id(0)  # 1-D grid over (b*h, chunk, V block), V blocks of one chunk adjacent
    nv = tl.cdiv(V, BV)
    pv = pid % nv
    c = (pid // nv) % NC
    bh = (pid // nv // NC).to(tl.int64)
    t, valid, ig, b, g = _chunk_gates(I, Fg, bh * T, c, T, L)
    m_prev = tl.load(Ms + bh * (NC + 1) + c)
    logA, causal = _intra_weights(t, valid, ig, b)
    m_state = b + m_prev
    m = tl.maximum(tl.max(logA, 1), m_state)  # the recurrence's m_t (finite: step j itself is in row j)
    A = tl.exp(logA - m[:, None])
    e = tl.exp(m_state - m)
    ov = pv * BV + tl.arange(0, BV)
    mv = ov < V
    S = tl.zeros((L, L), dtype=tl.float32)
    inter = tl.zeros((L, BV), dtype=tl.float32)
    nqi = tl.zeros((L,), dtype=tl.float32)
    for kb in range(0, K, BK):
        ok = kb + tl.arange(0, BK)
        mk = ok < K
        mtk = valid[:, None] & mk[None, :]
        qc = tl.load(Q + bh * T * K + t[:, None] * K + ok[None, :], mask=mtk, other=0.0)
        kc = tl.load(Kp + bh * T * K + t[:, None] * K + ok[None, :], mask=mtk, other=0.0)
        S = _mma(qc, tl.trans(kc), S, DT, PREC, UPCAST, SPLIT, 0)
        Cb = tl.load(Cs + (bh * (NC + 1) + c) * K * V + ok[:, None] * V + ov[None, :],
                     mask=mk[:, None] & mv[None, :], other=0.0)
        inter = _mma(qc, Cb, inter, DT, PREC, UPCAST, SPLIT, 2)
        nb = tl.load(Ns + (bh * (NC + 1) + c) * K + ok, mask=mk, other=0.0)
        nqi += tl.sum(qc.to(tl.float32) * nb[None, :], 1)
    P = S * scale * A
    vc = tl.load(Vp + bh * T * V + t[:, None] * V + ov[None, :], mask=valid[:, None] & mv[None, :], other=0.0)
    num = _mma(P, vc, None, DT, PREC, UPCAST, SPLIT, 1) + (e * scale)[:, None] * inter
    nq = tl.sum(P, 1) + e * scale * nqi
    den = tl.maximum(tl.abs(nq), tl.exp(-m)) + eps
    h = _out(num / den[:, None], UPCAST)
    tl.store(Hout + bh * T * V + t[:, None] * V + ov[None, :], h, mask=valid[:, None] & mv[None, :])
    tl.store(NQ + bh * T + t, nq, mask=valid & (pv == 0))
    tl.store(MT + bh * T + t, m, mask=valid & (pv == 0))


@triton.jit
def _dstates_kernel(
    Q, I, Fg, Ms, MT, NQ, Hout, dH, dCT, dNT, dCs, dNs, DN,
    T, K, V, NC, scale, eps,
    L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, SPLIT: tl.constexpr,
    EXACT: tl.constexpr, HAS_DLAST: tl.constexpr,
):
    DT: tl.constexpr = Q.dtype.element_ty
    bh, pk, pv = _tile_ids(K, V, BK, BV)
    ok = pk * BK + tl.arange(0, BK)
    ov = pv * BV + tl.arange(0, BV)
    mk, mv = ok < K, ov < V
    mkv = mk[:, None] & mv[None, :]
    kv = ok[:, None] * V + ov[None, :]
    if HAS_DLAST:
        dC = tl.load(dCT + bh * K * V + kv, mask=mkv, other=0.0).to(tl.float32)
        dn_state = tl.load(dNT + bh * K + ok, mask=mk, other=0.0).to(tl.float32)
    else:
        dC = tl.zeros((BK, BV), dtype=tl.float32)
        dn_state = tl.zeros((BK,), dtype=tl.float32)
    tl.store(dCs + (bh * (NC + 1) + NC) * K * V + kv, dC, mask=mkv)
    tl.store(dNs + (bh * (NC + 1) + NC) * K + ok, dn_state, mask=mk & (pv == 0))
    for cc in range(NC):
        c = NC - 1 - cc
        t, valid, ig, b, g = _chunk_gates(I, Fg, bh * T, c, T, L)
        m_prev = tl.load(Ms + bh * (NC + 1) + c)
        decay = tl.exp(g + m_prev - tl.load(Ms + bh * (NC + 1) + c + 1))
        mt = tl.load(MT + bh * T + t, mask=valid, other=0.0)
        nq = tl.load(NQ + bh * T + t, mask=valid, other=0.0)
        lower = tl.exp(-mt)
        den = tl.maximum(tl.abs(nq), lower) + eps
        e = tl.where(valid, tl.exp(b + m_prev - mt), 0.0) * scale  # weight of q^_j on the state C_c
        qc = tl.load(Q + bh * T * K + t[:, None] * K + ok[None, :], mask=valid[:, None] & mk[None, :], other=0.0)
        qe = qc.to(tl.float32) * e[:, None]
        dh = tl.load(dH + bh * T * V + t[:, None] * V + ov[None, :], mask=valid[:, None] & mv[None, :], other=0.0)
        dy = dh.to(tl.float32) / den[:, None]
        dC = decay * dC + _mma(tl.trans(qe), dy, None, DT, PREC, UPCAST, SPLIT, 3)
        tl.store(dCs + (bh * (NC + 1) + c) * K * V + kv, dC, mask=mkv)
        if pv == 0:  # the normaliser channel needs dh . h over all of V
            dn = tl.zeros((L,), dtype=tl.float32)
            if EXACT:
                for vb in range(0, V, BV):
                    ovb = vb + tl.arange(0, BV)
                    mtv = valid[:, None] & (ovb < V)[None, :]
                    dhb = tl.load(dH + bh * T * V + t[:, None] * V + ovb[None, :], mask=mtv, other=0.0)
                    hb = tl.load(Hout + bh * T * V + t[:, None] * V + ovb[None, :], mask=mtv, other=0.0)
                    dn += tl.sum(dhb.to(tl.float32) * hb.to(tl.float32), 1)
                active = valid & (tl.abs(nq) > lower)
                dn = tl.where(active, tl.where(nq > 0, -dn, dn) / den, 0.0)
            tl.store(DN + bh * T + t, dn, mask=valid & (pk == 0))
            dn_state = decay * dn_state + tl.sum(qe * dn[:, None], 0)
            tl.store(dNs + (bh * (NC + 1) + c) * K + ok, dn_state, mask=mk)


@triton.jit
def _grads_kernel(
    Q, Kp, Vp, I, Fg, Cs, Ns, Ms, MT, NQ, dH, DN, dCs, dNs, dQ, dK, dV, DI, DFr,
    T, K, V, NC, scale, eps,
    L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, SPLIT: tl.constexpr,
    UPCAST_GATE: tl.constexpr,
):
    DT: tl.constexpr = Q.dtype.element_ty
    pid = tl.program_id(0)  # 1-D grid over (b*h, chunk)
    c = pid % NC
    bh = (pid // NC).to(tl.int64)
    t, valid, ig, b, g = _chunk_gates(I, Fg, bh * T, c, T, L)
    m_prev = tl.load(Ms + bh * (NC + 1) + c)
    m_next = tl.load(Ms + bh * (NC + 1) + c + 1)
    mt = tl.load(MT + bh * T + t, mask=valid, other=0.0)
    nq = tl.load(NQ + bh * T + t, mask=valid, other=0.0)
    dn = tl.load(DN + bh * T + t, mask=valid, other=0.0)
    den = tl.maximum(tl.abs(nq), tl.exp(-mt)) + eps
    e = tl.where(valid, tl.exp(b + m_prev - mt), 0.0)
    w = tl.exp(g - b + ig - m_next)  # weight of key s in the next state; 0 where masked (i = -inf)
    logA, causal = _intra_weights(t, valid, ig, b)
    A = tl.where(causal & valid[:, None], tl.exp(logA - mt[:, None]), 0.0)
    base_k = bh * T * K + t[:, None] * K
    base_v = bh * T * V + t[:, None] * V
    S = tl.zeros((L, L), dtype=tl.float32)
    dP = tl.zeros((L, L), dtype=tl.float32)
    for kb in range(0, K, BK):
        ok = kb + tl.arange(0, BK)
        mtk = valid[:, None] & (ok < K)[None, :]
        qc = tl.load(Q + base_k + ok[None, :], mask=mtk, other=0.0)
        kc = tl.load(Kp + base_k + ok[None, :], mask=mtk, other=0.0)
        S = _mma(qc, tl.trans(kc), S, DT, PREC, UPCAST, SPLIT, 0)
    for vb in range(0, V, BV):
        ov = vb + tl.arange(0, BV)
        mtv = valid[:, None] & (ov < V)[None, :]
        dh = tl.load(dH + base_v + ov[None, :], mask=mtv, other=0.0)
        vc = tl.load(Vp + base_v + ov[None, :], mask=mtv, other=0.0)
        dy = dh.to(tl.float32) / den[:, None]
        dP = _mma(dy, tl.trans(vc), dP, DT, PREC, UPCAST, SPLIT, 1)
    P = S * scale * A
    dS = (dP + dn[:, None]) * A  # gradient of the scores q^_j . k_s
    for vb in range(0, V, BV):  # dv = P^T dy + w * (k dC_next)
        ov = vb + tl.arange(0, BV)
        mv = ov < V
        mtv = valid[:, None] & mv[None, :]
        dh = tl.load(dH + base_v + ov[None, :], mask=mtv, other=0.0)
        dy = dh.to(tl.float32) / den[:, None]
        acc = tl.zeros((L, BV), dtype=tl.float32)
        for kb in range(0, K, BK):
            ok = kb + tl.arange(0, BK)
            mk = ok < K
            kc = tl.load(Kp + base_k + ok[None, :], mask=valid[:, None] & mk[None, :], other=0.0)
            dCn = tl.load(dCs + (bh * (NC + 1) + c + 1) * K * V + ok[:, None] * V + ov[None, :],
                          mask=mk[:, None] & mv[None, :], other=0.0)
            acc = _mma(kc, dCn, acc, DT, PREC, UPCAST, SPLIT, 2)
        dv = _mma(tl.trans(P), dy, None, DT, PREC, UPCAST, SPLIT, 3) + w[:, None] * acc
        tl.store(dV + base_v + ov[None, :], _out(dv, UPCAST), mask=mtv)
    di = tl.zeros((L,), dtype=tl.float32)
    qdq = tl.zeros((L,), dtype=tl.float32)
    for kb in range(0, K, BK):  # dq, dk and the per-step gate terms
        ok = kb + tl.arange(0, BK)
        mk = ok < K
        mtk = valid[:, None] & mk[None, :]
        qc = tl.load(Q + base_k + ok[None, :], mask=mtk, other=0.0)
        kc = tl.load(Kp + base_k + ok[None, :], mask=mtk, other=0.0)
        sq = tl.zeros((L, BK), dtype=tl.float32)
        sk = tl.zeros((L, BK), dtype=tl.float32)
        for vb in range(0, V, BV):
            ov = vb + tl.arange(0, BV)
            mv = ov < V
            mtv = valid[:, None] & mv[None, :]
            dh = tl.load(dH + base_v + ov[None, :], mask=mtv, other=0.0)
            vc = tl.load(Vp + base_v + ov[None, :], mask=mtv, other=0.0)
            dy = dh.to(tl.float32) / den[:, None]
            kvo = ok[:, None] * V + ov[None, :]
            mkv = mk[:, None] & mv[None, :]
            Cp = tl.load(Cs + (bh * (NC + 1) + c) * K * V + kvo, mask=mkv, other=0.0)
            dCn = tl.load(dCs + (bh * (NC + 1) + c + 1) * K * V + kvo, mask=mkv, other=0.0)
            sq = _mma(dy, tl.trans(Cp), sq, DT, PREC, UPCAST, SPLIT, 3)
            sk = _mma(vc, tl.trans(dCn), sk, DT, PREC, UPCAST, SPLIT, 2)
        n_prev = tl.load(Ns + (bh * (NC + 1) + c) * K + ok, mask=mk, other=0.0)
        dn_next = tl.load(dNs + (bh * (NC + 1) + c + 1) * K + ok, mask=mk, other=0.0)
        dq = _mma(dS, kc, None, DT, PREC, UPCAST, SPLIT, 1) + e[:, None] * (sq + dn[:, None] * n_prev[None, :])
        dq = dq * scale
        dk = _mma(tl.trans(dS), qc, None, DT, PREC, UPCAST, SPLIT, 1) * scale + w[:, None] * (sk + dn_next[None, :])
        tl.store(dQ + base_k + ok[None, :], _out(dq, UPCAST), mask=mtk)
        tl.store(dK + base_k + ok[None, :], _out(dk, UPCAST), mask=mtk)
        di += tl.sum(kc.to(tl.float32) * dk, 1)
        qdq += tl.sum(qc.to(tl.float32) * dq, 1)
    tl.store(DI + bh * T + t, _out(di, UPCAST_GATE), mask=valid)
    tl.store(DFr + bh * T + t, qdq - di, mask=valid)


@triton.jit
def _dgate_kernel(DFr, Fg, DF, Extra, T, NC, L: tl.constexpr, HAS_EXTRA: tl.constexpr, UPCAST: tl.constexpr):
    """df_t = sigmoid(-f_t) * sum_{r >= t} dF_r, one program per (b, h), chunks walked backwards."""
    bh = tl.program_id(0).to(tl.int64)
    carry = tl.load(Extra + bh, mask=HAS_EXTRA, other=0.0)  # d/dF_T of a returned last state
    for cc in range(NC):
        t = (NC - 1 - cc) * L + tl.arange(0, L)
        valid = t < T
        x = tl.load(DFr + bh * T + t, mask=valid, other=0.0)
        fg = tl.load(Fg + bh * T + t, mask=valid, other=0.0).to(tl.float32)
        acc = tl.cumsum(x, 0, reverse=True) + carry
        carry = tl.sum(tl.where(tl.arange(0, L) == 0, acc, 0.0), 0)  # = acc[0], rounded as acc is
        tl.store(DF + bh * T + t, _out(acc / (1.0 + tl.exp(fg)), UPCAST), mask=valid)


def _mma_flags(dtype: torch.dtype, split: bool | None) -> dict:
    """Matmul settings shared by the chunk kernels (see ``_mma`` and ``heuristics``)."""
    return {"PREC": heuristics.dot_precision(dtype), "UPCAST": _upcast(dtype),
            "SPLIT": heuristics.split_operands(dtype, split)}


_MAX_PROGRAMS = 2**31 - 1  # CUDA's limit on grid axis 0, where every launcher puts all its programs


def _grid(*factors: int) -> tuple[int]:
    n = math.prod(factors)
    if n > _MAX_PROGRAMS:
        raise MLSTMInputError(f"{n} Triton programs exceed CUDA's grid limit of 2^31 - 1; split the batch (B*H) "
                              "into smaller calls")
    return (n,)


def _tiles(K: int, V: int, cfg: dict) -> tuple[int, int]:
    return triton.cdiv(K, cfg["BK"]), triton.cdiv(V, cfg["BV"])


def _launch_states(k, v, i, f, C0, n0, m0, L, cfg, flags):
    """C0, n0, m0 may be None (the empty state)."""
    BH, T, K = k.shape
    V = v.shape[-1]
    NC = triton.cdiv(T, L)
    Cs = _empty(BH, NC + 1, K, V, dtype=torch.float32, device=k.device)
    Ns = _empty(BH, NC + 1, K, dtype=torch.float32, device=k.device)
    Ms = _empty(BH, NC + 1, dtype=torch.float32, device=k.device)
    has_init = C0 is not None
    if not has_init:
        C0 = n0 = m0 = Ms  # never read (masked loads)
    _states_kernel[_grid(BH, *_tiles(K, V, cfg))](k, v, i, f, C0, n0, m0, Cs, Ns, Ms, T, K, V, NC, L=L,
                                                   HAS_INIT=has_init, **flags, **cfg)
    return Cs, Ns, Ms


def mlstm_chunkwise_fwd(q, k, v, i, f, C0, n0, m0, L: int, eps: float, split: bool | None = None):
    """Forward on contiguous (B*H, T, .) inputs and an fp32 initial state (B*H, K, V), (B*H, K), (B*H,)
    or C0 = n0 = m0 = None for the empty state. ``split``: see ``heuristics.split_operands``.

    Returns h (B*H, T, V) in q's dtype, n.q^ and m per step (B*H, T) fp32, and the chunk states
    (B*H, NC+1, ...) whose last entry is the final state.
    """
    BH, T, K = q.shape
    V = v.shape[-1]
    cfg, flags = heuristics.chunk_config(K, V, L), _mma_flags(q.dtype, split)
    Cs, Ns, Ms = _launch_states(k, v, i, f, C0, n0, m0, L, cfg["states"], flags)
    h = _empty(BH, T, V, dtype=q.dtype, device=q.device)
    nq = _empty(BH, T, dtype=torch.float32, device=q.device)
    mt = _empty(BH, T, dtype=torch.float32, device=q.device)
    oc, NC = cfg["output"], Cs.shape[1] - 1
    _output_kernel[_grid(BH, NC, triton.cdiv(V, oc["BV"]))](q, k, v, i, f, Cs, Ns, Ms, h, nq, mt, T, K, V, NC,
                                                            1.0 / math.sqrt(K), eps, L=L, **flags, **oc)
    return h, nq, mt, (Cs, Ns, Ms)


def mlstm_chunkwise_bwd(q, k, v, i, f, C0, n0, m0, h, nq, mt, dh, dC_T, dn_T, L: int, eps: float, exact: bool,
                        split: bool | None = None):
    """Backward: (dq, dk, dv, di, df, dC0, dn0) for the layouts of :func:`mlstm_chunkwise_fwd`.

    ``dC_T``, ``dn_T`` are the gradients of a returned last state, or None: with both None (the usual case)
    the kernels skip the last-state path and the backward is exactly 4 launches. The stabiliser m is a
    constant. Without an initial state (C0 = None), dC0 and dn0 are None.
    """
    BH, T, K = q.shape
    V = v.shape[-1]
    NC = triton.cdiv(T, L)
    cfg, flags = heuristics.chunk_config(K, V, L), _mma_flags(q.dtype, split)
    scale, dev = 1.0 / math.sqrt(K), q.device
    Cs, Ns, Ms = _launch_states(k, v, i, f, C0, n0, m0, L, cfg["states"], flags)
    has_dlast = dC_T is not None or dn_T is not None
    if has_dlast:
        dC_T = torch.zeros(BH, K, V, device=dev) if dC_T is None else dC_T.float().contiguous()
        dn_T = torch.zeros(BH, K, device=dev) if dn_T is None else dn_T.float().contiguous()
    dCs = _empty(BH, NC + 1, K, V, dtype=torch.float32, device=dev)
    dNs = _empty(BH, NC + 1, K, dtype=torch.float32, device=dev)
    dn = _empty(BH, T, dtype=torch.float32, device=dev)
    dc = cfg["dstates"]
    _dstates_kernel[_grid(BH, *_tiles(K, V, dc))](q, i, f, Ms, mt, nq, h, dh, dC_T if has_dlast else Cs,
                                                   dn_T if has_dlast else Ns, dCs, dNs, dn, T, K, V, NC, scale,
                                                   eps, L=L, EXACT=exact, HAS_DLAST=has_dlast, **flags, **dc)
    dq, dk = _empty(BH, T, K, dtype=q.dtype, device=dev), _empty(BH, T, K, dtype=k.dtype, device=dev)
    dv = _empty(BH, T, V, dtype=v.dtype, device=dev)
    di = _empty(BH, T, dtype=i.dtype, device=dev)
    dFr = _empty(BH, T, dtype=torch.float32, device=dev)
    _grads_kernel[_grid(BH, NC)](q, k, v, i, f, Cs, Ns, Ms, mt, nq, dh, dn, dCs, dNs, dq, dk, dv, di, dFr,
                                 T, K, V, NC, scale, eps, L=L, UPCAST_GATE=_upcast(i.dtype), **flags, **cfg["grads"])
    extra = None
    if has_dlast:  # F_T also scales the returned last state: d/dF_T = <C_T, dC_T> + <n_T, dn_T>
        extra = (Cs[:, -1] * dC_T).sum((-1, -2)) + (Ns[:, -1] * dn_T).sum(-1)
    df = _empty(BH, T, dtype=f.dtype, device=dev)
    _dgate_kernel[_grid(BH)](dFr, f, df, extra if has_dlast else dFr, T, NC, L=L, HAS_EXTRA=has_dlast,
                             UPCAST=_upcast(f.dtype), **cfg["dgate"])
    if C0 is None:
        return dq, dk, dv, di, df, None, None
    return dq, dk, dv, di, df, dCs[:, 0], dNs[:, 0]
