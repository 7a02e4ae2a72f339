"""Argument checks of ``mlstm`` and ``mlstm_step``: shapes, dtypes, devices, options and states.

Every failure raises a subclass of :class:`~xlstm_lab.kernels.mlstm.errors.MLSTMError` whose message names the
argument and the fix. The dtype policy checked here: q, k, v share one floating dtype D (bf16, fp16, fp32 or
fp64); the gate pre-activations i, f share one dtype G with G = D, or G = float32 when D is 16-bit (models may
keep gates in fp32); state tensors are float32 or float64; every tensor lives on q's device.
"""

from __future__ import annotations

import math
import numbers
import operator
import os

import torch

from .errors import MLSTMBackendError, MLSTMDtypeError, MLSTMInputError
from .state import MLSTMState

__all__ = ["KERNEL_DTYPES", "FLOAT_DTYPES", "NORMALIZER_GRADS", "check_sequence", "check_step", "check_options",
           "check_chunk_size", "as_state", "triton_usable", "require_triton"]

KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # what the Triton kernels take
FLOAT_DTYPES = (*KERNEL_DTYPES, torch.float64)
NORMALIZER_GRADS = ("exact", "detached")
_STATE_DTYPES = (torch.float32, torch.float64)


def _tensors(**named) -> None:
    for name, x in named.items():
        if not isinstance(x, torch.Tensor):
            raise MLSTMInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}; convert it with "
                                  "torch.as_tensor(...)")


def _dtypes(q, k, v, i, f) -> None:
    qkv = {x.dtype for x in (q, k, v)}
    if len(qkv) != 1:
        raise MLSTMDtypeError(f"q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}; cast them to one "
                              "(e.g. k.to(q.dtype))")
    if q.dtype not in FLOAT_DTYPES:
        raise MLSTMDtypeError(f"q, k, v have dtype {q.dtype}; use one of bfloat16, float16, float32, float64")
    if i.dtype != f.dtype:
        raise MLSTMDtypeError(f"gates i and f must share one dtype, got {i.dtype} and {f.dtype}")
    ok = i.dtype == q.dtype or (i.dtype == torch.float32 and q.dtype in (torch.bfloat16, torch.float16))
    if not ok:
        raise MLSTMDtypeError(f"gates have dtype {i.dtype} but q has {q.dtype}: gates must be in q's dtype, or "
                              "float32 when q is bf16/fp16; cast them (i.to(q.dtype))")


def _devices(device: torch.device, **named) -> None:
    for name, x in named.items():
        if x.device != device:
            raise MLSTMInputError(f"{name} is on {x.device} but q is on {device}; move every input to one device")


def check_sequence(q, k, v, i, f) -> tuple[int, int, int, int, int]:
    """Check the inputs of ``mlstm`` and return (B, H, T, K, V)."""
    _tensors(q=q, k=k, v=v, i=i, f=f)
    if q.dim() != 4 or k.shape != q.shape:
        raise MLSTMInputError(f"q and k must both be (B, H, T, K); got {tuple(q.shape)} and {tuple(k.shape)}")
    B, H, T, K = q.shape
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, H, T):
        raise MLSTMInputError(f"v must be (B, H, T, V) = ({B}, {H}, {T}, V); got {tuple(v.shape)}")
    for name, g in (("i", i), ("f", f)):
        if tuple(g.shape) != (B, H, T):
            raise MLSTMInputError(f"gate {name} must be (B, H, T) = {(B, H, T)}; got {tuple(g.shape)}")
    if T == 0:
        raise MLSTMInputError("empty sequence (T = 0): call mlstm only with T >= 1")
    V = v.shape[-1]
    if 0 in (B, H, K, V):
        raise MLSTMInputError(f"(B, H, K, V) = {(B, H, K, V)} has an empty dimension; every size must be >= 1")
    _dtypes(q, k, v, i, f)
    _devices(q.device, k=k, v=v, i=i, f=f)
    return B, H, T, K, V


def check_step(q, k, v, i, f) -> tuple[int, int, int, int]:
    """Check the inputs of ``mlstm_step`` and return (B, H, K, V)."""
    _tensors(q=q, k=k, v=v, i=i, f=f)
    if q.dim() != 3 or k.shape != q.shape or v.dim() != 3 or tuple(v.shape[:2]) != tuple(q.shape[:2]):
        raise MLSTMInputError(f"mlstm_step wants q, k (B,H,K) and v (B,H,V); got {tuple(q.shape)}, "
                              f"{tuple(k.shape)}, {tuple(v.shape)} (for a sequence use mlstm)")
    B, H, K = q.shape
    for name, g in (("i", i), ("f", f)):
        if tuple(g.shape) != (B, H):
            raise MLSTMInputError(f"gate {name} must be (B, H) = {(B, H)}; got {tuple(g.shape)}")
    V = v.shape[-1]
    if 0 in (B, H, K, V):
        raise MLSTMInputError(f"(B, H, K, V) = {(B, H, K, V)} has an empty dimension; every size must be >= 1")
    _dtypes(q, k, v, i, f)
    _devices(q.device, k=k, v=v, i=i, f=f)
    return B, H, K, V


def check_chunk_size(chunk_size) -> int:
    """A power of two >= 16 (what the Triton kernels tile by), so a config runs alike on every backend."""
    if isinstance(chunk_size, bool):
        raise MLSTMInputError(f"chunk_size={chunk_size!r}: give an integer power of two >= 16 (e.g. 64)")
    try:
        L = operator.index(chunk_size)
    except TypeError:
        raise MLSTMInputError(f"chunk_size={chunk_size!r} is not an integer; give a power of two >= 16 "
                              "(e.g. 64)") from None
    if L < 16 or L & (L - 1):
        raise MLSTMInputError(f"chunk_size={L}: the chunkwise backends need a power of two >= 16 (16, 32, 64, 128)")
    return L


def check_options(*, backend, normalizer_grad, eps, return_last_state, split_operands, backends,
                  kind: str = "mLSTM") -> float:
    """Check the keyword options shared by ``mlstm`` and ``mlstm_step``; returns eps as a float."""
    if not isinstance(backend, str) or (backend != "auto" and backend not in backends):
        raise MLSTMInputError(f"unknown {kind} backend {backend!r}; choose 'auto' or one of {sorted(backends)}")
    if not isinstance(normalizer_grad, str) or normalizer_grad not in NORMALIZER_GRADS:
        raise MLSTMInputError(f"normalizer_grad={normalizer_grad!r}; use one of {NORMALIZER_GRADS}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps < 0:
        raise MLSTMInputError(f"eps={eps!r}: give a finite number >= 0 (default 1e-6; 0 makes the 'exact' "
                              "gradient the true gradient, see the module docstring)")
    if not isinstance(return_last_state, int) or return_last_state not in (0, 1):  # bool is an int
        raise MLSTMInputError(f"return_last_state={return_last_state!r}: give True or False")
    if split_operands is not None and not isinstance(split_operands, bool):
        raise MLSTMInputError(f"split_operands={split_operands!r}: give None (the default), True or False")
    return float(eps)


def as_state(state, B: int, H: int, K: int, V: int, device: torch.device, name: str) -> MLSTMState:
    """An ``MLSTMState`` (or a plain (C, n, m) tuple) checked against (B, H, K, V) and the device."""
    if isinstance(state, (tuple, list)) and not isinstance(state, MLSTMState) and len(state) == 3:
        state = MLSTMState(*state)
    if not isinstance(state, MLSTMState):
        raise MLSTMInputError(f"{name} must be an MLSTMState(C, n, m) or a (C, n, m) tuple, got "
                              f"{type(state).__name__}; start from MLSTMState.zeros(B, H, K, V)")
    _tensors(**{f"{name}.{n}": x for n, x in zip("Cnm", state, strict=True)})
    state.validate(B, H, K, V)
    for n, x in zip("Cnm", state, strict=True):
        if x.dtype not in _STATE_DTYPES:
            raise MLSTMDtypeError(f"{name}.{n} has dtype {x.dtype}; states are float32 (float64 for float64 "
                                  "runs): cast with .float()")
    _devices(device, **{f"{name}.{n}": x for n, x in zip("Cnm", state, strict=True)})
    return state


def triton_usable(device: torch.device) -> bool:
    """Triton kernels run on CUDA tensors, or on CPU tensors under the interpreter (TRITON_INTERPRET=1)."""
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def require_triton(q: torch.Tensor, what: str) -> None:
    """Raise unless the Triton kernels can take q (device and dtype)."""
    if q.dtype not in KERNEL_DTYPES:
        raise MLSTMDtypeError(f"the Triton {what} takes fp32/bf16/fp16 inputs, got {q.dtype}; use a torch backend "
                              "for float64")
    if not triton_usable(q.device):
        raise MLSTMBackendError(f"the Triton {what} needs a CUDA tensor (or TRITON_INTERPRET=1 for CPU tests); "
                                f"q is on {q.device}: use backend='auto' or a torch backend")
