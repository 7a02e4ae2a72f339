"""Entry point of a multi-process (DDP) run: ``torchrun ... -m xlstm_lab.train.launch --spec S.json --out R.json``.

Every process initialises the default process group (NCCL for a CUDA spec, gloo on CPU), binds its GPU
(``LOCAL_RANK``) and calls ``train(spec)``; rank 0 writes the ``RunResult`` as JSON (``RunResult.to_dict``)
atomically to ``--out``. Example, two CPU processes::

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m xlstm_lab.train.launch \\
        --spec spec.json --out result.json --no-progress

``spec.json`` holds ``RunSpec.to_dict()``. Exit status: 0 for a "done" or "diverged" run (its result written);
1 for a "failed" run (rank 0 writes its result when it is rank 0 that failed; a failure on another rank makes
that rank exit 1, and torchrun then stops the others, which may be waiting in a collective, without a result);
2 for a spec that cannot be trained (the message names the problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xlstm_lab.train.launch", description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="JSON file holding RunSpec.to_dict()")
    p.add_argument("--out", required=True, help="where rank 0 writes the RunResult as JSON")
    p.add_argument("--checkpoint-dir", default=None, help="the run's checkpoint folder (resumed from if it holds one)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--min-steps", type=int, default=None, help="planning bound on steps (default: plan_run's)")
    p.add_argument("--micro-batch-size", type=int, default=None, help="rows per forward/backward pass")
    p.add_argument("--compile", action="store_true", help="train through torch.compile")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch
    import torch.distributed as dist

    from xlstm_lab.train import MIN_STEPS, RunSpec, TrainError, train

    spec = RunSpec.from_dict(json.loads(Path(args.spec).read_text()))
    cuda = spec.device.startswith("cuda")
    if "RANK" in os.environ and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        result = train(spec, checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                       progress=not args.no_progress, min_steps=args.min_steps or MIN_STEPS,
                       micro_batch_size=args.micro_batch_size, compile=args.compile)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        _write_atomic(Path(args.out), json.dumps(result.to_dict(), allow_nan=True))
    if result.status == "failed":
        print(f"error: the run failed: {(result.error or '').splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
