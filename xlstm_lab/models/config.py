"""Model configuration: frozen, validated dataclasses shared by models and accounting (torch-free)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "Family",
    "FAMILIES",
    "BACKEND_NAMES",
    "ConfigError",
    "UnknownFamilyError",
    "IncompatibleShapeError",
    "ModelInputError",
    "XLSTMOptions",
    "LlamaOptions",
    "ModelConfig",
    "PAPER_FFN_PROJ_FACTOR",
    "default_d_ff",
    "finite_real",
]

Family = Literal["xlstm", "llama"]
FAMILIES: tuple[str, ...] = get_args(Family)

BACKEND_NAMES: tuple[str, ...] = ("auto", "triton", "torch_chunkwise", "torch_parallel", "torch_recurrent")
"""Values of ``XLSTMOptions.backend``: "auto" or a key of ``xlstm_lab.kernels.mlstm.BACKENDS`` (listed here so that
configs stay torch-free; a test checks that the two lists agree)."""

# The paper's runs use proj_factor 2.667 (not exactly 8/3): for d_model = 768 the xLSTM rounding
# ceil(768 * 2.667) = 2049 -> 2112, whereas 8/3 would give exactly 2048.
PAPER_FFN_PROJ_FACTOR = 2.667


class ConfigError(ValueError):
    """A model configuration is invalid; the message names the field and how to fix it."""


class UnknownFamilyError(ConfigError):
    """`family` is not one of the supported model families."""


class IncompatibleShapeError(ConfigError):
    """Sizes that must divide each other do not (e.g. d_model by n_heads)."""


class ModelInputError(ValueError):
    """Tokens or a decode state passed to a built model do not fit it (shape, dtype, batch, layers)."""


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


_MAX_SIZE = 2**53


def _int_field(owner: str, name: str, value: Any) -> int:
    """A positive whole number given as any integral type (int, numpy.int64, ...), returned as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(
            f"{owner}.{name} must be an int, got {value!r} ({type(value).__name__}); pass a whole number, e.g. "
            f"int(value)"
        )
    if value <= 0:
        raise ConfigError(f"{owner}.{name} must be positive, got {value!r}")
    if value > _MAX_SIZE:
        # the FLOP counts are float64: beyond 2**53 sizes stop being exact (and no model comes near)
        raise ConfigError(f"{owner}.{name}={value!r} exceeds 2**53; give a realistic size")
    return int(value)


def finite_real(label: str, value: Any) -> float:
    """``value`` as a Python float if it is a finite real number (numpy scalars too, not bools); else ConfigError
    naming ``label``. Shared by the configs and the accounting's argument checks."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{label} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float):
        raise ConfigError(f"{label} must be finite, got {value!r}")
    return as_float


def _real_field(owner: str, name: str, value: Any, *, positive: bool = True) -> float:
    """A finite real number (positive unless ``positive=False``), returned as a Python float."""
    as_float = finite_real(f"{owner}.{name}", value)
    if positive and not as_float > 0:
        raise ConfigError(f"{owner}.{name} must be positive, got {value!r}")
    return as_float


def _normalise(obj: object, values: dict[str, Any]) -> None:
    """Store validated (normalised) values on a frozen dataclass instance."""
    for name, value in values.items():
        object.__setattr__(obj, name, value)


def _choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {choices}, got {value!r}")


def _bias_range(value: Any) -> tuple[float, float]:
    """``fgate_bias_init``: a pair (low, high) of finite reals with low <= high."""
    owner = "XLSTMOptions.fgate_bias_init"
    try:
        pair = tuple(value) if not isinstance(value, (str, bytes)) else None
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2:
        raise ConfigError(f"{owner} must be a pair (low, high), e.g. (3.0, 6.0), got {value!r}")
    lo, hi = (_real_field(owner, part, x, positive=False) for part, x in zip(("low", "high"), pair, strict=True))
    if not lo <= hi:
        raise ConfigError(f"{owner} must be (low, high) with low <= high, got {(lo, hi)}")
    return lo, hi


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
    """Forget-gate biases are initialised linearly spaced over this (low, high) range across heads."""
    chunk_size: int = 64
    """Chunk size L of the chunkwise mLSTM kernel (also enters the paper's FLOP count): a power of two >= 16,
    the tile sizes the kernels take."""
    norm_eps: float = 1e-6
    """Epsilon of the RMS and per-head layer norms."""
    backend: str = "auto"
    """Kernel backend passed to ``xlstm_lab.kernels.mlstm``: one of :data:`BACKEND_NAMES`."""
    normalizer_grad: Literal["exact", "detached"] = "exact"
    """Cell gradient convention: "exact", or "detached" (the denominator as a constant, as the paper's
    kernels did); see ``xlstm_lab.kernels.mlstm``."""

    def __post_init__(self) -> None:
        owner = "XLSTMOptions"
        values: dict[str, Any] = {
            name: _real_field(owner, name, getattr(self, name))
            for name in ("qk_dim_factor", "v_dim_factor", "norm_eps")
        }
        values["igate_bias_init"] = _real_field(owner, "igate_bias_init", self.igate_bias_init, positive=False)
        values["fgate_bias_init"] = _bias_range(self.fgate_bias_init)
        for name in ("gate_soft_cap", "output_logit_soft_cap"):
            cap = getattr(self, name)
            values[name] = None if cap is None else _real_field(owner, name, cap)
        chunk = _int_field(owner, "chunk_size", self.chunk_size)
        if chunk < 16 or chunk & (chunk - 1):
            raise ConfigError(
                f"XLSTMOptions.chunk_size must be a power of two >= 16 (the chunkwise kernels tile by it), "
                f"got {chunk}; use 16, 32, 64 or 128"
            )
        values["chunk_size"] = chunk
        _choice(owner, "backend", self.backend, BACKEND_NAMES)
        _choice(owner, "normalizer_grad", self.normalizer_grad, ("exact", "detached"))
        _normalise(self, values)


@dataclass(frozen=True)
class LlamaOptions:
    """Options of the Llama-style Transformer family."""

    rope_theta: float = 10_000.0
    """Base of the rotary position embedding frequencies."""
    norm_eps: float = 1e-5
    """Epsilon of the RMS norms."""

    def __post_init__(self) -> None:
        names = ("rope_theta", "norm_eps")
        _normalise(self, {name: _real_field("LlamaOptions", name, getattr(self, name)) for name in names})


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one language model; everything the models and the accounting need.

    Derived sizes are properties. Use ``dataclasses.replace`` for variants. Sizes may be given as any integer
    type (``numpy.int64`` from a CSV included; not floats, not bools) and are stored as Python ints; options
    given as numpy numbers are stored as Python floats, so equal configs compare and hash equal.

    Raises:
        ConfigError: (or its subclasses ``UnknownFamilyError``, ``IncompatibleShapeError``) for any field that
            is invalid, with the field and the fix in the message.
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
        if not isinstance(self.family, str) or self.family not in FAMILIES:
            raise UnknownFamilyError(f"ModelConfig.family must be one of {FAMILIES}, got {self.family!r}")
        sizes = ("vocab_size", "d_model", "n_layers", "n_heads", "context_length")
        values = {name: _int_field("ModelConfig", name, getattr(self, name)) for name in sizes}
        if self.d_ff is None:
            values["d_ff"] = default_d_ff(self.family, values["d_model"])
        else:
            values["d_ff"] = _int_field("ModelConfig", "d_ff", self.d_ff)
        _normalise(self, values)
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
            if not math.isfinite(total) or total != int(total) or int(total) % self.n_heads:
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
