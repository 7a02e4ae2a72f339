"""The validation loss: mean cross-entropy over the corpus' whole fixed validation split, in nats per byte."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EVAL_TOKENS", "eval_rows", "evaluate"]

EVAL_TOKENS = 2**16
"""Tokens per validation forward pass (fewer when the logits would exceed 256 MiB: large vocabularies)."""


def eval_rows(context: int, vocab_size: int) -> int:
    """Validation windows per forward pass: ~min(2^16, 2^26 / vocab) tokens, at least one window.

    Independent of the training batch and of the number of ranks, so every run on a corpus (and a DDP run and
    its one-process twin) scores the validation split with the same arithmetic.
    """
    return max(1, min(EVAL_TOKENS, 2**26 // vocab_size) // context)


@torch.no_grad()
def evaluate(model: nn.Module, corpus, context: int, *, device: torch.device, autocast: bool = False,
             rows: int | None = None) -> float:
    """Mean next-byte cross-entropy of ``model`` over ``corpus.val_batches(context, rows)``, nats per byte.

    Every window of ``context + 1`` validation tokens (stride ``context``) predicts its last ``context`` tokens;
    the per-token losses (float32) are summed in float64 and divided by ``corpus.n_val_tokens(context)``.

    Args:
        model: maps B x T token ids to B x T x vocab logits.
        corpus: an ``xlstm_lab.data.Corpus``.
        context: T, the training context length.
        device: where the model is.
        autocast: run the forward pass under bf16 autocast (CUDA).
        rows: windows per forward pass (default :func:`eval_rows`).

    Returns:
        The validation loss in nats per byte (a float; NaN or inf if the model produces them).
    """
    vocab = getattr(getattr(model, "config", None), "vocab_size", 256)
    rows = rows or eval_rows(context, vocab)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    counted = 0
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    try:
        for block in corpus.val_batches(context, rows):
            batch = torch.from_numpy(block).to(device, non_blocking=True)
            with amp:
                logits = model(batch[:, :-1])
            per_token = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                                        reduction="none")
            total += per_token.double().sum()
            counted += per_token.numel()
    finally:
        model.train(was_training)
    expected = corpus.n_val_tokens(context)
    if counted != expected:  # the data contract: every scored token exactly once
        raise RuntimeError(f"validation scored {counted} tokens, the corpus says {expected}")
    return float(total.item()) / expected
