"""Block sizes and warp counts of the Triton mLSTM kernels: the only place they live.

Not timed (no GPU was available when they were written). They were chosen so that ptxas, compiling ahead of
time for sm_90 (H100) with bf16 inputs, K = V = 128 and L = 64, reports no register spills
(``python tests/kernels/aot_compile_mlstm.py`` prints registers and spills): the chunk kernels hold several
L x L fp32 tiles (scores, decay, their gradients), which needs 8 warps and narrow K/V tiles beside them.
Every block is a power of two >= 16, the smallest ``tl.dot`` accepts; K and V that are not powers of two
are padded up to the block and masked.
``tests/kernels/test_mlstm_compile.py`` re-checks that every kernel compiles for sm_90.
"""

from __future__ import annotations

import torch

__all__ = ["block_at_least_16", "chunk_config", "step_config", "dot_precision", "split_operands"]


def block_at_least_16(n: int, cap: int) -> int:
    """The next power of two >= max(n, 16), at most ``cap``."""
    return min(max(16, 1 << (max(1, n) - 1).bit_length()), cap)


def chunk_config(K: int, V: int, L: int) -> dict[str, dict[str, int]]:
    """Launch parameters of each chunkwise kernel: ``{kernel: {BK, BV, num_warps, num_stages}}``."""
    wide = 8 if L <= 64 else 16  # L x L fp32 tiles grow with L^2
    b = block_at_least_16
    return {
        # states: one fp32 C tile [BK, BV] per program, carried over all chunks
        "states": {"BK": b(K, 64), "BV": b(V, 32), "num_warps": 4, "num_stages": 2},
        # output and gradients: several L x L fp32 tiles live at once; narrow K/V tiles leave them room
        "output": {"BK": b(K, 32), "BV": b(V, 64), "num_warps": wide, "num_stages": 2},
        "dstates": {"BK": b(K, 64), "BV": b(V, 32), "num_warps": wide, "num_stages": 2},
        "grads": {"BK": b(K, 16), "BV": b(V, 32), "num_warps": wide, "num_stages": 2},
        "dgate": {"num_warps": 1, "num_stages": 1},
    }


def step_config(K: int, V: int, BH: int = 1 << 30) -> dict[str, int]:
    """Blocks for the decode step: one program per (b, h, V block), K walked in BK tiles.

    Narrower V tiles when B*H is small, so that a single sequence still spreads over the SMs (132 on an H100).
    """
    BV = 32 if BH * -(-V // 32) >= 264 else 16
    return {"BK": block_at_least_16(K, 64), "BV": min(BV, block_at_least_16(V, 32)), "num_warps": 4}


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: true fp32 ("ieee") for fp32 inputs; ignored for 16-bit inputs."""
    return "ieee" if dtype == torch.float32 else "tf32"


def split_operands(dtype: torch.dtype) -> bool:
    """Carry fp32 matmul operands (decay-weighted scores, states, gradients) as bf16/fp16 hi + lo pairs.

    One extra tensor-core dot per such operand; it cuts the bf16 forward error at B=1, H=8, T=2048,
    K=V=128 from 6.4e-3 to the output's own rounding (see the module docstring of ``chunkwise_triton``).
    The kernels are bound by memory and latency, not by matmul throughput, so the extra dots are cheap.
    """
    return dtype in (torch.bfloat16, torch.float16)
