"""GPU benchmark: time to first token, decode step time and peak memory of both families at the paper's shapes.

Run on a CUDA machine (writes benchmarks/results/inference_gpu_<date>_<device>.{csv,json} by default):

    python benchmarks/bench_inference_gpu.py --out benchmarks/results            # 160M-1.4B, prompts 512-16k, B 1-64
    python benchmarks/bench_inference_gpu.py --out /tmp/x --sizes 160m --prompts 1024,4096 --batch 1,8
    python benchmarks/bench_inference_gpu.py --smoke --out /tmp/x                # CPU, tiny shapes: checks the script

Each point is measured by ``xlstm_lab.inference.measure_point`` (warm-up trials, then repeated trials; median, min
and max; ``torch.cuda.synchronize`` around every timer; peak bytes by ``torch.cuda.max_memory_allocated`` over one
generation). Weights, activations and the KV cache are bf16, the mLSTM state float32, the xLSTM prefill runs the
chunkwise Triton kernels and its decode the recurrent step. A point that runs out of GPU memory is recorded with
``error = "out of memory"`` and the sweep goes on. The roofline of the device (peak bf16 matmul FLOP/s, copy
bandwidth) is measured first and stored in the JSON with the provenance: commit, device, versions, date,
command line. The book's inference chapter shows these files when they are present under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAPER_SIZES = "160m,400m,830m,1.4b"
PROMPTS = "512,1024,2048,4096,8192,16384"
BATCHES = "1,4,16,64"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the CSV and JSON (created if missing)")
    p.add_argument("--families", default="xlstm,llama")
    p.add_argument("--sizes", default=PAPER_SIZES)
    p.add_argument("--prompts", default=PROMPTS)
    p.add_argument("--batch", default=BATCHES)
    p.add_argument("--steps", type=int, default=32, help="decode steps timed per trial")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="CPU, tiny shapes, float32, 1 repeat: checks the script "
                   "runs end to end (numbers meaningless; files are written, marked smoke)")
    args = p.parse_args(argv)
    if args.smoke:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
    import torch

    from xlstm_lab.inference import (
        BenchGrid,
        TimingSettings,
        load_model,
        measure_point,
        measure_roofline,
        model_config,
        provenance,
    )
    from xlstm_lab.inference.timing import CSV_COLUMNS

    if args.smoke:
        device, dtype = "cpu", "float32"
        grid = BenchGrid(("xlstm", "llama"), ("tiny",), (16, 64), (1, 2))
        settings = TimingSettings(device=device, dtype=dtype, warmup=0, repeats=1, steps=2)
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run on a GPU machine, or use --smoke to check the script on the CPU",
                  file=sys.stderr)
            return 2
        device, dtype = "cuda", "bfloat16"
        grid = BenchGrid(tuple(args.families.split(",")), tuple(args.sizes.split(",")), _ints(args.prompts),
                         _ints(args.batch))
        settings = TimingSettings(device=device, dtype=dtype, warmup=args.warmup, repeats=args.repeats,
                                  steps=args.steps)
    roof = measure_roofline(device, dtype, **({"matmul_n": 256, "copy_bytes": 2**20, "repeats": 1}
                                              if args.smoke else {}))
    rows = []
    for family in grid.families:
        for size in grid.sizes:
            config = model_config(family, size, context_length=max(grid.prompts) + settings.steps + 1)
            model = load_model(config, device=device, dtype=dtype)
            for prompt in grid.prompts:
                for batch in grid.batches:
                    try:
                        row = {**measure_point(model, config, size, prompt, batch, settings),
                               **provenance(device, dtype), "error": ""}
                    except torch.cuda.OutOfMemoryError:
                        torch.cuda.empty_cache()
                        row = {"family": family, "size": size, "prompt_tokens": prompt, "batch": batch,
                               "error": "out of memory", **provenance(device, dtype)}
                    rows.append(row)
                    print(f"{family}-{size} T={prompt} B={batch}: "
                          + (row["error"] or f"ttft {row['ttft_s'] * 1e3:.2f} ms, step {row['step_s'] * 1e3:.3f} ms"),
                          flush=True)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "smoke" if args.smoke else roof.device_name.replace(" ", "_")
    stem = out / f"inference_gpu_{datetime.date.today():%Y%m%d}_{tag}"
    with open(f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*CSV_COLUMNS, "error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    meta = {"smoke": args.smoke, "commit": _commit(), "command": " ".join([sys.executable, *sys.argv]),
            "provenance": provenance(device, dtype), "roofline": roof.to_dict(),
            "grid": {"families": grid.families, "sizes": grid.sizes, "prompts": grid.prompts, "batches": grid.batches},
            "settings": dataclasses.asdict(settings), "rows": rows}
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=2, default=str))
    print(f"wrote {stem}.csv and {stem}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
