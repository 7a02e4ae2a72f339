"""``xlstm-lab bench inference|roofline``: measure TTFT and decode step time over a grid, or this machine's peaks."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from xlstm_lab.cli.common import CliError

__all__ = ["register", "parse_list"]


def _user_errors() -> tuple[type[Exception], ...]:
    from xlstm_lab.inference import InferenceInputError

    return (InferenceInputError,)


def parse_list(text: str, name: str, kind: type = str) -> list:
    """Comma-separated values ("128,512") -> list; CliError naming ``--name`` when empty or not of ``kind``."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise CliError(f"--{name} is empty; give at least one value, e.g. --{name} {'1' if kind is int else 'tiny'}")
    if kind is int:
        try:
            return [int(t) for t in items]
        except ValueError:
            raise CliError(f"--{name} takes whole numbers separated by commas, got {text!r}") from None
    return items


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bench inference`` and ``bench roofline`` to the ``xlstm-lab`` parser."""
    bench = sub.add_parser("bench", help="measure inference latency and memory, or this machine's roofline")
    kinds = bench.add_subparsers(dest="kind", required=True)
    inf = kinds.add_parser("inference", help="time to first token and decode step time over a grid (CSV)")
    inf.add_argument("--families", default="xlstm,llama", help="comma-separated (default: %(default)s)")
    inf.add_argument("--sizes", default="tiny,mini", help="shape ladder tags, comma-separated: tiny, mini, small, "
                     "lab-3m, lab-12m, lab-30m, 160m, 400m, 830m, 1.4b, 2.7b, 7b (default: %(default)s)")
    inf.add_argument("--prompts", default="128,512,2048", help="prompt lengths in tokens (default: %(default)s)")
    inf.add_argument("--batch", default="1,8", help="batch sizes (default: %(default)s)")
    inf.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    inf.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                     help="weights, activations and KV cache (default: %(default)s)")
    inf.add_argument("--steps", type=int, default=8, help="decode steps timed per trial (default: %(default)s)")
    inf.add_argument("--repeats", type=int, default=3, help="timed trials per point (default: %(default)s)")
    inf.add_argument("--warmup", type=int, default=1, help="untimed trials per point (default: %(default)s)")
    inf.add_argument("--context", type=int, default=None, help="the models' context length; prompts + steps "
                     "beyond it are refused (default: the longest prompt + steps)")
    inf.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    inf.add_argument("--csv", required=True, metavar="OUT.csv", help="the file to write (one row per point)")
    inf.add_argument("--json", action="store_true", help="print the rows as JSON")
    inf.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    roof = kinds.add_parser("roofline", help="this machine's peak matmul FLOP/s and copy bandwidth, measured now")
    roof.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    roof.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="matmul dtype")
    roof.add_argument("--json", action="store_true", help="print as JSON")
    inf.set_defaults(func=_run_inference, user_errors=_user_errors)
    roof.set_defaults(func=_run_roofline, user_errors=_user_errors)


def _run_inference(args: argparse.Namespace) -> tuple[list, str, int]:
    import torch

    from xlstm_lab.inference import CSV_COLUMNS, BenchGrid, TimingSettings, run_grid

    if args.threads is not None:
        if args.threads < 1:
            raise CliError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    grid = BenchGrid(parse_list(args.families, "families"), parse_list(args.sizes, "sizes"),
                     parse_list(args.prompts, "prompts", int), parse_list(args.batch, "batch", int))
    settings = TimingSettings(device=args.device, dtype=args.dtype, warmup=args.warmup, repeats=args.repeats,
                              steps=args.steps, context=args.context)
    out = Path(args.csv)
    if out.parent and not out.parent.is_dir():
        raise CliError(f"cannot write {out}: the folder {out.parent} does not exist; create it first")

    def progress(row: dict) -> None:
        if not args.quiet:
            print(f"{row['family']}-{row['size']} T={row['prompt_tokens']} B={row['batch']}: "
                  f"ttft {row['ttft_s'] * 1e3:.3f} ms, step {row['step_s'] * 1e3:.3f} ms", file=sys.stderr)

    rows = run_grid(grid, settings, progress)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return rows, f"wrote {len(rows)} rows to {out}", 0


def _run_roofline(args: argparse.Namespace) -> tuple[dict, str, int]:
    from xlstm_lab.inference import measure_roofline

    r = measure_roofline(args.device, args.dtype)
    text = (f"{r.device_name} ({r.dtype}): peak matmul {r.peak_flops / 1e9:.1f} GFLOP/s (n = {r.matmul_n}), copy "
            f"{r.bandwidth / 1e9:.1f} GB/s ({r.copy_bytes / 2**20:.0f} MiB), ridge {r.critical_intensity:.1f} FLOP/B")
    return r.to_dict(), text, 0
