"""Timing harness: time to first token and decode step time over a grid of families, sizes, prompts and batches.

Each (family, size) model is built once; each (prompt, batch) point runs ``warmup`` untimed trials, then
``repeats`` timed ones. A trial is one prefill of a fresh random prompt (timed up to the first token's argmax:
the TTFT), one untimed decode step, then ``steps`` greedy decode steps timed together (their mean: the step time). Timers wait for
the GPU (``torch.cuda.synchronize``) before reading the clock. Every row carries its median, min and max, the
work counts of ``accounting`` and the provenance (device, dtype, threads, versions).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xlstm_lab.train.provenance import cpu_model
from xlstm_lab.accounting import count_params, decode_step_bytes, prefill_flops
from xlstm_lab.inference.errors import InferenceInputError
from xlstm_lab.inference.generate import DTYPES, FAMILIES, load_model, model_config, prefill, size_tags, step
from xlstm_lab.inference.memory import cuda_peak_bytes, predicted_state_bytes, state_nbytes, weight_nbytes
from xlstm_lab.inference.roofline import synchronize
from xlstm_lab.models import ModelConfig

__all__ = ["BenchGrid", "TimingSettings", "provenance", "step_flops", "mean_step_bytes", "measure_point",
           "run_grid", "CSV_COLUMNS"]

#: Columns of a measurement row, in CSV order.
CSV_COLUMNS: tuple[str, ...] = (
    "family", "size", "N", "prompt_tokens", "batch", "ttft_s", "ttft_min_s", "ttft_max_s", "step_s", "step_min_s",
    "step_max_s", "steps", "repeats", "warmup", "peak_bytes", "peak_method", "state_bytes", "state_bytes_predicted",
    "weight_bytes", "flops_prefill", "flops_step", "bytes_step", "device", "device_name", "dtype", "threads",
    "torch", "numpy", "python", "xlstm_lab", "measured_at",
)


def _ints(name: str, values: Sequence[object]) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not len(values):
        raise InferenceInputError(f"the grid has no {name}; give at least one (e.g. --{name} 1)")
    out = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or int(v) < 1:
            raise InferenceInputError(f"{name} must be whole numbers >= 1, got {v!r}")
        out.append(int(v))
    return tuple(out)


@dataclass(frozen=True)
class BenchGrid:
    """The measured grid: every (family, size, prompt, batch) combination.

    Attributes:
        families: "xlstm" and/or "llama".
        sizes: shape ladder tags ("tiny", "mini", ..., "160m", ..., "7b").
        prompts: prompt lengths T, tokens.
        batches: batch sizes B, sequences.
    """

    families: tuple[str, ...]
    sizes: tuple[str, ...]
    prompts: tuple[int, ...]
    batches: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("families", "sizes"):
            values = tuple(getattr(self, name))
            if isinstance(getattr(self, name), str) or not values:
                raise InferenceInputError(f"the grid has no {name}; give at least one")
            object.__setattr__(self, name, values)
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise InferenceInputError(f"unknown family {unknown[0]!r}; use one of {', '.join(FAMILIES)}")
        tags = size_tags()
        unknown = [s for s in self.sizes if s not in tags]
        if unknown:
            raise InferenceInputError(f"unknown size {unknown[0]!r}; use one of the shape ladder's tags: "
                                      f"{', '.join(tags)}")
        object.__setattr__(self, "prompts", _ints("prompts", self.prompts))
        object.__setattr__(self, "batches", _ints("batch", self.batches))

    @property
    def n_points(self) -> int:
        """Number of rows the grid produces."""
        return len(self.families) * len(self.sizes) * len(self.prompts) * len(self.batches)


@dataclass(frozen=True)
class TimingSettings:
    """How each grid point is measured.

    Attributes:
        device: "cpu" or "cuda".
        dtype: weight and compute dtype ("float32" or "bfloat16"); the KV cache takes it, the mLSTM state
            stays float32.
        warmup: untimed trials per point.
        repeats: timed trials per point (median, min and max are reported).
        steps: decode steps timed per trial (their mean is one trial's step time).
        context: the models' context length; None: the longest prompt + steps + 1 (neither family has learned
            positions). A prompt + steps + 1 longer than a given context is refused.
        seed: weights and prompts.
    """

    device: str = "cpu"
    dtype: str = "float32"
    warmup: int = 1
    repeats: int = 3
    steps: int = 8
    context: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if torch.device(self.device).type not in ("cpu", "cuda"):
            raise InferenceInputError(f"unsupported device {self.device!r}; use 'cpu' or 'cuda'")
        if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            raise InferenceInputError("device 'cuda' asked for but torch sees no CUDA device; use --device cpu")
        if self.dtype not in DTYPES:
            raise InferenceInputError(f"unknown dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        for name, low in (("warmup", 0), ("repeats", 1), ("steps", 1)):
            if int(getattr(self, name)) < low:
                raise InferenceInputError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if self.context is not None and int(self.context) < 2:
            raise InferenceInputError(f"context must be >= 2 tokens, got {self.context}")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def provenance(device: str = "cpu", dtype: str = "float32") -> dict[str, object]:
    """Device, dtype, thread count, versions and the time of measurement: the columns every row carries."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model()
    return {"device": dev.type, "device_name": name, "dtype": dtype, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "xlstm_lab": _version("xlstm-lab"),
            "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def step_flops(config: ModelConfig, tokens: int, batch: int) -> float:
    """FLOPs of one decode step after ``tokens`` tokens: the prefill count's increment plus the new logits."""
    return (prefill_flops(config, tokens + 1, batch) - prefill_flops(config, tokens, batch)
            + prefill_flops(config, 0, batch))


def mean_step_bytes(config: ModelConfig, prompt: int, steps: int, batch: int, dtype_bytes: int) -> float:
    """Physical bytes of a decode step averaged over the ``steps`` timed after a ``prompt``-token prefill
    (the step bytes are linear in the context, so the mean of the first and last step is exact)."""
    first = decode_step_bytes(config, prompt, batch, dtype_bytes=dtype_bytes)
    last = decode_step_bytes(config, prompt + steps - 1, batch, dtype_bytes=dtype_bytes)
    return 0.5 * (first + last)


def _trial(model, prompt: torch.Tensor, steps: int, device: torch.device) -> tuple[float, float, object]:
    synchronize(device)
    t0 = time.perf_counter()
    logits, state = prefill(model, prompt, max_new_tokens=steps + 1)
    nxt = logits.argmax(-1)
    synchronize(device)
    # one untimed step first: right after a long prefill the first steps run on cold caches (up to 1.5x slower
    # on the CPU), which is the prefill's aftermath, not the decode step's cost
    logits, state = step(model, nxt, state)
    nxt = logits.argmax(-1)
    synchronize(device)
    t1 = time.perf_counter()
    for _ in range(steps):
        logits, state = step(model, nxt, state)
        nxt = logits.argmax(-1)
    synchronize(device)
    return t1 - t0, (time.perf_counter() - t1) / steps, state


def measure_point(model, config: ModelConfig, size: str, prompt_tokens: int, batch: int,
                  settings: TimingSettings) -> dict[str, object]:
    """Time one (prompt, batch) point of a built model; one row (see ``CSV_COLUMNS``) without provenance."""
    device = torch.device(settings.device)
    gen = torch.Generator(device="cpu").manual_seed(settings.seed + prompt_tokens * 1009 + batch)
    ttft, step_t, state = [], [], None
    for trial in range(settings.warmup + settings.repeats):
        prompt = torch.randint(0, config.vocab_size, (batch, prompt_tokens), generator=gen).to(device)
        t_first, t_step, state = _trial(model, prompt, settings.steps, device)
        if trial >= settings.warmup:
            ttft.append(t_first)
            step_t.append(t_step)
    width = torch.finfo(DTYPES[settings.dtype]).bits // 8
    positions = prompt_tokens + settings.steps + 1  # the cache is allocated for the settling step too
    state_bytes = state_nbytes(state)
    weights = weight_nbytes(model)
    if device.type == "cuda":
        del state
        peak, method = cuda_peak_bytes(model, prompt, settings.steps + 1), "cuda_max_memory_allocated"
    else:
        peak, method = weights + state_bytes, "weights_plus_state_tensor_bytes"
    return {
        "family": config.family, "size": size, "N": count_params(config), "prompt_tokens": prompt_tokens,
        "batch": batch, "ttft_s": statistics.median(ttft), "ttft_min_s": min(ttft), "ttft_max_s": max(ttft),
        "step_s": statistics.median(step_t), "step_min_s": min(step_t), "step_max_s": max(step_t),
        "steps": settings.steps, "repeats": settings.repeats, "warmup": settings.warmup,
        "peak_bytes": int(peak), "peak_method": method, "state_bytes": state_bytes,
        "state_bytes_predicted": predicted_state_bytes(config, positions, batch, width), "weight_bytes": weights,
        "flops_prefill": prefill_flops(config, prompt_tokens, batch),
        "flops_step": step_flops(config, prompt_tokens + 1 + settings.steps // 2, batch),
        "bytes_step": mean_step_bytes(config, prompt_tokens + 1, settings.steps, batch, width),
    }


def _context(grid: BenchGrid, settings: TimingSettings) -> int:
    need = max(grid.prompts) + settings.steps + 1
    if settings.context is None:
        return need
    if need > settings.context:
        raise InferenceInputError(
            f"prompt of {max(grid.prompts)} tokens + {settings.steps + 1} decode steps is longer than the context of "
            f"{settings.context}; drop the long prompts or raise --context")
    return int(settings.context)


def run_grid(grid: BenchGrid, settings: TimingSettings = TimingSettings(), progress=None) -> list[dict[str, object]]:
    """Measure every point of ``grid``; one row per (family, size, prompt, batch), in that nesting order.

    Args:
        grid: the points.
        settings: how each point is measured.
        progress: optional callable receiving each finished row (e.g. to print it).

    Raises:
        InferenceInputError: a prompt + steps longer than ``settings.context``, an unknown dtype or device.
    """
    context = _context(grid, settings)
    prov = provenance(settings.device, settings.dtype)
    rows = []
    for family in grid.families:
        for size in grid.sizes:
            config = model_config(family, size, context_length=context)
            model = load_model(config, device=settings.device, dtype=settings.dtype, seed=settings.seed)
            for prompt_tokens in grid.prompts:
                for batch in grid.batches:
                    row = {**measure_point(model, config, size, prompt_tokens, batch, settings), **prov}
                    rows.append({k: row[k] for k in CSV_COLUMNS})
                    if progress is not None:
                        progress(rows[-1])
            del model
    return rows
