"""Memory of generation: the decode state's bytes, measured from its tensors, beside ``accounting``'s prediction.

The Transformer's KV cache grows linearly with the context; the mLSTM state does not grow at all. On the CPU the
state is measured exactly as the bytes of its tensors; on CUDA the peak of ``torch.cuda.max_memory_allocated``
over a whole generation is measured too (weights, state and activations).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from xlstm_lab.accounting import kv_cache_bytes, mlstm_state_bytes, weight_bytes
from xlstm_lab.inference.errors import InferenceInputError
from xlstm_lab.inference.generate import generate, load_model, model_config, prefill
from xlstm_lab.models import KVCache, ModelConfig, RecurrentState

__all__ = ["state_nbytes", "predicted_state_bytes", "weight_nbytes", "cuda_peak_bytes", "memory_vs_context"]

#: The mLSTM state is always float32 (``kernels.mlstm.MLSTMState``).
_STATE_DTYPE_BYTES = 4


def state_nbytes(state: object) -> int:
    """Bytes allocated by a decode state's tensors: the KV cache's keys and values (their whole capacity), or
    the mLSTM state's C, n and m of every layer."""
    if isinstance(state, KVCache):
        tensors = [*state.keys, *state.values]
    elif isinstance(state, RecurrentState):
        tensors = [t for layer in state.layers for t in layer]
    else:
        raise InferenceInputError(f"not a decode state: {type(state).__name__}; pass a KVCache or RecurrentState")
    return sum(t.numel() * t.element_size() for t in tensors)


def predicted_state_bytes(config: ModelConfig, positions: int, batch: int, dtype_bytes: int) -> int:
    """``accounting``'s bytes of the decode state holding ``positions`` tokens: the KV cache in the compute
    dtype (``dtype_bytes`` each) or the float32 mLSTM state (independent of ``positions``)."""
    if config.family == "llama":
        return kv_cache_bytes(config, positions, batch, dtype_bytes=dtype_bytes)
    return mlstm_state_bytes(config, batch, state_dtype_bytes=_STATE_DTYPE_BYTES)


def weight_nbytes(model: nn.Module) -> int:
    """Bytes of the model's parameters as allocated."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def cuda_peak_bytes(model: nn.Module, prompt: torch.Tensor, new_tokens: int) -> int:
    """Peak CUDA bytes allocated during one greedy generation (weights included), by ``max_memory_allocated``."""
    device = prompt.device
    if device.type != "cuda":
        raise InferenceInputError(f"cuda_peak_bytes needs a CUDA prompt, got device {device}")
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    generate(model, prompt, new_tokens)
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


def memory_vs_context(family: str, size: str, contexts: Iterable[int], *, batch: int = 1, new_tokens: int = 1,
                      device: str = "cpu", dtype: str = "float32") -> list[dict[str, object]]:
    """The decode state after prefilling each context, measured and predicted (one dict per context).

    Keys: family, size, context, batch, state_bytes (measured), state_bytes_predicted (accounting, for
    context + new_tokens positions: the cache is allocated for the tokens still to come), weight_bytes
    (measured) and weight_bytes_predicted.
    """
    contexts = [int(c) for c in contexts]
    if not contexts:
        raise InferenceInputError("no contexts given; pass at least one prompt length")
    config = model_config(family, size, context_length=max(contexts) + new_tokens)
    model = load_model(config, device=device, dtype=dtype)
    width = torch.finfo(next(model.parameters()).dtype).bits // 8
    rows = []
    for t in contexts:
        prompt = torch.randint(0, config.vocab_size, (batch, t), device=device)
        _, state = prefill(model, prompt, max_new_tokens=new_tokens)
        rows.append({"family": family, "size": size, "context": t, "batch": batch,
                     "state_bytes": state_nbytes(state),
                     "state_bytes_predicted": predicted_state_bytes(config, t + new_tokens, batch, width),
                     "weight_bytes": weight_nbytes(model),
                     "weight_bytes_predicted": weight_bytes(config, dtype_bytes=width)})
    return rows
