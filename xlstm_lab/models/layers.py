"""Building blocks shared by both families: RMSNorm, per-head LayerNorm, SwiGLU, soft cap, rotary, init."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "soft_cap",
    "RMSNorm",
    "MultiHeadLayerNorm",
    "SwiGLU",
    "Rotary",
    "small_init_",
    "wang_init_",
]


def soft_cap(x: torch.Tensor, cap: float | None) -> torch.Tensor:
    """Smoothly bound values to (-cap, cap): cap * tanh(x / cap); identity when cap is None."""
    if cap is None:
        return x
    return cap * torch.tanh(x / cap)


def small_init_(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Normal init with std sqrt(2 / (5 dim)) ("small init", Nguyen & Salazar 2019).

    The xLSTM-7B training code uses it for the embedding, the LM head, the q, k, v projections and the SwiGLU's
    gate and up projections; its output, input and forget gate weights start at zero instead (see
    ``xlstm_lab.models.xlstm``).
    """
    return nn.init.normal_(weight, mean=0.0, std=math.sqrt(2.0 / (5.0 * dim)))


def wang_init_(weight: torch.Tensor, dim: int, n_layers: int) -> torch.Tensor:
    """Normal init with std 2 / (n_layers sqrt(dim)) for projections that write into the residual stream."""
    return nn.init.normal_(weight, mean=0.0, std=2.0 / (n_layers * math.sqrt(dim)))


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dim with a learned scale and no bias.

    The reduction runs in float32 whatever the input dtype, so bf16 training stays stable.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., dim) -> (..., dim), same dtype."""
        x32 = x.float()
        y = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


class MultiHeadLayerNorm(nn.Module):
    """Layer norm applied to each head separately (mean-centred), one learned scale per channel, no bias.

    This is the mLSTM "multi-head norm": it normalises each head's cell output h before the output gate.
    """

    def __init__(self, n_heads: int, head_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_heads * head_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, T, H, V) -> (B, T, H*V)."""
        h32 = h.float()
        centred = h32 - h32.mean(dim=-1, keepdim=True)
        var = centred.pow(2).mean(dim=-1, keepdim=True)
        y = (centred * torch.rsqrt(var + self.eps)).flatten(-2)
        return (y * self.weight.float()).to(h.dtype)


class SwiGLU(nn.Module):
    """Gated feed-forward: down(silu(gate(x)) * up(x)), no biases (3 d d_ff parameters)."""

    def __init__(self, d_model: int, d_ff: int, n_layers: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)
        small_init_(self.gate.weight, d_model)
        small_init_(self.up.weight, d_model)
        wang_init_(self.down.weight, d_ff, n_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model)."""
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Rotary(nn.Module):
    """Rotary position embedding (rotate-half form) for head dim D, evaluated at absolute positions."""

    def __init__(self, head_dim: int, theta: float = 10_000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        # a buffer (not a parameter): moves with .to(device) and is not counted in N
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, H, T, D) whose rows sit at positions offset .. offset+T-1 -> rotated x, same shape."""
        t = x.shape[-2]
        pos = torch.arange(offset, offset + t, device=x.device, dtype=torch.float32)
        angles = torch.outer(pos, self.inv_freq.to(x.device))  # T x D/2
        cos = torch.cat((angles.cos(), angles.cos()), dim=-1).to(x.dtype)
        sin = torch.cat((angles.sin(), angles.sin()), dim=-1).to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat((-x2, x1), dim=-1)
        return x * cos + rotated * sin
