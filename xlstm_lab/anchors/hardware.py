"""Accelerator peak compute and memory bandwidth (vendor datasheets and our H100 measurements), for roofline models."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["HARDWARE", "Hardware", "critical_intensity"]


@dataclass(frozen=True)
class Hardware:
    """One accelerator (per chip / per GPU).

    Attributes:
        name: product name.
        peak_flops: peak dense bf16 matrix throughput in FLOP/s (no structured sparsity).
        bandwidth: peak memory (HBM/GDDR) bandwidth in bytes/s.
        source: datasheet or measurement the two figures come from.
        measured: True for ceilings measured by this project rather than vendor peaks.
        note: caveats.
    """

    name: str
    peak_flops: float
    bandwidth: float
    source: str
    measured: bool = False
    note: str = ""

    @property
    def critical_intensity(self) -> float:
        """Arithmetic intensity (FLOP/byte) where compute and memory time are equal: peak_flops / bandwidth."""
        return self.peak_flops / self.bandwidth


_H100_CARD = "xlstm_lab/anchors/data/gpu_h100/SOURCE.md section C (bf16 matmul 8192^3; 1 GiB D2D copy)"

HARDWARE: Mapping[str, Hardware] = MappingProxyType(
    {
        "a100-sxm-80gb": Hardware(
            "NVIDIA A100 SXM 80GB", 312e12, 2.039e12,
            "NVIDIA A100 Tensor Core GPU datasheet (BF16 Tensor Core 312 TFLOPS dense; 80GB SXM 2,039 GB/s)",
        ),
        "h100-sxm": Hardware(
            "NVIDIA H100 SXM", 989e12, 3.35e12,
            "NVIDIA H100 Tensor Core GPU datasheet (BF16 Tensor Core 1,979 TFLOPS with sparsity = 989 dense; "
            "H100 SXM 3.35 TB/s)",
        ),
        "h200": Hardware(
            "NVIDIA H200 SXM", 989e12, 4.8e12,
            "NVIDIA H200 Tensor Core GPU datasheet (BF16 1,979 TFLOPS with sparsity = 989 dense; 4.8 TB/s)",
        ),
        "b200": Hardware(
            "NVIDIA B200 (HGX)", 2.25e15, 8e12,
            "NVIDIA HGX B200 specifications (FP16/BF16 Tensor Core 4.5 PFLOPS with sparsity per GPU = 2.25 dense; "
            "HBM3e 8 TB/s at launch)",
            note="later HGX B200 spec tables list 7.7 TB/s per GPU",
        ),
        "mi300x": Hardware(
            "AMD Instinct MI300X", 1.3074e15, 5.3e12,
            "AMD Instinct MI300X data sheet (peak BF16 1307.4 TFLOPS dense; HBM3 5.3 TB/s)",
        ),
        "tpu-v5e": Hardware(
            "Google Cloud TPU v5e", 197e12, 0.819e12,
            "Google Cloud TPU v5e documentation, cloud.google.com/tpu/docs/v5e (197 TFLOPs bf16; HBM2 819 GBps)",
        ),
        "tpu-v5p": Hardware(
            "Google Cloud TPU v5p", 459e12, 2.765e12,
            "Google Cloud TPU v5p documentation, cloud.google.com/tpu/docs/v5p (459 TFLOPs bf16; HBM2e 2765 GBps)",
        ),
        "l4": Hardware(
            "NVIDIA L4", 121e12, 0.3e12,
            "NVIDIA L4 Tensor Core GPU datasheet (BF16 242 TFLOPS with sparsity = 121 dense; GDDR6 300 GB/s)",
        ),
        "h100-measured": Hardware(
            "NVIDIA H100 80GB HBM3 (measured)", 750e12, 3.0e12, _H100_CARD, measured=True,
            note="cuBLAS reached 695-773 TFLOP/s across machines; copy 3.0 TB/s read+write, ~3.1 TB/s read-only",
        ),
    }
)


def critical_intensity(hw: str | Hardware) -> float:
    """Critical arithmetic intensity in FLOP/byte: kernels below it are memory-bound on ``hw``.

    Args:
        hw: a key of ``HARDWARE`` (e.g. ``"h100-sxm"``) or a ``Hardware`` record.

    Returns:
        peak_flops / bandwidth, e.g. about 295 FLOP/byte for the H100 SXM datasheet figures.

    Raises:
        KeyError: unknown accelerator name.
    """
    if isinstance(hw, Hardware):
        return hw.critical_intensity
    try:
        return HARDWARE[hw].critical_intensity
    except KeyError:
        raise KeyError(f"unknown accelerator {hw!r}; known: {sorted(HARDWARE)}") from None
