"""Data-parallel training across processes: the rank context, the DDP/FSDP switch, and the collectives used.

A run larger than one GPU starts one process per device under ``torchrun`` (``xlstm_lab.train.launch``); each
process calls ``train(spec)`` inside an initialised process group and :func:`current` tells it its rank.

* The global batch (``RunSpec.batch_size`` sequences) is the same as in a one-process run: every rank draws the
  whole step's batch from the corpus (a pure function of the step) and trains on its contiguous share of
  ``batch_size / world_size`` rows. Each rank's loss is the mean over its rows; DistributedDataParallel averages
  the gradients over ranks, which is the gradient of the global mean loss because the shares are equal.
* The training loss that is logged and checked for divergence is all-reduced (averaged), so every rank sees
  the same history and stops at the same step.
* Rank 0 writes the checkpoints and computes the validation loss on the whole split, then broadcasts it; every
  rank returns the same ``RunResult``.

The DDP/FSDP switch (:func:`choose_strategy`): DDP keeps a full replica of the weights, gradients and AdamW's two
moments on every device, 16 bytes per parameter in float32, plus activations. When that does not fit a device
the run needs FSDP (``torch.distributed.fsdp.fully_shard``), which shards those 16 N bytes over the ranks. The
design for it: wrap each block, then the model, with ``fully_shard``; save checkpoints with
``torch.distributed.checkpoint.state_dict.get_state_dict(..., full_state_dict=True, cpu_offload=True)`` on rank 0;
evaluate on all ranks in lockstep (each takes a share of the validation windows; the sums are all-reduced), since
a sharded forward pass is collective. FSDP is not implemented yet: such a run is refused with a ``TrainError``
before it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn

from xlstm_lab.accounting.params import count_params
from xlstm_lab.models.config import ModelConfig
from xlstm_lab.train.spec import TrainError

__all__ = ["Strategy", "DistContext", "current", "training_bytes", "choose_strategy", "wrap_model", "shard_rows",
           "all_reduce_mean", "check_same_on_all_ranks", "broadcast_float"]

Strategy = Literal["single", "ddp", "fsdp"]
_STATE_BYTES_PER_PARAM = 16  # float32 weights + gradients + AdamW's two moments
_MEMORY_HEADROOM = 0.85  # share of a device's memory a plan may count on (allocator, CUDA context, fragmentation)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a data-parallel run (world_size 1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: writes checkpoints, evaluates, shows the progress bar."""
        return self.rank == 0


def current() -> DistContext:
    """The context of this process: from the initialised default process group, else a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistContext(dist.get_rank(), dist.get_world_size(), local)


def training_bytes(config: ModelConfig, rows: int, *, autocast: bool) -> float:
    """A rough upper estimate of one rank's training memory under DDP, bytes.

    16 bytes per parameter (weights, gradients, AdamW moments in float32) plus activations kept for the
    backward pass, ~34 bytes per token and d_model per block in bf16 (Korthikanti et al. 2022, without
    recomputation; doubled for float32), plus the float32 logits and their gradient (8 bytes per token and
    vocabulary entry).
    """
    tokens = rows * config.context_length
    act_per = 34 if autocast else 68
    activations = act_per * tokens * config.d_model * config.n_layers + 8 * tokens * config.vocab_size
    return float(_STATE_BYTES_PER_PARAM * count_params(config) + activations)


def choose_strategy(config: ModelConfig, device: torch.device, ctx: DistContext, rows: int) -> Strategy:
    """"single" (one process), "ddp" (the replica fits one device) or "fsdp" (it does not).

    Raises:
        TrainError: the run needs FSDP (not implemented yet; see the module docstring), naming the estimate.
    """
    if not ctx.is_distributed:
        return "single"
    if device.type != "cuda":
        return "ddp"  # CPU memory is the machine's; DDP on CPU is for tests and small clusters
    need = training_bytes(config, rows, autocast=True)
    have = torch.cuda.get_device_properties(device).total_memory * _MEMORY_HEADROOM
    if need <= have:
        return "ddp"
    raise TrainError(
        f"a DDP replica of this model needs ~{need / 2**30:.1f} GiB per device ({count_params(config):,} parameters "
        f"x 16 bytes + activations of {rows} rows x {config.context_length} tokens), more than the "
        f"{have / 2**30:.1f} GiB usable; it needs FSDP, which this trainer does not implement yet. Fix: a smaller "
        "per-device batch (more ranks, or micro_batch_size) or a smaller model"
    )


def wrap_model(model: nn.Module, strategy: Strategy, device: torch.device) -> nn.Module:
    """The module to train: ``model`` itself ("single") or wrapped in DistributedDataParallel ("ddp")."""
    if strategy == "single":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    raise TrainError(f"strategy {strategy!r} is not implemented; see xlstm_lab.train.distributed")


def shard_rows(batch_size: int, ctx: DistContext) -> slice:
    """This rank's contiguous share of a step's ``batch_size`` rows.

    Raises:
        TrainError: ``batch_size`` not divisible by the number of ranks.
    """
    if batch_size % ctx.world_size:
        raise TrainError(f"batch_size {batch_size} does not split evenly over {ctx.world_size} ranks; use a "
                         f"multiple of {ctx.world_size} (a power of two) or another number of processes")
    share = batch_size // ctx.world_size
    return slice(ctx.rank * share, (ctx.rank + 1) * share)


def all_reduce_mean(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of ``tensor`` over ranks (identical on every rank); ``tensor`` itself when not distributed."""
    if not ctx.is_distributed:
        return tensor
    out = tensor.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def check_same_on_all_ranks(value: int, ctx: DistContext, device: torch.device, what: str) -> None:
    """Raise a ``TrainError`` unless every rank passes the same ``value`` (a collective: all ranks must call it).

    Used for the step a run resumes from: checkpoints are written by rank 0 and read by every rank, so the
    checkpoint folder must be on a file system that all ranks see.
    """
    if not ctx.is_distributed:
        return
    both = torch.tensor([value, -value], dtype=torch.int64, device=device)
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    high, low = int(both[0].item()), -int(both[1].item())
    if high != low:
        raise TrainError(f"the ranks disagree on {what} (from {low} to {high}); put the checkpoint folder on a file "
                         "system every rank sees, or start without one")


def broadcast_float(value: float | None, ctx: DistContext, device: torch.device) -> float | None:
    """Rank 0's ``value`` on every rank (None travels as NaN and comes back as None)."""
    if not ctx.is_distributed:
        return value
    buf = torch.tensor([float("nan") if value is None else value], dtype=torch.float64, device=device)
    dist.broadcast(buf, src=0)
    out = float(buf.item())
    return None if out != out else out
