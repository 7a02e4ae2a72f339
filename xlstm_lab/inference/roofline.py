"""This machine's roofline, measured live: peak matmul FLOP/s and copy bandwidth (CPU, or GPU when there is one).

The runtime model's alpha_eff and beta_eff are then fractions of what this machine did in a plain matmul and a
plain copy, not only of a datasheet. Both are best-of-n rates (the ceiling reached, not the typical rate).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from xlstm_lab.inference.errors import InferenceInputError
from xlstm_lab.inference.generate import DTYPES

__all__ = ["Roofline", "synchronize", "matmul_flops_per_s", "copy_bytes_per_s", "measure_roofline"]


@dataclass(frozen=True)
class Roofline:
    """Measured ceilings of one device.

    Attributes:
        device: "cpu" or "cuda" (with the device name in ``device_name``).
        dtype: matmul dtype ("float32", "bfloat16").
        peak_flops: FLOP/s of an n x n x n matmul (2 n^3 FLOPs), best of the repeats.
        bandwidth: B/s of a tensor copy (bytes read + bytes written), best of the repeats.
        matmul_n: the matmul size n.
        copy_bytes: size of the copied tensor, bytes.
    """

    device: str
    device_name: str
    dtype: str
    peak_flops: float
    bandwidth: float
    matmul_n: int
    copy_bytes: int

    @property
    def critical_intensity(self) -> float:
        """FLOP per byte at the ridge: peak_flops / bandwidth."""
        return self.peak_flops / self.bandwidth

    def to_dict(self) -> dict[str, object]:
        """Fields plus ``critical_intensity``, as plain values."""
        return {**asdict(self), "critical_intensity": self.critical_intensity}


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on the CPU), so wall-clock timers see finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(fn, device: torch.device, repeats: int, inner: int) -> float:
    fn()  # warm-up (allocation, kernel selection)
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        synchronize(device)
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def _device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InferenceInputError("device 'cuda' asked for but torch sees no CUDA device; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InferenceInputError(f"unsupported device {device!r}; use 'cpu' or 'cuda'")
    return dev


def matmul_flops_per_s(device: str = "cpu", dtype: str = "float32", n: int = 1024, repeats: int = 5,
                       inner: int = 2) -> float:
    """Best FLOP/s of ``a @ b`` with a, b of n x n in ``dtype`` (2 n^3 FLOPs a call)."""
    dev = _device(device)
    if dtype not in DTYPES:
        raise InferenceInputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dev, DTYPES[dtype])
    b = torch.randn(n, n, generator=gen).to(dev, DTYPES[dtype])
    with torch.inference_mode():
        return 2.0 * n**3 / _best_time(lambda: a @ b, dev, repeats, inner)


def copy_bytes_per_s(device: str = "cpu", nbytes: int = 64 * 2**20, repeats: int = 5, inner: int = 2) -> float:
    """Best B/s of ``dst.copy_(src)`` for float32 tensors of ``nbytes`` (2 x nbytes moved a call: read + write).

    Use a size well above the last-level cache (64 MiB by default) so the copy measures memory, not cache.
    """
    dev = _device(device)
    numel = max(int(nbytes) // 4, 1)
    src = torch.ones(numel, device=dev)
    dst = torch.empty_like(src)
    return 2.0 * numel * 4 / _best_time(lambda: dst.copy_(src), dev, repeats, inner)


def measure_roofline(device: str = "cpu", dtype: str = "float32", *, matmul_n: int | None = None,
                     copy_bytes: int | None = None, repeats: int = 5) -> Roofline:
    """Measure peak matmul FLOP/s and copy bandwidth of ``device`` now (about a second on a CPU).

    Defaults: n = 1024 on the CPU, 8192 on a GPU; 64 MiB copied on the CPU, 1 GiB on a GPU.
    """
    dev = _device(device)
    gpu = dev.type == "cuda"
    n = matmul_n or (8192 if gpu else 1024)
    nbytes = copy_bytes or (2**30 if gpu else 64 * 2**20)
    name = torch.cuda.get_device_name(dev) if gpu else "cpu"
    return Roofline(device=dev.type, device_name=name, dtype=dtype,
                    peak_flops=matmul_flops_per_s(device, dtype, n, repeats, inner=10 if gpu else 2),
                    bandwidth=copy_bytes_per_s(device, nbytes, repeats, inner=10 if gpu else 2),
                    matmul_n=n, copy_bytes=nbytes)
