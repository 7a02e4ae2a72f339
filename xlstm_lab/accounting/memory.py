"""Bytes held and moved at decode time: weights, the Transformer's KV cache, the fixed mLSTM state."""

from __future__ import annotations

from typing import Literal

from xlstm_lab.accounting.params import count_params
from xlstm_lab.accounting.validation import check_config, positive_real, whole_count
from xlstm_lab.models.config import ConfigError, ModelConfig

__all__ = [
    "weight_bytes",
    "kv_cache_bytes",
    "mlstm_state_bytes",
    "decode_state_bytes",
    "decode_step_bytes",
]


def _counts(tokens: int, batch: int) -> tuple[int, int]:
    """Whole token count >= 0 and batch >= 1 (never truncated: 100.5 tokens raises ConfigError)."""
    return whole_count("tokens", tokens), whole_count("batch", batch, minimum=1)


def _width(name: str, value: float) -> float | int:
    """Bytes per element: kept an int when it is one (exact integer results), else a positive float."""
    positive_real(name, value)
    return value


def weight_bytes(config: ModelConfig, dtype_bytes: int = 2) -> int:
    """Bytes of all parameters (N x dtype_bytes; bf16 = 2)."""
    return count_params(check_config(config, "weight_bytes")) * _width("dtype_bytes", dtype_bytes)


def kv_cache_bytes(config: ModelConfig, tokens: int, batch: int = 1, dtype_bytes: int = 2) -> int:
    """Transformer KV cache for ``tokens`` positions: 2 (K and V) x L_b x B x T x H x D x dtype_bytes."""
    if check_config(config, "kv_cache_bytes").family != "llama":
        raise ConfigError("kv_cache_bytes is for the Transformer; use mlstm_state_bytes for xLSTM")
    tokens, batch = _counts(tokens, batch)
    width = _width("dtype_bytes", dtype_bytes)
    return 2 * config.n_layers * batch * tokens * config.n_heads * config.head_dim * width


def mlstm_state_bytes(config: ModelConfig, batch: int = 1, state_dtype_bytes: int = 4) -> int:
    """xLSTM decode state, independent of the context: L_b x B x H x (K V + K + 1) x state_dtype_bytes.

    Per head the cell keeps the matrix memory C (K x V), the normaliser n (K) and the stabiliser m (1),
    in float32 by default (as the paper's inference setup keeps it).
    """
    if check_config(config, "mlstm_state_bytes").family != "xlstm":
        raise ConfigError("mlstm_state_bytes is for xLSTM; use kv_cache_bytes for the Transformer")
    _, batch = _counts(0, batch)
    width = _width("state_dtype_bytes", state_dtype_bytes)
    k, v = config.qk_head_dim, config.v_head_dim
    return config.n_layers * batch * config.n_heads * (k * v + k + 1) * width


def decode_state_bytes(
    config: ModelConfig, tokens: int, batch: int = 1, dtype_bytes: int = 2, state_dtype_bytes: int = 4
) -> int:
    """Decode-state memory after ``tokens`` tokens: the KV cache (Llama) or the mLSTM state (xLSTM)."""
    check_config(config, "decode_state_bytes")
    _counts(tokens, batch)  # checked for both families, though the xLSTM state ignores tokens
    if config.family == "llama":
        return kv_cache_bytes(config, tokens, batch, dtype_bytes)
    return mlstm_state_bytes(config, batch, state_dtype_bytes)


def _physical(config: ModelConfig, tokens: int, batch: int, dtype_bytes: int, state_dtype_bytes: int) -> float:
    d = config.d_model
    # every weight is read once per step, except the embedding, of which only B rows are gathered
    weights = (count_params(config) - config.vocab_size * d + batch * d) * dtype_bytes
    if config.family == "llama":
        # read the cache of T positions, write the new token's K and V
        return float(
            weights + kv_cache_bytes(config, tokens, batch, dtype_bytes) + kv_cache_bytes(config, 1, batch, dtype_bytes)
        )
    # read and write the whole (fixed-size) state
    return float(weights + 2 * mlstm_state_bytes(config, batch, state_dtype_bytes))


def _runtime_model_backbone(config: ModelConfig, b: float, t: float, ba: int, bw: int) -> float:
    """Upstream backbone memops: weights once plus activations of T tokens (with the LM head on all T)."""
    h, k, v, f, vocab = config.n_heads, config.qk_head_dim, config.v_head_dim, config.d_ff, config.vocab_size
    d = h * v
    ffn_act = d + 3 * (d + f)  # ffn pre-norm + three matmuls (in + out each)
    ffn_w = d + 3 * d * f
    if config.family == "xlstm":
        emb = b * t * d * bw  # upstream counts the gathered embedding rows with the weight dtype
        act = d + (d + h * (2 * k + v)) + 2 * (d + h) + (d + h * v) + h * v + (d + h * v) + ffn_act
        w = d + d * h * (2 * k + v) + (2 * d * h + 2 * h) + d * h * v + h * v + d * h * v + ffn_w
    else:
        emb = b * t * d * ba
        act = d + (d + 3 * h * k) + (d + h * v) + ffn_act
        w = d + d * (3 * h * k) + d * h * v + ffn_w
    blocks = config.n_layers * (b * t * act * ba + w * bw)
    lm_head = b * t * d * ba + b * t * (d + vocab) * ba + d * bw + d * vocab * bw
    return emb + blocks + lm_head


def _runtime_model(config: ModelConfig, tokens: int, batch: int, ba: int, bc: int, generation_length: int) -> float:
    b = float(batch)
    h, k, v = config.n_heads, config.qk_head_dim, config.v_head_dim
    if config.family == "xlstm":
        cell = b * h * ((2 * k + v) * ba + 2 * ba + 2 * (k * v + k + 1) * bc + v * ba)
        return _runtime_model_backbone(config, b, 1.0, ba, ba) + config.n_layers * cell
    tg, tp = float(generation_length), float(tokens)
    kv = b * (tg * (k + v) * h + (tp * tg + 0.5 * tg * (tg - 1)) * (k + v) * h) * ba
    return (_runtime_model_backbone(config, b, tg, ba, ba) + config.n_layers * kv) / tg


def decode_step_bytes(
    config: ModelConfig,
    tokens: int,
    batch: int = 1,
    dtype_bytes: int = 2,
    state_dtype_bytes: int = 4,
    *,
    convention: Literal["physical", "runtime_model"] = "physical",
    generation_length: int = 100,
) -> float:
    """Bytes moved by one decode step after ``tokens`` context tokens, for ``batch`` sequences.

    ``physical`` (default): all weights once (the embedding only for the B gathered rows), plus for the
    Transformer the KV cache of T positions read and one position written, or for xLSTM the fixed mLSTM
    state read and written. Activations are ignored (B x d per layer, negligible at decode).

    ``runtime_model``: the memory-operation count of the paper's step-time model (upstream
    ``model_accounting/memops``), including activations of every layer. For the Transformer it averages
    over ``generation_length`` generated tokens (upstream uses 100), which also spreads the one-time weight
    read over those tokens; for xLSTM it counts one recurrent step. Use it to compare with the paper's
    fitted bandwidths, not as a physical estimate.

    Args:
        config: the model.
        tokens: context length T already in the cache (ignored by the xLSTM state); a whole number >= 0,
            never truncated.
        batch: sequences decoded together (a whole number >= 1).
        dtype_bytes: bytes per weight, activation and KV entry (bf16 = 2).
        state_dtype_bytes: bytes per mLSTM state entry (float32 = 4).
    """
    check_config(config, "decode_step_bytes")
    tokens, batch = _counts(tokens, batch)
    dtype_bytes = _width("dtype_bytes", dtype_bytes)
    state_dtype_bytes = _width("state_dtype_bytes", state_dtype_bytes)
    if convention == "physical":
        return _physical(config, tokens, batch, dtype_bytes, state_dtype_bytes)
    if convention == "runtime_model":
        generation_length = whole_count("generation_length", generation_length, minimum=1)
        return _runtime_model(config, tokens, batch, dtype_bytes, state_dtype_bytes, generation_length)
    raise ConfigError(f"convention must be 'physical' or 'runtime_model', got {convention!r}")
