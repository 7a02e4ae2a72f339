"""The recurrent mLSTM state (C, n, m) carried between chunks, calls and decode steps."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .errors import MLSTMInputError

__all__ = ["MLSTMState"]


class MLSTMState(NamedTuple):
    """Stabilised mLSTM memory of every (batch, head), always float32.

    The true (unstabilised) memory is ``C * exp(m)`` and ``n * exp(m)``; keeping ``m`` apart lets exponential
    input gates run to any magnitude without overflow.

    Attributes:
        C: Matrix memory, shape (B, H, K, V); ``C = sum_s w_s k_s v_s^T`` with gate weights ``w_s``.
        n: Normaliser, shape (B, H, K); the same sum over ``k_s``.
        m: Log-scale stabiliser, shape (B, H); ``-inf`` for the empty state.
    """

    C: torch.Tensor
    n: torch.Tensor
    m: torch.Tensor

    @classmethod
    def zeros(cls, B: int, H: int, K: int, V: int, device: torch.device | str | None = None) -> MLSTMState:
        """The empty state: C = 0, n = 0, m = -inf (the first step then sets m_1 = i_1)."""
        f32 = torch.float32
        return cls(
            torch.zeros(B, H, K, V, device=device, dtype=f32),
            torch.zeros(B, H, K, device=device, dtype=f32),
            torch.full((B, H), float("-inf"), device=device, dtype=f32),
        )

    def validate(self, B: int, H: int, K: int, V: int) -> None:
        """Raise :class:`MLSTMInputError` (a ValueError) if the shapes do not match (B, H, K, V)."""
        want = {"C": (B, H, K, V), "n": (B, H, K), "m": (B, H)}
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise MLSTMInputError(f"MLSTMState.{name} has shape {got}, expected {shape} for (B,H,K,V)="
                                      f"{B, H, K, V}; build the state for these sizes (MLSTMState.zeros(B, H, K, V))")
