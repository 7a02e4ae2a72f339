"""Decode-state types: the growing KV cache of the Transformer and the fixed-size mLSTM state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["KVCache", "RecurrentState"]


@dataclass
class KVCache:
    """Keys and values of every layer for the tokens seen so far (Transformer decode state).

    Storage is preallocated to ``capacity`` positions and doubled when full, so a decode step writes one
    position instead of concatenating. Only ``[..., :length, :]`` is valid.

    Attributes:
        keys: per layer, B x H x capacity x D (post-rotary keys).
        values: per layer, B x H x capacity x D.
        length: number of valid positions (tokens processed so far).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int = 0

    @classmethod
    def empty(
        cls,
        n_layers: int,
        batch: int,
        n_heads: int,
        head_dim: int,
        capacity: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> KVCache:
        """An empty cache with room for ``capacity`` positions per layer."""
        shape = (batch, n_heads, max(capacity, 1), head_dim)
        keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        return cls(keys=keys, values=values, length=0)

    @property
    def capacity(self) -> int:
        """Positions that fit without reallocation."""
        return self.keys[0].shape[-2]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (B x H x S x D) after the valid prefix of ``layer``; return the valid keys and values.

        ``length`` is not advanced here: the model advances it once after all layers (see ``advance``).
        """
        start, stop = self.length, self.length + k.shape[-2]
        if stop > self.capacity:
            self._grow(stop)
        self.keys[layer][:, :, start:stop] = k.to(self.keys[layer].dtype)
        self.values[layer][:, :, start:stop] = v.to(self.values[layer].dtype)
        return self.keys[layer][:, :, :stop], self.values[layer][:, :, :stop]

    def advance(self, n_tokens: int) -> None:
        """Mark ``n_tokens`` more positions as valid (call once per forward, after every layer)."""
        self.length += n_tokens

    def _grow(self, needed: int) -> None:
        new_cap = max(needed, 2 * self.capacity)
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                grown = old.new_zeros(*old.shape[:-2], new_cap, old.shape[-1])
                grown[:, :, : self.length] = old[:, :, : self.length]
                store[i] = grown


@dataclass
class RecurrentState:
    """Per-layer mLSTM cell states (xLSTM decode state); its size does not grow with the context.

    Attributes:
        layers: one ``MLSTMState(C, n, m)`` per block (C: B x H x K x V, n: B x H x K, m: B x H),
            or None before the first token.
        length: number of tokens processed so far.
    """

    layers: list[Any] = field(default_factory=list)
    length: int = 0
