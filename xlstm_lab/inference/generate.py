"""Prefill, decode step and greedy generation for both families on the models' own decode paths.

xLSTM: chunkwise prefill, then one ``mlstm_step`` per token (a fixed-size state). Transformer: SDPA prefill into a
KV cache sized to the prompt plus the tokens to be generated (never the whole context length) and kept in the
compute dtype, then one cached-attention step per token. Shapes: B batch, T prompt tokens, V vocabulary.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from xlstm_lab.inference.errors import InferenceInputError
from xlstm_lab.models import ModelConfig, ShapeNotFoundError, build_model, get_shape, list_shapes

__all__ = ["FAMILIES", "DTYPES", "size_tags", "model_config", "load_model", "check_lengths", "prefill", "step",
           "generate"]

#: The two families, as the shape ladder names them.
FAMILIES: tuple[str, ...] = ("xlstm", "llama")
#: Weight (and compute) dtypes a measurement may use.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def size_tags() -> tuple[str, ...]:
    """The shape ladder's size tags that exist for both families, smallest first ("tiny", ..., "7b")."""
    tags = [name.split("-", 1)[1] for name in list_shapes("xlstm")]
    llama = {name.split("-", 1)[1] for name in list_shapes("llama")}
    return tuple(t for t in tags if t in llama)


def model_config(family: str, size: str, *, context_length: int | None = None) -> ModelConfig:
    """The ladder's shape ``{family}-{size}``, with its nominal context length optionally replaced.

    Neither family has learned positions (rotary for the Transformer, none for xLSTM), so the context length is
    a setting of the measurement, not a limit of the weights.

    Raises:
        InferenceInputError: unknown family or size (the message lists the known ones).
    """
    if family not in FAMILIES:
        raise InferenceInputError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    try:
        config = get_shape(f"{family}-{size}")
    except ShapeNotFoundError:
        raise InferenceInputError(f"unknown size {size!r}; use one of the shape ladder's tags: "
                                  f"{', '.join(size_tags())}") from None
    return replace(config, context_length=int(context_length)) if context_length is not None else config


def load_model(config: ModelConfig, *, device: str | torch.device = "cpu", dtype: str = "float32",
               seed: int = 0) -> nn.Module:
    """Build the model of ``config`` with seeded random weights, in ``dtype``, on ``device``, in eval mode.

    Latency and memory do not depend on the weights' values, so untrained weights measure the same thing.
    """
    if dtype not in DTYPES:
        raise InferenceInputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    torch.manual_seed(seed)
    with torch.device(device):
        model = build_model(config)
    return model.to(DTYPES[dtype]).eval()


def check_lengths(config: ModelConfig, prompt_tokens: int, max_new_tokens: int) -> None:
    """Raise InferenceInputError unless 1 <= T and T + new tokens <= the config's context length."""
    if prompt_tokens < 1:
        raise InferenceInputError(f"a prompt needs at least 1 token, got {prompt_tokens}")
    if max_new_tokens < 0:
        raise InferenceInputError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if prompt_tokens + max_new_tokens > config.context_length:
        raise InferenceInputError(
            f"prompt of {prompt_tokens} tokens + {max_new_tokens} new tokens is longer than the context of "
            f"{config.context_length}; shorten the prompt or raise the context length")


def prefill(model: nn.Module, tokens: torch.Tensor, *, max_new_tokens: int = 0) -> tuple[torch.Tensor, object]:
    """Process the prompt; return the last position's logits and the decode state.

    Args:
        model: an ``XLSTMModel`` or ``LlamaModel``.
        tokens: B x T token ids.
        max_new_tokens: tokens to be decoded afterwards: the Transformer's cache is allocated for
            T + max_new_tokens positions at once.

    Returns:
        (logits B x V of the last prompt position, state: ``RecurrentState`` or ``KVCache``).
    """
    check_lengths(model.config, tokens.shape[-1], max_new_tokens)
    with torch.inference_mode():
        if model.config.family == "llama":
            logits, state = model.prefill(tokens, capacity=tokens.shape[-1] + max_new_tokens)
        else:
            logits, state = model.prefill(tokens)
    return logits[:, -1], state


def step(model: nn.Module, tokens: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
    """One decode step: tokens B ids -> (logits B x V, the state after them)."""
    with torch.inference_mode():
        return model.step(tokens, state)


def generate(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding: B x T prompt -> B x (T + max_new_tokens) tokens (the prompt, then the argmax tokens)."""
    logits, state = prefill(model, prompt, max_new_tokens=max_new_tokens)
    out = [prompt]
    for i in range(max_new_tokens):
        nxt = logits.argmax(-1)
        out.append(nxt[:, None])
        if i + 1 < max_new_tokens:
            logits, state = step(model, nxt, state)
    return torch.cat(out, dim=1)
