"""Launch parameters of the Triton mLSTM kernels: the only place block sizes, warps and matmul precision live.

Not timed yet (no GPU was available when they were written). They were chosen so that ptxas, compiling ahead of
time for sm_90 (H100) with bf16 inputs, K = V = 128 and L = 64, reports no register spills
(``python tests/kernels/aot_compile_mlstm.py`` prints registers and spills per variant): the chunk kernels hold
several L x L fp32 tiles (scores, decay, their gradients), which needs 8 warps and narrow K/V tiles beside them.
Specialised as the JIT specialises aligned shapes, they take 160-198 registers with the hi/lo split and 128-166
without (246-255 when compiled without alignment information, as an earlier check did), so one 8-warp block per
SM either way; ragged K, V (40, 72) reach 255 in the output and gradient kernels, and fp32 inputs spill a little
there. Whether fewer warps or other tiles are faster is what ``benchmarks/bench_mlstm_gpu.py`` (section
``sweep``) measures, through :func:`overrides`. Every block is a power of two >= 16, the smallest ``tl.dot``
accepts; K and V that are not powers of two are padded up to the block and masked. Two structural costs the
sweep also probes: the output kernel recomputes Q K^T and n.q^ once per V block (once with ``output.BV >= V``;
252 registers at V = 128, spills at V = 256), and the gradient kernel reloads dh and v once per K block (once
with ``grads.BK >= K``; spills 224 bytes).
``tests/kernels/test_mlstm_compile.py`` re-checks that every kernel variant compiles for sm_90.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import MLSTMInputError

__all__ = ["KERNELS", "block_at_least_16", "chunk_length", "chunk_config", "step_config", "dot_precision",
           "split_operands", "overrides"]

KERNELS = ("states", "output", "dstates", "grads", "dgate", "step")
_KEYS = {"BK", "BV", "num_warps", "num_stages"}
_OVERRIDES: dict[str, dict[str, int]] = {}


def block_at_least_16(n: int, cap: int) -> int:
    """The next power of two >= max(n, 16), at most ``cap``."""
    return min(max(16, 1 << (max(1, n) - 1).bit_length()), cap)


def chunk_length(T: int, chunk_size: int) -> int:
    """The chunk L the kernels use: ``chunk_size``, or the smallest power of two >= max(T, 16) when T is shorter."""
    return min(chunk_size, block_at_least_16(T, chunk_size))


def _with_overrides(name: str, cfg: dict[str, int]) -> dict[str, int]:
    return {**cfg, **_OVERRIDES.get(name, {})}


def chunk_config(K: int, V: int, L: int) -> dict[str, dict[str, int]]:
    """Launch parameters of each chunkwise kernel: ``{kernel: {BK, BV, num_warps, num_stages}}``."""
    wide = 8 if L <= 64 else 16  # L x L fp32 tiles grow with L^2
    b = block_at_least_16
    cfg = {
        # states: one fp32 C tile [BK, BV] per program, carried over all chunks
        "states": {"BK": b(K, 64), "BV": b(V, 32), "num_warps": 4, "num_stages": 2},
        # output and gradients: several L x L fp32 tiles live at once; narrow K/V tiles leave them room
        "output": {"BK": b(K, 32), "BV": b(V, 64), "num_warps": wide, "num_stages": 2},
        "dstates": {"BK": b(K, 64), "BV": b(V, 32), "num_warps": wide, "num_stages": 2},
        "grads": {"BK": b(K, 16), "BV": b(V, 32), "num_warps": wide, "num_stages": 2},
        "dgate": {"num_warps": 1, "num_stages": 1},
    }
    return {name: _with_overrides(name, c) for name, c in cfg.items()}


def step_config(K: int, V: int, BH: int = 1 << 30) -> dict[str, int]:
    """Blocks for the decode step: one program per (b, h, V block), K walked in BK tiles.

    Narrower V tiles when B*H is small, so that a single sequence still spreads over the SMs (132 on an H100).
    """
    BV = 32 if BH * -(-V // 32) >= 264 else 16
    cfg = {"BK": block_at_least_16(K, 64), "BV": min(BV, block_at_least_16(V, 32)), "num_warps": 4}
    return _with_overrides("step", cfg)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: true fp32 ("ieee") for fp32 inputs; ignored for 16-bit inputs."""
    return "ieee" if dtype == torch.float32 else "tf32"


def split_operands(dtype: torch.dtype, requested: bool | None = None) -> bool:
    """Whether the kernels carry fp32 matmul operands as bf16/fp16 hi + lo pairs (16-bit inputs only).

    Operands that are computed rather than loaded (decay-weighted scores, states, gradients) are rounded to the
    input dtype before a tensor-core dot. Split into hi = round(x) and lo = round(x - hi), they keep ~16
    mantissa bits instead of bf16's 8, for one extra dot per such operand: about 1.7x the forward's and 2.3x
    the backward's tensor-core work. Measured in the CPU interpreter (which rounds like a GPU) at B=1, H=8,
    T=2048, K=V=128 in bf16, the forward error is 6.4e-3 without the split and 1.7e-3 (the rounding of h
    itself) with it; the anchor target is <= 3e-3, so the split is on by default (``requested=None``). The
    kernels are expected to be bound by memory and latency rather than matmul throughput, which would make
    the extra dots cheap; ``benchmarks/bench_mlstm_gpu.py`` times both settings to check that. fp32 inputs
    run their dots in true fp32 and never split.
    """
    if dtype not in (torch.bfloat16, torch.float16):
        return False
    return True if requested is None else bool(requested)


def _check_override(name: str, params: dict) -> dict[str, int]:
    if name not in KERNELS:
        raise MLSTMInputError(f"no kernel {name!r} to override; choose from {KERNELS}")
    if not isinstance(params, dict) or not set(params) <= _KEYS:
        raise MLSTMInputError(f"overrides for {name!r} must be a dict with keys from {sorted(_KEYS)}, got {params!r}")
    out = {}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise MLSTMInputError(f"{name}.{key}={value!r}: give an int")
        if key in ("BK", "BV") and (value < 16 or value & (value - 1)):
            raise MLSTMInputError(f"{name}.{key}={value}: blocks are powers of two >= 16 (tl.dot's minimum)")
        if key == "num_warps" and (value < 1 or value > 32 or value & (value - 1)):
            raise MLSTMInputError(f"{name}.num_warps={value}: give a power of two from 1 to 32")
        if key == "num_stages" and value < 1:
            raise MLSTMInputError(f"{name}.num_stages={value}: give an int >= 1")
        if name == "dgate" and key in ("BK", "BV"):
            raise MLSTMInputError("the dgate kernel has no BK/BV blocks; override num_warps or num_stages")
        out[key] = value
    return out


@contextmanager
def overrides(**per_kernel: dict[str, int]) -> Iterator[None]:
    """Temporarily replace launch parameters, e.g. ``overrides(output={"BV": 128}, grads={"num_warps": 4})``.

    For benchmark sweeps; launches inside the ``with`` block use the overridden values (Triton compiles one
    variant per distinct setting). Not thread-safe: it changes module state for the duration of the block.
    """
    checked = {name: _check_override(name, params) for name, params in per_kernel.items()}
    saved = {name: dict(c) for name, c in _OVERRIDES.items()}
    for name, params in checked.items():
        _OVERRIDES[name] = {**_OVERRIDES.get(name, {}), **params}
    try:
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(saved)
