"""Block sizes and warp counts of the Triton mLSTM kernels: the only place they live.

Not timed (no GPU was available when they were written). They were chosen so that ptxas, compiling ahead of
time for sm_90 (H100) with bf16 inputs, K = V = 128 and L = 64, reports no register spills: the chunk
kernels hold several L x L fp32 tiles (scores, decay, their gradients), which needs 8 warps, and the
gradient kernel needs 32-wide K and V tiles on top. Every block is a power of two >= 16, the smallest
``tl.dot`` accepts; K and V that are not powers of two are padded up to the block and masked.
``tests/kernels/test_mlstm_compile.py`` re-checks that every kernel compiles for sm_90.
"""

from __future__ import annotations

import torch

__all__ = ["block_at_least_16", "chunk_config", "step_config", "dot_precision"]


def block_at_least_16(n: int, cap: int) -> int:
    """The next power of two >= max(n, 16), at most ``cap``."""
    return min(max(16, 1 << (max(1, n) - 1).bit_length()), cap)


def chunk_config(K: int, V: int, L: int) -> dict[str, dict[str, int]]:
    """Launch parameters of each chunkwise kernel: ``{kernel: {BK, BV, num_warps, num_stages}}``."""
    wide = 8 if L <= 64 else 16  # L x L fp32 tiles grow with L^2
    return {
        # states: one fp32 C tile [BK, BV] per program, carried over all chunks
        "states": {"BK": block_at_least_16(K, 64), "BV": block_at_least_16(V, 64), "num_warps": 4, "num_stages": 2},
        "output": {"BK": block_at_least_16(K, 64), "BV": block_at_least_16(V, 64), "num_warps": wide, "num_stages": 2},
        "dstates": {"BK": block_at_least_16(K, 64), "BV": block_at_least_16(V, 64), "num_warps": wide,
                    "num_stages": 2},
        "grads": {"BK": block_at_least_16(K, 32), "BV": block_at_least_16(V, 32), "num_warps": wide, "num_stages": 2},
        "dgate": {"num_warps": 1, "num_stages": 1},
    }


def step_config(K: int, V: int) -> dict[str, int]:
    """Blocks for the decode step: one program per (b, h, V block); BK covers K in as few trips as possible."""
    return {"BK": block_at_least_16(K, 128), "BV": block_at_least_16(V, 32), "num_warps": 2}


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: true fp32 ("ieee") for fp32 inputs; ignored for 16-bit inputs."""
    return "ieee" if dtype == torch.float32 else "tf32"
