"""Where a run ran: a device description and the versions of the software that trained it."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

import torch

from xlstm_lab.train.spec import TRAIN_CODE_VERSION

__all__ = ["cpu_model", "describe_device", "versions"]


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), read once."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_device(device: torch.device, world_size: int = 1) -> str:
    """E.g. ``"cpu (AMD EPYC 7B13, 2 threads)"`` or ``"cuda (NVIDIA H100 80GB HBM3) x 2 ranks"``."""
    if device.type == "cuda":
        text = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        text = f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"
    return text if world_size == 1 else f"{text} x {world_size} ranks"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """torch, triton (when installed), numpy, python, xlstm_lab and the training-code version (a fresh dict)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    import numpy

    import xlstm_lab

    out = {"torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
           "xlstm_lab": xlstm_lab.__version__, "train_code_version": TRAIN_CODE_VERSION}
    triton = _version("triton")
    if triton:
        out["triton"] = triton
    if torch.version.cuda:
        out["cuda"] = torch.version.cuda
    return out
