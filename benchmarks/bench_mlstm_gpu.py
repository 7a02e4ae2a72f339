"""GPU benchmark: xlstm-lab's Triton mLSTM against NX-AI's xl_chunk kernel and cuDNN attention.

Run on a CUDA machine (the H100 anchors it is compared with are in shared/anchor_data/gpu_h100/SOURCE.md):

    python benchmarks/bench_mlstm_gpu.py                      # everything, ~15-20 min on an H100
    python benchmarks/bench_mlstm_gpu.py --quick              # two training shapes, two decode lengths, a short sweep
    python benchmarks/bench_mlstm_gpu.py --sections check     # correctness only
    python benchmarks/bench_mlstm_gpu.py --sections sweep     # correctness, then the launch-parameter sweep
    python benchmarks/bench_mlstm_gpu.py --plan               # print the shapes and sweep configs; needs no GPU

Sections, in order:
  check   (always runs) our Triton forward, both gradient conventions and the decode step against float64
          references on small shapes. A failure exits with status 2 before anything is timed. Then the anchor's A0 shape
          (B=1, H=8, T=2048, K=V=128, bf16): relative Frobenius errors of ours and, if installed, of
          mlstm_kernels' xl_chunk (reported, compared with SOURCE.md's targets, not fatal).
          The A0 rows include ours without the hi/lo operand split (the accuracy side of that trade-off).
  train   forward and forward+backward, bf16, H=8, K=128, V in {128, 256}, B x T in {1x2048, 8x2048,
          1x8192, 4x8192, 1x16384, 8x16384}: ours (chunk 64) with and without the hi/lo operand split
          (``split_operands``; the split costs ~1.7x the forward's and ~2.3x the backward's tensor-core
          work), mlstm_kernels "chunkwise--triton_xl_chunk" (chunk 128; skipped with a note when not
          installed or when it does not compile), and causal scaled_dot_product_attention on the cuDNN
          backend (V = 128 only).
  sweep   launch parameters of our kernels (``heuristics.overrides``): each config of ``sweep_configs`` is
          first checked against float64 (a config outside the bf16 gate is reported and not timed), then
          timed fwd and fwd+bwd at B=4, T=8192, V=128 (and B=1, T=8192, V=256 without --quick); among them
          one V block in the output kernel (no recomputed QK^T) and one K block in the gradient kernel (dh and
          v loaded once), the two structural costs the kernels are suspected of. Then the decode step's
          blocks at B in {1, 16}. The report lists every compiled variant with registers and spills.
  decode  one token: our fused Triton step, our torch step and mlstm_kernels' Triton step (state: flat in
          T) against SDPA decode over a bf16 KV cache (cuDNN, efficient) for T in 2k..64k; shapes H8 d128
          and 7B-like (mLSTM 8 heads, K 256, V 512 against attention 32 heads x 128); B = 1 and 16.
Timing: "eager" is triton.testing.do_bench (median; L2 flushed; includes host overhead); "graph" captures
n calls in one CUDA graph, times replays with CUDA events and reports the median per call (GPU time).
Decode graphs rotate over buffer sets of >= 256 MB in total, so state and KV cache come from HBM.
FLOP models (matmuls only): attention fwd = 2 B H T^2 d (causal), fwd+bwd = 3.5 x fwd; chunkwise mLSTM
fwd = B H T (L (K + V) + 4 K V) with the kernel's own chunk L, fwd+bwd = 3 x fwd (recomputation not
counted; our bf16 kernels execute extra split-operand matmuls that are not counted either). Decode
bandwidth: bytes that must move per step / time, against 3.0 TB/s (the H100's measured copy rate).
Results: benchmarks/results/mlstm_gpu_<date>_<device>.{json,md} with device, versions, date, commit, shapes.
``--smoke-cpu`` runs every section at tiny shapes through the Triton interpreter (no GPU; numbers meaningless,
nothing written) to check the script itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TRAIN_BT = [(1, 2048), (8, 2048), (1, 8192), (4, 8192), (1, 16384), (8, 16384)]
QUICK_BT = [(1, 2048), (4, 8192)]
DECODE_T = [2048, 8192, 16384, 32768, 65536]
QUICK_T = [2048, 16384]
# name: (mLSTM heads, K, V, attention heads, attention head dim)
DECODE_CFG = {"H8 d128": (8, 128, 128, 8, 128), "7B-like": (8, 256, 512, 32, 128)}
H, K_TRAIN, L_OURS, L_XL = 8, 128, 64, 128
SWEEP_BTV = [(4, 8192, 128), (1, 8192, 256)]  # (B, T, V) of the launch-parameter sweep; --quick: the first
CHECK_SHAPE = (2, 3, 333, 64, 96)  # B, H, T, K, V of the correctness gate (T = 333: a ragged last chunk)
COPY_TB_S = 3.0
# correctness gate: relative Frobenius error vs float64 (same bounds as tests/kernels/mlstm_testlib.py)
GATE = {"float32": (1e-4, 2e-4), "bfloat16": (6e-3, 3e-2)}
# SOURCE.md "What a competitive kernel must reach" 1: fwd <= 3e-3; detached grads <= 5e-3, df <= 5e-2
A0_TARGET = {"h": 3e-3, "dq": 5e-3, "dk": 5e-3, "dv": 5e-3, "di": 5e-3, "df": 5e-2}
REPO = Path(__file__).resolve().parents[1]
DEV = "cuda"
SMOKE = False  # --smoke-cpu: tiny shapes on the CPU through the Triton interpreter, wall-clock "timers"


def _smoke_setup():
    """Exercise every code path of this script without a GPU (numbers meaningless; nothing is written)."""
    global DEV, SMOKE, H, K_TRAIN, L_OURS, DECODE_CFG, A0_SHAPE, SWEEP_BTV, CHECK_SHAPE
    os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton
    DEV, SMOKE, H, K_TRAIN, L_OURS = "cpu", True, 2, 16, 16
    DECODE_CFG = {"tiny": (2, 16, 32, 2, 16)}
    A0_SHAPE = (1, 2, 48, 16, 16)
    SWEEP_BTV = [(1, 40, 32)]
    CHECK_SHAPE = (1, 2, 37, 16, 24)


A0_SHAPE = (1, 8, 2048, 128, 128)  # B, H, T, K, V of SOURCE.md section A0


# ----------------------------------------------------------------------------- small helpers
def relerr(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float("inf") if not bool(a.isfinite().all()) else float((a - b).norm() / b.norm().clamp_min(1e-30))


def _errors(h, h_ref, grads, grads_ref) -> dict:
    names = ("dq", "dk", "dv", "di", "df")
    return {"h": relerr(h, h_ref), **{n: relerr(a, b) for n, a, b in zip(names, grads, grads_ref, strict=True)}}


def inputs(B, Hh, T, K, V, dtype, device, seed=0, req=False):
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, device=device, dtype=torch.float32)  # noqa: E731
    xs = [rnd(B, Hh, T, K), rnd(B, Hh, T, K), rnd(B, Hh, T, V), rnd(B, Hh, T), rnd(B, Hh, T) + 3.0]
    return [x.to(dtype).requires_grad_(req) for x in xs]  # f = randn + 3: forget-gate bias of xLSTM init


def flops_attn(B, T, d):
    return 2.0 * B * H * T * T * d


def flops_chunk(B, T, K, V, L):
    return 1.0 * B * H * T * (L * (K + V) + 4.0 * K * V)


def eager_ms(fn) -> float:
    if SMOKE:
        t0 = time.perf_counter()
        fn()
        return 1e3 * (time.perf_counter() - t0)
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def graph_ms(calls, reps=20) -> float:
    """Median GPU ms per call of ``calls`` captured back to back in one CUDA graph."""
    import torch

    if SMOKE:
        return statistics.median(eager_ms(c) for c in calls)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture: compile, allocate, autotune
        for c in calls:
            c()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for c in calls:
            c()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        graph.replay()
        e1.record()
        e1.synchronize()
        times.append(e0.elapsed_time(e1) / len(calls))
    del graph
    return statistics.median(times)


# ----------------------------------------------------------------------------- implementations
def ours(normalizer_grad, split=None):
    """Our Triton mLSTM; ``split``: the hi/lo operand split of 16-bit matmuls (None: the default, on)."""
    from xlstm_lab.kernels import mlstm

    return lambda q, k, v, i, f: mlstm(q, k, v, i, f, backend="triton", chunk_size=L_OURS,
                                       normalizer_grad=normalizer_grad, split_operands=split)


def sweep_configs(K, V) -> dict:
    """Launch-parameter variants of our chunk kernels (``heuristics.overrides`` keyword arguments)."""
    from xlstm_lab.kernels.mlstm.heuristics import block_at_least_16 as b

    chunk = ("output", "dstates", "grads")
    return {
        "default": {},
        "output: one V block (QK^T once)": {"output": {"BV": b(V, 256)}},
        "output: BK 64": {"output": {"BK": b(K, 64)}},
        "grads: BK 32": {"grads": {"BK": b(K, 32)}},
        "grads: one K block (dh, v once)": {"grads": {"BK": b(K, 256), "BV": 16}},
        "grads: BV 64": {"grads": {"BV": b(V, 64)}},
        "states, dstates: BV 64": {"states": {"BV": b(V, 64)}, "dstates": {"BV": b(V, 64)}},
        "4 warps": {name: {"num_warps": 4} for name in chunk},
        "3 stages": {name: {"num_stages": 3} for name in ("states", *chunk)},
        "no hi/lo split": None,  # split_operands=False with the default blocks
    }


def step_sweep_configs(K, V) -> dict:
    from xlstm_lab.kernels.mlstm.heuristics import block_at_least_16 as b

    return {"default": {}, "BV 16": {"step": {"BV": 16}}, "BV 32": {"step": {"BV": b(V, 32)}},
            "BV 64": {"step": {"BV": b(V, 64)}}, "BK 32": {"step": {"BK": b(K, 32)}}}


def xl_chunk():
    import torch
    from mlstm_kernels.torch import get_mlstm_kernel

    kern = get_mlstm_kernel("chunkwise--triton_xl_chunk")
    return lambda q, k, v, i, f: kern(q, k, v, i, f, chunk_size=L_XL, autocast_kernel_dtype=torch.bfloat16)


def sdpa_cudnn(q, k, v):
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def probe(which: str) -> int:
    """Run one implementation once on a small shape in this (child) process; a compiler abort kills only it."""
    import torch

    q, k, v, i, f = inputs(1, 2, 256, 128, 128, torch.bfloat16, DEV, req=True)
    fn = ours("exact") if which == "ours" else xl_chunk()
    h = fn(q, k, v, i, f)
    torch.autograd.grad(h, (q, k, v, i, f), torch.ones_like(h))
    torch.cuda.synchronize()
    return 0


def available(which: str, log) -> bool:
    """Probe in a subprocess: Triton builds have aborted (SIGABRT in LLVM) compiling mlstm_kernels' kernels."""
    out = subprocess.run([sys.executable, __file__, "--probe", which], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        log(f"probe {which}: failed (rc {out.returncode}): {(out.stderr or out.stdout)[-600:]}")
    return out.returncode == 0


# ----------------------------------------------------------------------------- sections
def accuracy(fn, conv, dtype, shape, seed=1) -> dict:
    """Relative errors of h and dq, dk, dv, di, df of ``fn`` against float64 autograd of the reference."""
    import torch

    from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

    xs = inputs(*shape, dtype, DEV, seed=seed, req=True)
    ref = [x.detach().double().requires_grad_() for x in xs]
    h = fn(*xs)
    h_ref = mlstm_parallel(*ref, normalizer_grad=conv)
    dh = torch.randn(h_ref.shape, generator=torch.Generator(device=DEV).manual_seed(seed + 7), device=DEV,
                     dtype=torch.float64)
    g = torch.autograd.grad(h, xs, dh.to(h.dtype))
    g_ref = torch.autograd.grad(h_ref, ref, dh)
    return _errors(h, h_ref, g, g_ref)


def within_gate(errs, dtype, factor=1.0) -> bool:
    tv, tg = GATE[str(dtype).split(".")[1]]
    return errs["h"] < factor * tv and all(e < factor * tg for n, e in errs.items() if n != "h")


def _shape_txt(shape):
    return "B{} H{} T{} K{} V{}".format(*shape)


def section_check(rows, log, normalizer_grad, have_xl) -> bool:
    """Correctness gate (returns False on failure) and the A0 comparison."""
    import torch

    from xlstm_lab.kernels import MLSTMState, mlstm_step
    from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

    ok = True
    for dtype in (torch.float32, torch.bfloat16):
        for conv in ("exact", "detached"):
            errs = accuracy(ours(conv), conv, dtype, CHECK_SHAPE)
            passed = within_gate(errs, dtype)
            ok &= passed
            rows.append(dict(section="check", what="ours vs float64 reference", dtype=str(dtype), normalizer_grad=conv,
                             shape=_shape_txt(CHECK_SHAPE), passed=passed, **errs))
            log(f"check ours {dtype} {conv}: {'ok' if passed else 'WRONG'} {errs}")
    for conv in ("exact", "detached"):  # reported; the sweep re-checks it before timing it
        errs = accuracy(ours(conv, split=False), conv, torch.bfloat16, CHECK_SHAPE)
        rows.append(dict(section="check", what="ours, no hi/lo split, vs float64 (not gating)", dtype="torch.bfloat16",
                         normalizer_grad=conv, shape=_shape_txt(CHECK_SHAPE),
                         passed=within_gate(errs, torch.bfloat16), **errs))
        log(f"check ours bf16 {conv}, no hi/lo split: {errs}")
    for Kd, Vd in ((128, 128), (256, 512)):
        q, k, v, i, f = (x[:, :, 0] for x in inputs(4, 8, 1, Kd, Vd, torch.bfloat16, DEV, seed=2))
        st = MLSTMState(torch.randn(4, 8, Kd, Vd, device=DEV), torch.randn(4, 8, Kd, device=DEV).abs(),
                        torch.randn(4, 8, device=DEV))
        h_t, s_t = mlstm_step(q, k, v, i, f, st, backend="triton")
        h_r, s_r = mlstm_step(q.double(), k.double(), v.double(), i.double(), f.double(),
                              MLSTMState(*(x.double() for x in st)), backend="torch")
        errs = {"h": relerr(h_t, h_r), "C": relerr(s_t.C, s_r.C), "n": relerr(s_t.n, s_r.n), "m": relerr(s_t.m, s_r.m)}
        passed = errs["h"] < GATE["bfloat16"][0] and max(errs["C"], errs["n"], errs["m"]) < GATE["float32"][0]
        ok &= passed
        rows.append(dict(section="check", what="triton step vs float64 torch step", dtype="torch.bfloat16",
                         shape=f"B4 H8 K{Kd} V{Vd}", passed=passed, **errs))
        log(f"check step K{Kd} V{Vd}: {'ok' if passed else 'WRONG'} {errs}")
    if not ok:
        return False
    # A0: the anchor's correctness shape; reported against SOURCE.md's targets
    xs = inputs(*A0_SHAPE, torch.bfloat16, DEV, seed=0, req=True)
    ref = [x.detach().double().requires_grad_() for x in xs]
    impls = {"ours": ours("detached"), "ours (exact grads)": ours("exact"),
             "ours, no hi/lo split": ours("detached", split=False)}
    if have_xl:
        impls["mlstm_kernels xl_chunk"] = xl_chunk()
    for name, fn in impls.items():
        conv = "exact" if "exact" in name else "detached"
        h = fn(*xs)
        h_ref = mlstm_parallel(*ref, normalizer_grad=conv)
        dh = torch.randn(h_ref.shape, generator=torch.Generator(device=DEV).manual_seed(3), device=DEV,
                         dtype=torch.float64)  # one dh for every implementation
        g = torch.autograd.grad(h, xs, dh.to(h.dtype))
        g_ref = torch.autograd.grad(h_ref, ref, dh)
        errs = _errors(h, h_ref, g, g_ref)
        del h, h_ref, g, g_ref
        meets = all(errs[n] <= A0_TARGET[n] for n in A0_TARGET) if conv == "detached" else errs["h"] <= A0_TARGET["h"]
        rows.append(dict(section="A0", impl=name, normalizer_grad_reference=conv, shape=f"BHTKV {A0_SHAPE} bf16",
                         meets_SOURCE_target=meets, **errs))
        log(f"A0 {name} (vs {conv} reference): {errs} target met: {meets}")
    return True


def time_training(rows, log, name, fn, make, B, T, Kd, Vd, flops_fwd, fb_factor, L, **extra):
    import torch

    row = {**dict(section="train", impl=name, B=B, H=H, T=T, K=Kd, V=Vd, L=L, dtype="bfloat16"), **extra}
    try:
        xs = make()
        with torch.no_grad():
            row["fwd_eager_ms"] = eager_ms(lambda: fn(*xs))
            n = int(max(1, min(40, 25.0 / max(row["fwd_eager_ms"], 1e-3))))
            row["fwd_graph_ms"] = graph_ms([lambda: fn(*xs)] * n)
        req = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in xs]
        dout = torch.randn_like(fn(*req))
        fb = lambda: torch.autograd.grad(fn(*req), req, dout)  # noqa: E731
        row["fb_eager_ms"] = eager_ms(fb)
        n = int(max(1, min(40, 25.0 / max(row["fb_eager_ms"], 1e-3))))
        row["fb_graph_ms"] = graph_ms([fb] * n)
        for p, fl in (("fwd", flops_fwd), ("fb", fb_factor * flops_fwd)):
            row[f"{p}_Mtok_s"] = B * T / row[f"{p}_graph_ms"] / 1e3
            row[f"{p}_TFLOP_s"] = fl / row[f"{p}_graph_ms"] / 1e9
    except Exception as e:  # noqa: BLE001 - an OOM or a backend refusal is a result, not a crash
        row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    rows.append(row)
    log(f"{row['section']} {name} B{B} T{T} V{Vd}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()
                                                    if k.endswith(("_ms", "Mtok_s")) and isinstance(v, float))
        + (f" ERROR {row['error']}" if "error" in row else ""))
    if not SMOKE:
        torch.cuda.empty_cache()


def section_train(rows, log, bts, normalizer_grad, have_xl, deadline):
    import torch

    for Vd in (128, 256):
        for B, T in bts:
            if time.time() > deadline:
                rows.append(dict(section="train", skipped=f"B{B} T{T} V{Vd}: deadline"))
                continue
            mk = lambda: inputs(B, H, T, K_TRAIN, Vd, torch.bfloat16, DEV)  # noqa: E731
            for split, label in ((None, ""), (False, ", no hi/lo split")):
                time_training(rows, log, f"ours triton (chunk {L_OURS}{label})", ours(normalizer_grad, split), mk, B,
                              T, K_TRAIN, Vd, flops_chunk(B, T, K_TRAIN, Vd, L_OURS), 3.0, L_OURS)
            if have_xl:
                time_training(rows, log, "mlstm_kernels xl_chunk (chunk 128)", xl_chunk(), mk, B, T, K_TRAIN, Vd,
                              flops_chunk(B, T, K_TRAIN, Vd, L_XL), 3.0, L_XL)
            if Vd == 128:
                mk_attn = lambda: inputs(B, H, T, K_TRAIN, Vd, torch.bfloat16, DEV)[:3]  # noqa: E731
                time_training(rows, log, "SDPA causal cuDNN", sdpa_cudnn, mk_attn, B, T, K_TRAIN, Vd,
                              flops_attn(B, T, K_TRAIN), 3.5, None)


def _rotating(nbytes, make, cap=256):
    """Enough buffer sets that one graph replay touches >= 256 MB (twice an H100's 50 MB L2, with margin)."""
    if SMOKE:  # the interpreter runs each set: two show that the rotation works
        cap = 2
    return [make(s) for s in range(int(max(1, min(cap, math.ceil(256 * 2**20 / max(nbytes, 1))))))]


def time_decode(rows, log, row, nbytes, calls):
    row.update(bytes_per_step=nbytes)
    try:
        row["eager_us"] = 1e3 * eager_ms(calls[0])
        row["graph_us"] = 1e3 * graph_ms(calls)
        row["TB_s"] = nbytes / (row["graph_us"] * 1e-6) / 1e12
        row["frac_of_3TB_s"] = row["TB_s"] / COPY_TB_S
    except Exception as e:  # noqa: BLE001
        row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    rows.append(row)
    log(f"decode {row['impl']} {row['config']} B{row['B']} T{row.get('T', 'any')}: "
        f"{row.get('graph_us', float('nan')):.1f} us graph, {row.get('eager_us', float('nan')):.1f} us eager "
        + (f"ERROR {row['error']}" if "error" in row else f"{100 * row['frac_of_3TB_s']:.0f}% of 3 TB/s"))


def _step_sets(B, MH, Kd, Vd):
    """Rotating decode-step inputs (bf16 token, fp32 state) and the bytes one step must move."""
    import torch

    from xlstm_lab.kernels import MLSTMState

    state_b = B * MH * (Kd * Vd + Kd + 1) * 4
    nbytes = 2 * state_b + B * MH * (2 * Kd + 2 * Vd + 2) * 2  # state in+out, q k v i f in, h out

    def make_step(s):
        q, k, v, i, f = (x[:, :, 0] for x in inputs(B, MH, 1, Kd, Vd, torch.bfloat16, DEV, seed=s))
        st = MLSTMState(0.1 * torch.randn(B, MH, Kd, Vd, device=DEV), torch.randn(B, MH, Kd, device=DEV).abs(),
                        torch.randn(B, MH, device=DEV))
        return (q, k, v, i, f), st

    return _rotating(nbytes, make_step), nbytes


def section_decode(rows, log, ts, have_xl, deadline):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from xlstm_lab.kernels import mlstm_step

    bf16 = torch.bfloat16
    for cfg, (MH, Kd, Vd, AH, Ad) in DECODE_CFG.items():
        for B in (1, 16):
            sets, nbytes = _step_sets(B, MH, Kd, Vd)
            base = dict(section="decode", config=cfg, B=B, heads=MH, K=Kd, V=Vd, T="any")
            for be in ("triton", "torch"):
                calls = [lambda s=s, be=be: mlstm_step(*s[0], s[1], backend=be) for s in sets]
                time_decode(rows, log, dict(base, impl=f"ours mLSTM step [{be}]"), nbytes, calls)
            if have_xl:
                from mlstm_kernels.torch import get_mlstm_step_kernel

                kern = get_mlstm_step_kernel("triton")
                calls = [lambda s=s: kern(q=s[0][0], k=s[0][1], v=s[0][2], i=s[0][3][..., None], f=s[0][4][..., None],
                                          c=s[1].C, n=s[1].n, m=s[1].m[..., None], dtype_state=torch.float32)
                         for s in sets]
                time_decode(rows, log, dict(base, impl="mlstm_kernels step [triton]"), nbytes, calls)
            del sets
            for T in ts:
                if time.time() > deadline:
                    rows.append(dict(section="decode", skipped=f"{cfg} B{B} T{T}: deadline"))
                    continue
                kv_b = 2 * B * AH * T * Ad * 2 + 2 * B * AH * Ad * 2
                try:
                    g = lambda s, *shape: torch.randn(*shape, device=DEV, dtype=bf16)  # noqa: E731
                    sets = _rotating(kv_b, lambda s: (g(s, B, AH, 1, Ad), g(s, B, AH, T, Ad), g(s, B, AH, T, Ad)), 64)
                except torch.cuda.OutOfMemoryError as e:
                    rows.append(dict(section="decode", config=cfg, B=B, T=T, error=f"OOM allocating KV: {e}"[:200]))
                    continue
                for name in ("CUDNN_ATTENTION", "EFFICIENT_ATTENTION"):
                    be = getattr(SDPBackend, name)

                    def call(s, be=be):
                        with sdpa_kernel([be]):
                            return F.scaled_dot_product_attention(*s)

                    calls = [lambda s=s: call(s) for s in sets]
                    time_decode(rows, log, dict(section="decode", config=cfg, B=B, heads=AH, K=Ad, V=Ad, T=T,
                                                impl=f"SDPA decode over KV cache [{name}]"), kv_b, calls)
                del sets
                torch.cuda.empty_cache()


def section_sweep(rows, log, btvs, normalizer_grad, deadline):
    """Launch parameters of our kernels: check each config against float64, then time it."""
    import torch

    from xlstm_lab.kernels import mlstm_step
    from xlstm_lab.kernels.mlstm import heuristics

    for Vd in sorted({v for _, _, v in btvs}):
        for name, cfg in sweep_configs(K_TRAIN, Vd).items():
            fn = ours(normalizer_grad, split=False if cfg is None else None)
            with heuristics.overrides(**(cfg or {})):
                shape = (1, 2, CHECK_SHAPE[2], K_TRAIN, Vd)  # the timed K and V: the same blocks as timed
                try:
                    errs = accuracy(fn, normalizer_grad, torch.bfloat16, shape)
                except Exception as e:  # noqa: BLE001 - a config that does not compile is a result
                    errs = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
                passed = "error" not in errs and within_gate(errs, torch.bfloat16, factor=1.0 if cfg is not None
                                                                 else 3.0)
                rows.append(dict(section="sweep-check", config=name, V=Vd, shape=_shape_txt(shape), passed=passed,
                                 **errs))
                log(f"sweep check [{name}] V{Vd}: {'ok' if passed else 'NOT TIMED'} {errs}")
                if not passed:
                    continue
                for B, T, v in btvs:
                    if v != Vd:
                        continue
                    if time.time() > deadline:
                        rows.append(dict(section="sweep", skipped=f"[{name}] B{B} T{T} V{Vd}: deadline"))
                        continue
                    mk = lambda B=B, T=T, Vd=Vd: inputs(B, H, T, K_TRAIN, Vd, torch.bfloat16, DEV)  # noqa: E731
                    time_training(rows, log, f"ours [{name}]", fn, mk, B, T, K_TRAIN, Vd,
                                  flops_chunk(B, T, K_TRAIN, Vd, L_OURS), 3.0, L_OURS, section="sweep", config=name)
    MH, Kd, Vd = next(iter(DECODE_CFG.values()))[:3]
    for B in (1, 16):
        sets, nbytes = _step_sets(B, MH, Kd, Vd)
        for name, cfg in step_sweep_configs(Kd, Vd).items():
            if time.time() > deadline:
                rows.append(dict(section="sweep-decode", skipped=f"step [{name}] B{B}: deadline"))
                continue
            with heuristics.overrides(**cfg):
                q, k, v, i, f = (x.double() for x in sets[0][0])
                h_ref, _ = mlstm_step(q, k, v, i, f, type(sets[0][1])(*(x.double() for x in sets[0][1])),
                                      backend="torch")
                err = relerr(mlstm_step(*sets[0][0], sets[0][1], backend="triton")[0], h_ref)
                row = dict(section="sweep-decode", config=f"step [{name}]", B=B, heads=MH, K=Kd, V=Vd, T="any",
                           impl=f"ours mLSTM step [triton, {name}]", h_err=err)
                if err > GATE["bfloat16"][0]:
                    rows.append(dict(row, error=f"h error {err:.3g} above the bf16 gate: not timed"))
                    continue
                calls = [lambda s=s: mlstm_step(*s[0], s[1], backend="triton") for s in sets]
                time_decode(rows, log, row, nbytes, calls)
        del sets


def compiled_kernels() -> list[dict]:
    """Every variant of our kernels compiled in this process, with registers and spills (empty under the
    interpreter). Uses triton 3.7's JIT caches; a layout change there only empties the table."""
    from xlstm_lab.kernels.mlstm import chunkwise_triton as ct
    from xlstm_lab.kernels.mlstm import step

    shown = ("BK", "BV", "L", "SPLIT", "EXACT", "HAS_DLAST", "HAS_INIT", "HAS_EXTRA")
    out = []
    for fn in (ct._states_kernel, ct._output_kernel, ct._dstates_kernel, ct._grads_kernel, ct._dgate_kernel,
               step._step_kernel):
        try:
            for cache in getattr(fn, "device_caches", {}).values():
                for kern in cache[0].values():
                    consts = {fn.arg_names[path[0]]: v for path, v in kern.src.constants.items()}
                    out.append(dict(kernel=fn.__name__, **{k: consts.get(k) for k in shown},
                                    num_warps=kern.metadata.num_warps, num_stages=kern.metadata.num_stages,
                                    regs=getattr(kern, "n_regs", None), spills=getattr(kern, "n_spills", None),
                                    shared=kern.metadata.shared))
        except Exception as e:  # noqa: BLE001 - a report, not a gate
            out.append(dict(kernel=getattr(fn, "__name__", "?"), error=f"{type(e).__name__}: {e}"[:200]))
    return out


# ----------------------------------------------------------------------------- provenance and output
def provenance(args) -> dict:
    import torch
    import triton

    p = torch.cuda.get_device_properties(0) if not SMOKE else None
    meta = dict(date_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                device=p.name if p else "cpu (smoke run)", sms=p.multi_processor_count if p else 0,
                mem_gib=round(p.total_memory / 2**30, 1) if p else 0,
                torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                triton=triton.__version__, python=sys.version.split()[0], args=vars(args))
    try:
        import mlstm_kernels

        meta["mlstm_kernels"] = getattr(mlstm_kernels, "__version__", "installed (no __version__)")
    except ImportError:
        meta["mlstm_kernels"] = None
    try:
        run = lambda *c: subprocess.run(c, capture_output=True, text=True, cwd=REPO, timeout=20).stdout.strip()  # noqa: E731
        meta["commit"] = run("git", "rev-parse", "HEAD") or "unknown (no commit yet)"
        meta["dirty"] = bool(run("git", "status", "--porcelain"))
        meta["driver"] = run("nvidia-smi", "--query-gpu=driver_version,clocks.max.sm", "--format=csv,noheader")
    except (OSError, subprocess.SubprocessError):
        pass
    return meta


def _md_table(rows, cols):
    head = "| " + " | ".join(cols) + " |\n| " + " | ".join("---" for _ in cols) + " |\n"
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))  # noqa: E731
    return head + "".join("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |\n" for r in rows)


def markdown(meta, rows) -> str:
    out = [f"# mLSTM kernels on {meta['device']} ({meta['date_utc']})\n",
           f"commit {meta.get('commit')} (dirty: {meta.get('dirty')}); torch {meta['torch']}, CUDA {meta['cuda']}, "
           f"cuDNN {meta['cudnn']}, triton {meta['triton']}, mlstm_kernels {meta['mlstm_kernels']}\n"]
    sec = lambda s: [r for r in rows if r.get("section") == s and "skipped" not in r]  # noqa: E731
    out += ["## Correctness (relative Frobenius error vs float64)\n",
            _md_table(sec("check") + sec("A0"), ["section", "what", "impl", "dtype", "normalizer_grad",
                                                 "normalizer_grad_reference", "shape", "passed", "meets_SOURCE_target",
                                                 "h", "dq", "dk", "dv", "di", "df", "C", "n", "m"])]
    out += ["## Training shapes, H=8, K=128, bf16 (ms; Mtok/s and TFLOP/s from graph times)\n",
            _md_table(sec("train"), ["B", "T", "V", "impl", "fwd_graph_ms", "fb_graph_ms", "fwd_eager_ms",
                                     "fb_eager_ms", "fwd_Mtok_s", "fb_Mtok_s", "fwd_TFLOP_s", "fb_TFLOP_s", "error"])]
    ratios = []
    for r in sec("train"):
        if r["impl"].startswith("ours") and "fwd_graph_ms" in r:
            for other in sec("train"):
                if other is not r and (other["B"], other["T"], other["V"]) == (r["B"], r["T"], r["V"]) \
                        and "fwd_graph_ms" in other and "fb_graph_ms" in other and "fb_graph_ms" in r:
                    ratios.append(dict(B=r["B"], T=r["T"], V=r["V"], other=other["impl"],
                                       fwd=other["fwd_graph_ms"] / r["fwd_graph_ms"],
                                       fwd_bwd=other["fb_graph_ms"] / r["fb_graph_ms"]))
    out += ["## Speed ratios: other's graph time / ours (> 1: ours faster)\n",
            _md_table(ratios, ["B", "T", "V", "other", "fwd", "fwd_bwd"])]
    out += ["## Decode step (one token; graph = GPU time over rotating buffers)\n",
            _md_table(sec("decode"), ["config", "impl", "B", "T", "heads", "K", "V", "bytes_per_step", "graph_us",
                                      "eager_us", "TB_s", "frac_of_3TB_s", "error"])]
    if sec("sweep-check"):
        base = {(r["B"], r["T"], r["V"]): r for r in sec("sweep")
                if r.get("config") == "default" and "fb_graph_ms" in r}
        timed = [dict(r, fwd_vs_default=base[k]["fwd_graph_ms"] / r["fwd_graph_ms"],
                      fb_vs_default=base[k]["fb_graph_ms"] / r["fb_graph_ms"])
                 if (k := (r["B"], r["T"], r["V"])) in base and "fb_graph_ms" in r else r for r in sec("sweep")]
        out += ["## Launch-parameter sweep: accuracy (bf16 vs float64) of each config\n",
                _md_table(sec("sweep-check"), ["config", "V", "shape", "passed", "h", "dq", "dk", "dv", "di", "df",
                                               "error"]),
                "## Launch-parameter sweep: times (ms, graph; vs_default > 1: faster than the default)\n",
                _md_table(timed, ["config", "B", "T", "V", "fwd_graph_ms", "fb_graph_ms", "fwd_vs_default",
                                  "fb_vs_default", "error"]),
                "## Decode-step block sweep\n",
                _md_table(sec("sweep-decode"), ["config", "B", "heads", "K", "V", "h_err", "graph_us", "eager_us",
                                                "frac_of_3TB_s", "error"])]
    if sec("compiled"):
        out += ["## Compiled variants of our kernels (registers per thread; spills in bytes)\n",
                _md_table(sec("compiled"), ["kernel", "BK", "BV", "L", "SPLIT", "EXACT", "HAS_DLAST", "HAS_INIT",
                                            "HAS_EXTRA", "num_warps", "num_stages", "regs", "spills", "shared",
                                            "error"])]
    skipped = [r["skipped"] for r in rows if "skipped" in r]
    if skipped:
        out += ["Skipped: " + "; ".join(skipped) + "\n"]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for details.")
    ap.add_argument("--sections", default="check,train,sweep,decode",
                    help="comma list of check, train, sweep, decode (check always runs)")
    ap.add_argument("--quick", action="store_true", help="2 training shapes, 2 decode lengths, 1 sweep shape")
    ap.add_argument("--normalizer-grad", default="exact", choices=["exact", "detached"],
                    help="gradient convention of our kernel in the timings")
    ap.add_argument("--no-xl", action="store_true", help="skip mlstm_kernels even if installed")
    ap.add_argument("--deadline-s", type=float, default=0.0, help="skip remaining timings after this many seconds")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--plan", action="store_true", help="print the shapes that would run and exit (no GPU needed)")
    ap.add_argument("--probe", choices=["ours", "xl"], help=argparse.SUPPRESS)
    ap.add_argument("--smoke-cpu", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke_cpu:
        _smoke_setup()
        bts_smoke, ts_smoke = [(1, 40)], [64]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"check", "train", "sweep", "decode"}
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from check, train, sweep, decode")
    bts, ts = (QUICK_BT, QUICK_T) if args.quick else (TRAIN_BT, DECODE_T)
    btvs = SWEEP_BTV[:1] if args.quick else SWEEP_BTV
    if args.smoke_cpu:
        bts, ts = bts_smoke, ts_smoke
    if args.plan:
        print(f"sections: {sections}\ntrain (H={H}, K={K_TRAIN}, V in 128/256, bf16): B x T = {bts}\n"
              f"decode configs {DECODE_CFG} (mLSTM heads, K, V, attention heads, d); B in (1, 16); T = {ts}\n"
              f"sweep (B, T, V) = {btvs}:")
        for Vd in sorted({v for *_, v in btvs}):
            for name, cfg in sweep_configs(K_TRAIN, Vd).items():
                print(f"  V{Vd} {name}: {'split_operands=False' if cfg is None else cfg}")
        MH, Kd, Vd = next(iter(DECODE_CFG.values()))[:3]
        print(f"decode-step sweep (H{MH} K{Kd} V{Vd}, B in (1, 16)): {step_sweep_configs(Kd, Vd)}")
        return 0
    import torch

    if not torch.cuda.is_available() and not SMOKE:
        print("bench_mlstm_gpu.py needs a CUDA device (try --plan or --help without one)", file=sys.stderr)
        return 1
    if args.probe:
        return probe(args.probe)
    t0 = time.time()
    deadline = t0 + args.deadline_s if args.deadline_s > 0 else float("inf")
    log = lambda msg: print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)  # noqa: E731
    if not SMOKE and not available("ours", log):
        log("our Triton kernels do not run on this machine: nothing to time")
        return 2
    have_xl = False
    if not args.no_xl:
        try:
            import mlstm_kernels  # noqa: F401

            have_xl = not SMOKE and available("xl", log)
        except ImportError:
            log("mlstm_kernels not installed: the xl_chunk columns are skipped (pip install mlstm_kernels)")
    rows = []
    meta = provenance(args)
    meta["xl_chunk_column"] = have_xl
    # the correctness gate runs whatever --sections says: a wrong kernel is never timed
    if not section_check(rows, log, args.normalizer_grad, have_xl):
        log("our kernel disagrees with the float64 reference: refusing to time it")
        _write(meta, rows, args.out, log)
        return 2
    if "train" in sections:
        section_train(rows, log, bts, args.normalizer_grad, have_xl, deadline)
    if "sweep" in sections:
        section_sweep(rows, log, btvs, args.normalizer_grad, deadline)
    if "decode" in sections:
        section_decode(rows, log, ts, have_xl, deadline)
    rows += [dict(section="compiled", **r) for r in compiled_kernels()]
    _write(meta, rows, args.out, log)
    return 0


def _write(meta, rows, out_dir, log):
    if SMOKE:  # smoke numbers are meaningless: print the markdown, write nothing
        print(markdown(meta, rows))
        return
    os.makedirs(out_dir, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in meta["device"]).strip("-").lower()
    stem = Path(out_dir) / f"mlstm_gpu_{meta['date_utc'][:10]}_{slug}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))
    stem.with_suffix(".md").write_text(markdown(meta, rows))
    log(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    sys.exit(main())
