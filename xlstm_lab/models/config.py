"""Model configuration: frozen, validated dataclasses shared by models and accounting (torch-free)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "Family",
    "FAMILIES",
    "ConfigError",
    "UnknownFamilyError",
    "IncompatibleShapeError",
    "XLSTMOptions",
    "LlamaOptions",
    "ModelConfig",
    "PAPER_FFN_PROJ_FACTOR",
    "default_d_ff",
]

Family = Literal["xlstm", "llama"]
FAMILIES: tuple[str, ...] = get_args(Family)

# The paper's runs use proj_factor 2.667 (not exactly 8/3): for d_model = 768 the xLSTM rounding
# ceil(768 * 2.667) = 2049 -> 2112, whereas 8/3 would give exactly 2048.
PAPER_FFN_PROJ_FACTOR = 2.667


class ConfigError(ValueError):
    """A model configuration is invalid; the message names the field and how to fix it."""


class UnknownFamilyError(ConfigError):
    """`family` is not one of the supported model families."""


class IncompatibleShapeError(ConfigError):
    """Sizes that must divide each other do not (e.g. d_model by n_heads)."""


def default_d_ff(
    family: str,
    d_model: int,
    proj_factor: float = PAPER_FFN_PROJ_FACTOR,
    multiple_of: int = 64,
) -> int:
    """Feed-forward width as the paper's models derive it.

    xLSTM (``mlstm_v1``) rounds ``d_model * proj_factor`` up (ceil) before rounding up to a multiple of
    ``multiple_of``; the Llama implementation truncates (floor) first. Both then round up to the multiple.

    Args:
        family: "xlstm" or "llama".
        d_model: model width.
        proj_factor: d_ff / d_model before rounding (paper: 2.667).
        multiple_of: round up to a multiple of this (paper: 64).

    Returns:
        d_ff as an int.
    """
    if family not in FAMILIES:
        raise UnknownFamilyError(f"unknown family {family!r}; use one of {FAMILIES}")
    raw = d_model * proj_factor
    first = math.ceil(raw) if family == "xlstm" else math.floor(raw)
    return multiple_of * ((first + multiple_of - 1) // multiple_of)


def _check_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not value > 0:
            raise ConfigError(f"{owner}.{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class XLSTMOptions:
    """Options of the xLSTM (mLSTM + SwiGLU, xLSTM-7B style) family."""

    qk_dim_factor: float = 0.5
    """Total query/key width as a fraction of d_model (per head: qk_dim_factor * d_model / n_heads)."""
    v_dim_factor: float = 1.0
    """Total value width as a fraction of d_model."""
    gate_soft_cap: float | None = 15.0
    """Input/forget gate pre-activations are mapped to cap * tanh(x / cap); None disables."""
    output_logit_soft_cap: float | None = 30.0
    """Output logits are mapped to cap * tanh(x / cap); None disables."""
    igate_bias_init: float = -10.0
    """Initial input-gate bias (a strongly negative bias starts with tiny input gates)."""
    fgate_bias_init: tuple[float, float] = (3.0, 6.0)
    """Forget-gate biases are initialised linearly spaced over this range across heads."""
    chunk_size: int = 64
    """Chunk size of the chunkwise mLSTM kernel (also enters the paper's FLOP count)."""
    norm_eps: float = 1e-6
    """Epsilon of the RMS and per-head layer norms."""
    backend: str = "auto"
    """Kernel backend passed to ``xlstm_lab.kernels.mlstm``."""
    normalizer_grad: Literal["exact", "detached"] = "exact"
    """Cell gradient convention: "exact", or "detached" (the denominator as a constant, as the paper's
    kernels did); see ``xlstm_lab.kernels.mlstm``."""

    def __post_init__(self) -> None:
        _check_positive(
            "XLSTMOptions",
            qk_dim_factor=self.qk_dim_factor,
            v_dim_factor=self.v_dim_factor,
            chunk_size=self.chunk_size,
            norm_eps=self.norm_eps,
        )
        if self.normalizer_grad not in ("exact", "detached"):
            raise ConfigError(
                f"XLSTMOptions.normalizer_grad must be 'exact' or 'detached', got {self.normalizer_grad!r}"
            )
        lo, hi = self.fgate_bias_init
        if not lo <= hi:
            raise ConfigError(f"XLSTMOptions.fgate_bias_init must be (low, high) with low <= high, got {(lo, hi)}")
        for name in ("gate_soft_cap", "output_logit_soft_cap"):
            cap = getattr(self, name)
            if cap is not None and not cap > 0:
                raise ConfigError(f"XLSTMOptions.{name} must be positive or None, got {cap!r}")


@dataclass(frozen=True)
class LlamaOptions:
    """Options of the Llama-style Transformer family."""

    rope_theta: float = 10_000.0
    """Base of the rotary position embedding frequencies."""
    norm_eps: float = 1e-5
    """Epsilon of the RMS norms."""

    def __post_init__(self) -> None:
        _check_positive("LlamaOptions", rope_theta=self.rope_theta, norm_eps=self.norm_eps)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one language model; everything the models and the accounting need.

    Derived sizes are properties. Use ``dataclasses.replace`` for variants.
    """

    family: Family
    """"xlstm" (mLSTM + SwiGLU blocks) or "llama" (attention + SwiGLU blocks)."""
    vocab_size: int
    """Number of token ids (embedding rows and output logits)."""
    d_model: int
    """Residual-stream width."""
    n_layers: int
    """Number of residual blocks (each: sequence mixer then feed-forward)."""
    n_heads: int
    """Number of heads of the mLSTM cell or of the attention."""
    d_ff: int | None = None
    """SwiGLU hidden width; None derives it from d_model with :func:`default_d_ff`. After construction it is
    always an int, so ``dataclasses.replace(cfg, d_model=...)`` keeps the old width unless ``d_ff=None``."""
    context_length: int = 2048
    """Training sequence length in tokens (the FLOP counts default to it)."""
    xlstm: XLSTMOptions = field(default_factory=XLSTMOptions)
    """Family options used when family == "xlstm"."""
    llama: LlamaOptions = field(default_factory=LlamaOptions)
    """Family options used when family == "llama"."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UnknownFamilyError(f"ModelConfig.family must be one of {FAMILIES}, got {self.family!r}")
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "context_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"ModelConfig.{name} must be an int, got {value!r}")
        _check_positive(
            "ModelConfig",
            vocab_size=self.vocab_size,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            context_length=self.context_length,
        )
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", default_d_ff(self.family, self.d_model))
        elif not isinstance(self.d_ff, int) or isinstance(self.d_ff, bool) or self.d_ff <= 0:
            raise ConfigError(f"ModelConfig.d_ff must be a positive int or None, got {self.d_ff!r}")
        if not isinstance(self.xlstm, XLSTMOptions) or not isinstance(self.llama, LlamaOptions):
            raise ConfigError("ModelConfig.xlstm / .llama must be XLSTMOptions / LlamaOptions instances")
        if self.d_model % self.n_heads:
            raise IncompatibleShapeError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                f"pick n_heads among the divisors of d_model"
            )
        if self.family == "xlstm":
            self._check_xlstm_dims()
        elif self.head_dim % 2:
            raise IncompatibleShapeError(
                f"rotary embeddings need an even head dim, got d_model/n_heads={self.head_dim}"
            )

    def _check_xlstm_dims(self) -> None:
        for name, factor in (("qk", self.xlstm.qk_dim_factor), ("v", self.xlstm.v_dim_factor)):
            total = self.d_model * factor
            if total != int(total) or int(total) % self.n_heads:
                raise IncompatibleShapeError(
                    f"{name} width d_model*{name}_dim_factor={total} must be an integer divisible by "
                    f"n_heads={self.n_heads}; change n_heads or XLSTMOptions.{name}_dim_factor"
                )

    @property
    def head_dim(self) -> int:
        """d_model / n_heads (the Llama head dim; the mLSTM value head dim when v_dim_factor = 1)."""
        return self.d_model // self.n_heads

    @property
    def qk_dim(self) -> int:
        """Total query/key width over all heads."""
        if self.family == "xlstm":
            return int(self.d_model * self.xlstm.qk_dim_factor)
        return self.d_model

    @property
    def v_dim(self) -> int:
        """Total value width over all heads."""
        if self.family == "xlstm":
            return int(self.d_model * self.xlstm.v_dim_factor)
        return self.d_model

    @property
    def qk_head_dim(self) -> int:
        """Query/key dim per head, K (xLSTM: 0.5 * d_model / n_heads by default)."""
        return self.qk_dim // self.n_heads

    @property
    def v_head_dim(self) -> int:
        """Value dim per head, V (d_model / n_heads by default)."""
        return self.v_dim // self.n_heads

    @property
    def chunk_size(self) -> int | None:
        """mLSTM chunk size (None for the Transformer)."""
        return self.xlstm.chunk_size if self.family == "xlstm" else None
