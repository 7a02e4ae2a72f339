"""Exact parameter counts of both families, in the paper's convention (every tensor counted)."""

from __future__ import annotations

from xlstm_lab.models.config import ModelConfig

__all__ = ["count_params", "param_breakdown"]


def param_breakdown(config: ModelConfig) -> dict[str, int]:
    """Parameters per component, summed over all blocks.

    With d = d_model, H heads, K/V the qk/value head dims (H*K = qk width, H*V = value width), f = d_ff,
    L = n_layers and |V| = vocab_size:

    - ``embedding`` = |V| d;  ``head`` = |V| d (untied);  ``final_norm`` = d.
    - ``mixer``: xLSTM L (d H (2K + V) + 2 (d H + H) + 2 d H V), i.e. q, k, v, input and forget gate
      (weight + bias, one scalar per head), output gate and output projection (no other biases);
      Llama L (4 d^2): q, k, v and output projection, no biases.
    - ``ffn`` = L (3 d f): SwiGLU gate, up and down projections, no biases.
    - ``block_norms``: xLSTM L (2 d + H V): two pre-norm RMSNorm scales and the per-head norm scale;
      Llama L (2 d).

    The paper counts every one of these (upstream ``ParamCountConfig`` with norms, embedding and
    final-logit layer all on), and so does ``sum(p.numel())`` of the built module.
    """
    d, L, f, vocab = config.d_model, config.n_layers, config.d_ff, config.vocab_size
    if config.family == "xlstm":
        h = config.n_heads
        qkv = d * (2 * config.qk_dim + config.v_dim)
        gates = 2 * (d * h + h)
        out = 2 * d * config.v_dim  # output gate + output projection
        mixer = qkv + gates + out
        block_norms = 2 * d + config.v_dim
    else:
        mixer = 4 * d * d
        block_norms = 2 * d
    return {
        "embedding": vocab * d,
        "mixer": L * mixer,
        "ffn": L * 3 * d * f,
        "block_norms": L * block_norms,
        "final_norm": d,
        "head": vocab * d,
    }


def count_params(
    config: ModelConfig,
    *,
    embedding: bool = True,
    head: bool = True,
    norms: bool = True,
) -> int:
    """Total number of parameters N, as the paper counts it and as the module has it.

    Args:
        config: the model.
        embedding: count the input embedding (|V| d). The paper does.
        head: count the untied output head (|V| d). The paper does.
        norms: count the norm scales (block norms and final norm). The paper does.

    Returns:
        N as an exact int. With all flags on it equals the paper's ``N_params`` and the built module's
        ``sum(p.numel() for p in model.parameters())``. ``embedding=False`` gives the "non-embedding"
        count used by Kaplan et al.
    """
    parts = param_breakdown(config)
    total = parts["mixer"] + parts["ffn"]
    if embedding:
        total += parts["embedding"]
    if head:
        total += parts["head"]
    if norms:
        total += parts["block_norms"] + parts["final_norm"]
    return total
