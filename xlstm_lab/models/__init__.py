"""Models of both families (xLSTM, Llama) behind one config; torch is imported only when a model is built.

``ModelConfig``, the options and the named shapes are torch-free (``xlstm_lab.accounting`` uses them);
``build_model`` and the module classes are loaded lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xlstm_lab.models.config import (
    BACKEND_NAMES,
    FAMILIES,
    ConfigError,
    IncompatibleShapeError,
    LlamaOptions,
    ModelConfig,
    ModelInputError,
    UnknownFamilyError,
    XLSTMOptions,
    default_d_ff,
)
from xlstm_lab.models.shapes import (
    ShapeNotFoundError,
    config_from_inference_row,
    config_from_runs_row,
    get_shape,
    list_shapes,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "FAMILIES",
    "BACKEND_NAMES",
    "ConfigError",
    "IncompatibleShapeError",
    "UnknownFamilyError",
    "ModelInputError",
    "ShapeNotFoundError",
    "ModelConfig",
    "XLSTMOptions",
    "LlamaOptions",
    "default_d_ff",
    "get_shape",
    "list_shapes",
    "config_from_runs_row",
    "config_from_inference_row",
    "build_model",
    "XLSTMModel",
    "LlamaModel",
    "KVCache",
    "RecurrentState",
]

_LAZY = {
    "XLSTMModel": "xlstm_lab.models.xlstm",
    "LlamaModel": "xlstm_lab.models.llama",
    "KVCache": "xlstm_lab.models.state",
    "RecurrentState": "xlstm_lab.models.state",
}


def build_model(config: ModelConfig) -> torch.nn.Module:
    """Instantiate the model for ``config`` (on the current default device; use ``with torch.device("meta")``
    to build a large model without memory).

    The module has ``forward(tokens) -> logits``, ``prefill(tokens, state=None) -> (logits, state)``,
    ``init_state(batch)`` and ``step(tokens_t, state) -> (logits_t, state)``.
    """
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"build_model needs a ModelConfig, got {type(config).__name__}")
    if config.family == "xlstm":
        from xlstm_lab.models.xlstm import XLSTMModel

        return XLSTMModel(config)
    from xlstm_lab.models.llama import LlamaModel

    return LlamaModel(config)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xlstm_lab.models' has no attribute {name!r}")
