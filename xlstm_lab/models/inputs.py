"""Checks of the tokens a built model is given (both families): shapes and dtypes, before any reshape."""

from __future__ import annotations

import torch

from xlstm_lab.models.config import ModelInputError

__all__ = ["check_sequence_tokens", "step_tokens"]


def _check_integer(tokens: object, what: str) -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor):
        raise ModelInputError(f"{what} needs token ids as a torch.Tensor, got {type(tokens).__name__}; "
                              f"convert with torch.as_tensor(ids, dtype=torch.long)")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise ModelInputError(f"{what} needs integer token ids, got dtype {tokens.dtype}; cast with .long()")
    return tokens


def check_sequence_tokens(tokens: object, what: str) -> tuple[int, int]:
    """Check token ids for a whole-sequence call (forward, prefill).

    Args:
        tokens: B x T integer token ids, B >= 1 and T >= 1.
        what: the calling method, named in the message.

    Returns:
        (B, T).

    Raises:
        ModelInputError: not a 2-d integer tensor, or an empty batch or sequence.
    """
    tokens = _check_integer(tokens, what)
    if tokens.dim() != 2:
        raise ModelInputError(f"{what} needs token ids of shape (B, T), got {tuple(tokens.shape)}; for one "
                              f"sequence use tokens[None]")
    b, t = tokens.shape
    if t == 0:
        raise ModelInputError(f"{what} got an empty sequence (T = 0); pass at least one token (an empty decode "
                              f"state comes from init_state)")
    if b == 0:
        raise ModelInputError(f"{what} got an empty batch (B = 0); pass at least one sequence")
    return b, t


def step_tokens(tokens: object) -> torch.Tensor:
    """Check token ids for a decode step and return them flat: (B,) or (B, 1) -> (B,).

    Raises:
        ModelInputError: anything other than one token per sequence (e.g. B x k with k > 1, which would
            otherwise be flattened into B k sequences), an empty batch, or non-integer ids.
    """
    tokens = _check_integer(tokens, "step")
    if tokens.dim() not in (1, 2) or (tokens.dim() == 2 and tokens.shape[1] != 1):
        raise ModelInputError(f"step decodes one token per sequence and needs ids of shape (B,) or (B, 1), got "
                              f"{tuple(tokens.shape)}; use prefill for several tokens per sequence")
    if tokens.shape[0] == 0:
        raise ModelInputError("step got an empty batch (B = 0); pass one token for each of B >= 1 sequences")
    return tokens.reshape(-1)
