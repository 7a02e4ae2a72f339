"""FLOP counts in the paper's convention (training), the 6ND and Chinchilla variants, and prefill FLOPs.

Notation: T sequence length, d = d_model, f = d_ff, |V| vocabulary, L_b blocks, H heads, K / V the
query-key / value head dims, L the mLSTM chunk size, n_c = floor(T / L) chunks. A multiply-add is 2 FLOPs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

from xlstm_lab.accounting.validation import check_config, nonnegative_real, whole_count
from xlstm_lab.models.config import ConfigError, ModelConfig

__all__ = [
    "Convention",
    "SequenceFlops",
    "flops_per_sequence",
    "training_flops",
    "flops_6nd",
    "mlstm_cell_flops",
    "attention_core_flops",
    "prefill_flops",
]

Convention = Literal["paper", "chinchilla"]
MLSTMMode = Literal["first", "tfla"]

# The paper's backward pass costs twice the forward pass ("total_factor_2"): fw+bw = 3 fw.
BACKWARD_FACTOR = 2.0


@dataclass(frozen=True)
class SequenceFlops:
    """FLOPs for one sequence of ``context`` tokens, split as the paper splits them (forward pass).

    Attributes:
        context: tokens in the sequence.
        linear: projections, FFN matmuls and the final logits (the "6N-like" part); for the xLSTM also the
            output gate's sigmoid (T H V per block), which the paper's code books with the output-gate
            projection (upstream ``count_flops_mlstm_v1_layer_fw``: ``ogate_flops`` is part of ``linear``).
        seq_mix: attention core or mLSTM cell (the context-dependent part).
        other: the SwiGLU's elementwise work, SiLU and the product of its two branches (2 T f per block),
            which upstream's FFN count calls ``gate_flops``; norms, skips and the embedding lookup count 0
            by convention.

    Only ``forward`` (= linear + seq_mix + other) and ``seq_mix`` are published per run (runs.csv), so the
    split between ``linear`` and ``other`` cannot be checked against the paper's numbers; it follows the
    paper's code.
    """

    context: int
    linear: float
    seq_mix: float
    other: float

    @property
    def forward(self) -> float:
        """Forward-pass FLOPs (the paper's ``flops_fw_per_sequence``)."""
        return self.linear + self.seq_mix + self.other

    @property
    def forward_backward(self) -> float:
        """Forward + backward FLOPs = 3 x forward (the paper's ``flops_fwbw_per_sequence``)."""
        return (1.0 + BACKWARD_FACTOR) * self.forward

    @property
    def seq_mix_ratio(self) -> float:
        """Share of the sequence-mix FLOPs in the total (the paper's ``seq_mix_flop_ratio``)."""
        return self.seq_mix / self.forward

    @property
    def per_token(self) -> float:
        """Forward + backward FLOPs per training token."""
        return self.forward_backward / self.context


def attention_core_flops(
    config: ModelConfig, context: int, mode: Literal["distill_scaling", "chinchilla"] = "distill_scaling"
) -> float:
    """FLOPs of the attention core (scores, softmax, weighted values) for one sequence, one layer.

    - ``distill_scaling`` (causal, the paper's default; Busbridge et al. 2025):
      T^2 H K + 2.5 H T^2 + T^2 H V  (half the dense matmuls; softmax 2.5 per causal score).
    - ``chinchilla`` (non-causal, Hoffmann et al. 2022): 2 T^2 H K + 3 H T^2 + 2 T^2 H V.
    """
    check_config(config, "attention_core_flops")
    t2 = float(whole_count("context", context, minimum=1)) ** 2
    h, k, v = config.n_heads, config.qk_head_dim, config.v_head_dim
    if mode == "distill_scaling":
        return t2 * h * k + 2.5 * h * t2 + t2 * h * v
    if mode == "chinchilla":
        return 2.0 * t2 * h * k + 3.0 * h * t2 + 2.0 * t2 * h * v
    raise ConfigError(f"attention mode must be 'distill_scaling' or 'chinchilla', got {mode!r}")


def _mlstm_cell_first(n_c: float, L: float, h: int, k: int, v: int) -> float:
    """The paper's "first" chunkwise count (chunk 64, full intra-chunk matrices), exp/max/mask/abs = 1 FLOP."""
    # inter-chunk states C, n (recurrent over chunks)
    gates = L * (L + 1) / 2 + 2 * L  # cumulative log forget gates within the chunk
    gates_max_state = 5 + 5 * L  # 3 + max + exp + L (3 + 2 exp)
    numerator = 2 * k * v + 4 * L * k * v + 3 * L * k
    denominator = 2 * k + 4 * L * k
    # intra-chunk outputs (parallel inside the chunk) and their combination with the inter part
    gate_matrix = L * (L + 1) / 2 + 6 * L * L + 2 * L  # L^2 (3 + mask + max + exp) + L (1 + max)
    scores = 2 * L * L * k + 2 * L * L
    h_intra = 2 * L * L * v
    n_intra = 2 * L * L
    combine = 2 * L + 5 * L + 2 * L * v  # L (1 + max) + L (2 + abs + exp + max) + 2 L V
    per_chunk = gates + gates_max_state + numerator + denominator + gate_matrix + scores + h_intra + n_intra + combine
    return float(h) * n_c * per_chunk


def _mlstm_cell_tfla(n_c: float, L: float, h: int, k: int, v: int, causal_factor: float) -> float:
    """The cleaner "tfla" count: intra-chunk work scaled by ``causal_factor`` when L > 64."""
    recurrent = (2 * L + L * (L + 1) / 2 + 4 * L + 5) + (2 * k * v + 2 * L * k * v + L * k) + (2 * k + 2 * L * k)
    intra = (L * L * 5 + 2 * L) + (2 * L * L * (k + v) + 3 * L * L)
    if L > 64:  # TFLA kernels skip the masked half of large chunks
        intra *= causal_factor
    cum_fgates = L * (L + 1) / 2 + 2 * L
    inter = 2 * L * k * v + 3 * L * k
    combine = 2 * L * v + 4 * L
    return float(h) * n_c * (recurrent + intra + cum_fgates + inter + combine)


def _causal_factor(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
        raise ConfigError(f"causal_factor must be a number in (0, 1] (the share of an intra-chunk matrix a "
                          f"kernel computes; upstream uses 0.75), got {value!r}")
    return float(value)


def mlstm_cell_flops(
    config: ModelConfig,
    context: int,
    mode: MLSTMMode = "first",
    causal_factor: float = 0.75,
) -> float:
    """Forward FLOPs of the chunkwise mLSTM cell for one sequence, one layer; linear in T.

    Per head and chunk (n_c = floor(T / L) chunks), with exp, log, sigmoid, max, mask, abs = 1 FLOP each:

    - ``first`` (the paper's training count): states C, n: L(L+1)/2 + 2L (cumulative gates) + 5 + 5L
      (state gates and max) + 2KV + 4LKV + 3LK (numerator) + 2K + 4LK (denominator); outputs:
      L(L+1)/2 + 6L^2 + 2L (gate matrix) + 2L^2 K + 2L^2 (scores) + 2L^2 V (h) + 2L^2 (n) + 7L + 2LV
      (combination). No causal factor.
    - ``tfla``: the recomputed count of the TFLA kernels; the intra-chunk matrices are multiplied by
      ``causal_factor`` when L > 64.
    """
    if check_config(config, "mlstm_cell_flops").family != "xlstm":
        raise ConfigError("mlstm_cell_flops needs an xlstm config")
    L = config.xlstm.chunk_size
    n_c = float(whole_count("context", context, minimum=1) // L)
    h, k, v = config.n_heads, config.qk_head_dim, config.v_head_dim
    if mode == "first":
        return _mlstm_cell_first(n_c, float(L), h, k, v)
    if mode == "tfla":
        return _mlstm_cell_tfla(n_c, float(L), h, k, v, _causal_factor(causal_factor))
    raise ConfigError(f"mLSTM FLOP mode must be 'first' or 'tfla', got {mode!r}")


def _ffn(config: ModelConfig, t: float) -> tuple[float, float]:
    """SwiGLU: linear 4 T d f (gate + up) + 2 T d f (down); other 2 T f (SiLU + product)."""
    d, f = config.d_model, config.d_ff
    return 6.0 * t * d * f, 2.0 * t * f


def flops_per_sequence(
    config: ModelConfig,
    context: int | None = None,
    *,
    convention: Convention = "paper",
    mlstm_mode: MLSTMMode | None = None,
    causal_factor: float | None = None,
    include_embedding: bool = False,
) -> SequenceFlops:
    """Training FLOPs for one sequence, reproducing the paper's ``flops_fw/fwbw_per_sequence`` columns.

    Per block (T tokens), with the FFN width already rounded to a multiple of 64 as the model rounds it:

    - xLSTM mixer, linear: 2 T d H (2K + V + 2) (q, k, v, input and forget gates) + 2 T d H V + T H V
      (output gate with its sigmoid) + 2 T d H V (output projection); seq-mix: ``mlstm_cell_flops``.
    - Llama mixer, linear: 2 T d H (2K + V) + 2 T d H V; seq-mix: ``attention_core_flops``.
    - FFN (both): linear 6 T d f, other 2 T f.

    Per model: L_b x block + 2 T d |V| (final logits). Norms, skips and the embedding lookup count 0;
    the backward pass counts 2x the forward pass.

    Args:
        config: the model.
        context: sequence length T (default: ``config.context_length``).
        convention: "paper" (causal attention, ``distill_scaling``) or "chinchilla" (non-causal attention
            core as in Hoffmann et al.; the paper's ``isoflop_flops_chinchilla`` runs were planned with it).
            The mLSTM cell is counted the same way in both.
        mlstm_mode: xLSTM only: "first" (the paper's training count; what None means) or "tfla".
        causal_factor: xLSTM only: intra-chunk factor of the "tfla" mode for chunks > 64 (None: 0.75).
        include_embedding: also count the embedding as a matmul (2 T d |V|), as the Chinchilla paper does.

    Returns:
        SequenceFlops with ``forward``, ``forward_backward``, ``seq_mix_ratio``.

    Raises:
        ConfigError: a context that is not a whole number >= 1 (it is never truncated), an unknown convention
            or mode, or ``mlstm_mode`` / ``causal_factor`` given for a Llama config (it has no mLSTM cell, so
            they would be ignored).
    """
    check_config(config, "flops_per_sequence")
    t = whole_count("context", context if context is not None else config.context_length, minimum=1)
    if config.family != "xlstm" and (mlstm_mode is not None or causal_factor is not None):
        raise ConfigError(
            f"mlstm_mode / causal_factor apply to the xLSTM's mLSTM cell, but this is a {config.family} config; "
            f"leave them unset (the attention count follows `convention`)"
        )
    if convention not in ("paper", "chinchilla"):
        raise ConfigError(f"convention must be 'paper' or 'chinchilla', got {convention!r}")
    tf = float(t)
    d, h, k, v = config.d_model, config.n_heads, config.qk_head_dim, config.v_head_dim
    if config.family == "xlstm":
        mixer_linear = 2 * tf * d * h * (2 * k + v + 2) + (2 * tf * d * h * v + tf * h * v) + 2 * tf * d * h * v
        seq_mix = mlstm_cell_flops(
            config, t, mlstm_mode or "first", 0.75 if causal_factor is None else causal_factor
        )
    else:
        mixer_linear = 2 * tf * d * h * (2 * k + v) + 2 * tf * d * h * v
        mode = "distill_scaling" if convention == "paper" else "chinchilla"
        seq_mix = attention_core_flops(config, t, mode)
    ffn_linear, ffn_other = _ffn(config, tf)
    lm_matmul = 2 * tf * config.vocab_size * d
    n = config.n_layers
    linear = n * (mixer_linear + ffn_linear) + lm_matmul * (2 if include_embedding else 1)
    return SequenceFlops(context=t, linear=linear, seq_mix=n * seq_mix, other=n * ffn_other)


def training_flops(config: ModelConfig, tokens: float, context: int | None = None, **kwargs) -> float:
    """Training compute C for ``tokens`` tokens in sequences of ``context`` (paper convention by default).

    C = flops_fwbw_per_sequence x tokens / context (= per sequence x batch x steps). ``tokens`` (D) may be
    any finite number >= 0, or NaN for a missing value (a failed run's D), which gives NaN; ``context`` must be
    a whole number. Keyword arguments go to :func:`flops_per_sequence`.
    """
    missing = isinstance(tokens, numbers.Real) and not isinstance(tokens, bool) and math.isnan(tokens)
    d = math.nan if missing else nonnegative_real("tokens", tokens)
    seq = flops_per_sequence(config, context, **kwargs)
    return seq.forward_backward * d / seq.context


def flops_6nd(n_params: float, tokens: float) -> float:
    """The Kaplan et al. approximation C = 6 N D (2 N D forward, 4 N D backward)."""
    return 6.0 * float(n_params) * float(tokens)


# ---------------------------------------------------------------------------------------------------------
# Inference: the upstream runtime model's prefill count (model_accounting/flops in NX-AI/xlstm_scaling_laws).
# It differs from the training count: norms (3 FLOPs/elem), skips (1), gate biases are counted, the attention
# causal factor is 0.65 with 5 FLOPs per softmax entry, chunks are T / L (not floored), and only the last
# token's logits are computed.
_F_NORM, _F_SKIP, _ATTN_CAUSAL, _ATTN_SOFTMAX = 3.0, 1.0, 0.65, 5.0


def _backbone_per_token(config: ModelConfig) -> float:
    """Per-token FLOPs of all blocks except the sequence-mix core (runtime-model convention)."""
    h, k, v, f = config.n_heads, config.qk_head_dim, config.v_head_dim, config.d_ff
    d = h * v  # the runtime model writes d_model as H * V
    norm_skip = d * (_F_SKIP + _F_NORM)
    ffn = norm_skip + 6 * d * f + 2 * f
    if config.family == "xlstm":
        mixer = norm_skip + 2 * d * h * (2 * k + v) + (2 * d * h + 2 * h) + (2 * d * h * v + h * v)
        mixer += h * v * _F_NORM + 2 * d * h * v
    else:
        mixer = norm_skip + 2 * d * (3 * h * k) + 2 * d * h * v
    return config.n_layers * (mixer + ffn)


def _mlstm_cell_prefill(config: ModelConfig, t: float, causal_factor: float) -> float:
    """Chunkwise mLSTM cell, runtime-model convention: per head, T / L chunks (fractional allowed)."""
    L = float(config.xlstm.chunk_size)
    h, k, v = config.n_heads, config.qk_head_dim, config.v_head_dim
    recurrent = (2 * L + L * (L + 1) / 2 + 4 * L + 5) + (2 * k * v + 2 * L * k * v + L * k) + (2 * k + 2 * L * k)
    intra = L * (L + 1) / 2 + 2 * L + causal_factor * (5 * L * L + 2 * L + 2 * L * L * (k + v) + 3 * L * L)
    inter = 2 * L * k * v + 3 * L * k
    combine = 2 * L * v + 4 * L
    return h * (t / L) * (recurrent + intra + inter + combine)


def prefill_flops(
    config: ModelConfig,
    tokens: int,
    batch: int = 1,
    *,
    convention: Literal["runtime_model", "training"] = "runtime_model",
    mlstm_causal_factor: float | None = None,
) -> float:
    """FLOPs to prefill ``tokens`` prompt tokens for ``batch`` sequences (time-to-first-token work).

    ``runtime_model`` (default) is the count of the paper's inference runtime model (TTFT ~ FLOPs / alpha +
    eps): batch x [T x backbone_per_token + L_b x core(T) + 2 d |V|], with norms and skips counted,
    attention core 2 x 0.65 x T^2 H (K + V + 2.5), the chunkwise mLSTM with causal factor 0.75 on the
    intra-chunk matrices, and logits for the last token only. ``training`` is batch x the forward pass of
    :func:`flops_per_sequence` (logits for every token).

    Args:
        config: the model.
        tokens: prompt length T, a whole number >= 0 (never truncated).
        batch: sequences, a whole number >= 1.
        convention: "runtime_model" or "training".
        mlstm_causal_factor: xLSTM, runtime model only: share of the intra-chunk matrices computed (None:
            0.75, upstream's value). Giving it for a Llama config raises.
    """
    check_config(config, "prefill_flops")
    n_tokens = whole_count("tokens", tokens)
    n_seq = whole_count("batch", batch, minimum=1)
    if config.family != "xlstm" and mlstm_causal_factor is not None:
        raise ConfigError(f"mlstm_causal_factor applies to the xLSTM's mLSTM cell, but this is a {config.family} "
                          f"config; leave it unset")
    if convention == "training":
        if mlstm_causal_factor is not None:
            raise ConfigError("mlstm_causal_factor belongs to the runtime-model count; the training count has none")
        return n_seq * flops_per_sequence(config, n_tokens).forward if n_tokens else 0.0
    if convention != "runtime_model":
        raise ConfigError(f"convention must be 'runtime_model' or 'training', got {convention!r}")
    t = float(n_tokens)
    if config.family == "xlstm":
        factor = 0.75 if mlstm_causal_factor is None else _causal_factor(mlstm_causal_factor)
        core = _mlstm_cell_prefill(config, t, factor)
    else:
        h, k, v = config.n_heads, config.qk_head_dim, config.v_head_dim
        core = 2 * _ATTN_CAUSAL * t * t * h * (k + v + 0.5 * _ATTN_SOFTMAX)
    last_logits = 2.0 * config.n_heads * config.v_head_dim * config.vocab_size
    return float(n_seq) * (t * _backbone_per_token(config) + config.n_layers * core + last_logits)
