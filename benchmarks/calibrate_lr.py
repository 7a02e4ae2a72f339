"""Calibrate the trainer's lr and batch rules: a learning-rate x batch sweep at CPU budgets, both families, ctx 256.

    python benchmarks/calibrate_lr.py                             # 2 budgets x 2 families x 5 lr x 4 batches
    python benchmarks/calibrate_lr.py --budgets 1e12 --seeds 0,1  # one budget, two seeds
    python benchmarks/calibrate_lr.py --tiny                      # toy corpus and sizes: checks the script

For each family and budget it trains one shape near the budget's expected compute-optimal size (d 32 at 3e11,
d 48 at 1e12, 2 layers; ``--d`` overrides) on the lab corpus (Shakespeare + KJV) at every peak learning rate and
batch size, with everything else at the trainer's defaults (AdamW, 10% warm-up, cosine to 0.1, clip 1), and
prints the validation loss (nats per byte) as an lr x batch table per family and budget, marking the best cell
and the cells within ``--noise`` (default 0.02 nats, the issue's seed noise near the optimum) of it. The rules in
``xlstm_lab/train/rules.py`` (``default_lr``, ``default_batch_size``) should sit inside that near-best set; the
table says where they sit. Results: benchmarks/results/calibrate_lr_<date>.json with provenance (date, commit,
device, versions, threads) and every run (status, loss, steps, tokens/s).

Every run is trained through the lab's run store (``xlstm_lab.runs``, default ``runs/calibrate_lr.sqlite``), so a
killed calibration (``kill -9`` included) resumes where it stopped when the same command is run again, and the
runs can be exported like any sweep's (``xlstm-lab runs export --store runs/calibrate_lr.sqlite --csv out.csv``).

Cost on an idle 2-core CPU: roughly 1-4 minutes per run at 1e12 FLOPs, so the default grid (80 runs) takes a few
hours; run it on an idle machine (two trainings sharing two cores slow down ~10x).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import _corpus, _provenance  # noqa: E402  (sibling script)

SHAPE_FOR_BUDGET = {3e11: 32, 1e12: 48, 3e12: 64}
"""d_model near the issue's measured IsoFLOP optima (N ~ 16-20k at 3e11, 28-37k at 1e12, 43-92k at 3e12)."""


def _config(family: str, d: int, ctx: int):
    from xlstm_lab.models import ModelConfig, default_d_ff

    heads = 2 if family == "xlstm" else max(1, d // 16)
    return ModelConfig(family, 256, d, 2, heads, default_d_ff(family, d, multiple_of=16), context_length=ctx)


def _planned(config, budget, lr, batch, seed, corpus, min_steps):
    """(PlannedRun, None) for a grid point, or (None, the planner's refusal) when the budget cannot be spent."""
    from xlstm_lab.runs import PlannedRun
    from xlstm_lab.train import PlanError, RunSpec, plan_run

    spec = RunSpec(config, budget, lr, batch, seed, corpus_sha256=corpus.sha256,
                   extra={"calibration": "lr x batch"})
    try:
        plan = plan_run(config, budget, batch_size=batch, train_tokens=len(corpus.train), min_steps=min_steps)
    except PlanError as exc:
        return None, str(exc)
    return PlannedRun(spec, plan), None


def _row(config, budget, lr, batch, seed, record, refusal) -> dict:
    row = {"family": config.family, "d_model": config.d_model, "budget": budget, "lr": lr, "batch": batch,
           "tokens_per_step": batch * config.context_length, "seed": seed}
    if record is None:
        return {**row, "status": "skipped", "error": refusal}
    return {**row, "key": record.key, "status": record.status, "val_loss": record.val_loss, "N": record.n_params,
            "steps": record.plan.steps, "tokens_per_s": record.tokens_per_s, "wall_s": record.wall_s,
            "device": record.device, "error": record.error}


def _table(rows: list[dict], lrs: list[float], batches: list[int], noise: float, rule: tuple[float, int]) -> str:
    """lr (rows) x batch (columns) of the mean validation loss over seeds; * best, + within noise, R the rule."""
    cell: dict[tuple[float, int], list[float]] = {}
    for r in rows:
        if r["status"] == "done":
            cell.setdefault((r["lr"], r["batch"]), []).append(r["val_loss"])
    means = {k: sum(v) / len(v) for k, v in cell.items()}
    best = min(means.values()) if means else float("nan")
    lines = ["lr \\ batch " + "".join(f"{b:>11d}" for b in batches)]
    for lr in lrs:
        text = f"{lr:<11.3g}"
        for b in batches:
            if (lr, b) not in means:
                status = next((r["status"] for r in rows if r["lr"] == lr and r["batch"] == b), "-")
                text += f"{status[:9]:>11s}"
                continue
            m = means[(lr, b)]
            mark = "*" if m == best else ("+" if m <= best + noise else " ")
            mark += "R" if (lr, b) == rule else " "
            text += f"{m:9.4f}{mark}"
        lines.append(text)
    lines.append(f"* best {best:.4f} nats/byte; + within {noise} of it; R the trainer's rule "
                 f"(lr {rule[0]:g}, batch {rule[1]})")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="xlstm,llama")
    ap.add_argument("--budgets", default="3e11,1e12", help="FLOP budgets (paper convention)")
    ap.add_argument("--lrs", default="3e-3,6e-3,1e-2,2e-2,4e-2")
    ap.add_argument("--batches", default="4,8,16,32", help="sequences per step (x 256 tokens)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--d", type=int, default=None, help="d_model for every budget (default: per budget)")
    ap.add_argument("--noise", type=float, default=0.02, help="nats: cells this close to the best count as tied")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the usable cores)")
    ap.add_argument("--store", default=None, help="run store (default runs/calibrate_lr.sqlite; resumes)")
    ap.add_argument("--tiny", action="store_true", help="toy corpus, d 16, ctx 32, a 2 x 2 grid; nothing written")
    ap.add_argument("--json", default=None, help="output (default benchmarks/results/calibrate_lr_<date>.json)")
    args = ap.parse_args(argv)
    import torch

    from xlstm_lab.runs import LocalExecutor, RunStore, SweepPlan, records_frame, run_sweep
    from xlstm_lab.train import default_batch_size, default_lr

    families = args.families.split(",")
    budgets = [float(b) for b in args.budgets.split(",")]
    lrs = [float(x) for x in args.lrs.split(",")]
    batches = [int(x) for x in args.batches.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    ctx, min_steps = args.ctx, 50
    if args.tiny:
        budgets, lrs, batches, ctx, min_steps = [2e9], [3e-3, 3e-2], [2, 4], 32, 10
    corpus = _corpus(args.tiny)
    grid = [(f, c, lr, b, s) for f in families for c in budgets for lr in lrs for b in batches for s in seeds]
    points = []
    for family, budget, lr, batch, seed in grid:
        d = 16 if args.tiny else (args.d or SHAPE_FOR_BUDGET.get(budget, 48))
        config = _config(family, d, ctx)
        points.append((config, budget, lr, batch, seed, *_planned(config, budget, lr, batch, seed, corpus,
                                                                   min_steps)))
    runs = tuple(p[5] for p in points if p[5] is not None)
    store_path = Path(args.store) if args.store else (
        Path(tempfile.mkdtemp()) / "tiny.sqlite" if args.tiny else REPO / "runs" / "calibrate_lr.sqlite")
    start = time.perf_counter()
    print(f"{len(runs)} runs ({len(points) - len(runs)} grid points cannot be planned) in store {store_path}")
    run_sweep(store_path, SweepPlan("calibrate_lr", runs, corpus=corpus, min_steps=min_steps),
              executor=LocalExecutor(threads=args.threads, corpus=corpus, progress=False))
    with RunStore(store_path) as store:
        records = [None if p[5] is None else store.get(p[5].key) for p in points]
    rows = [_row(*p[:5], rec, p[6]) for p, rec in zip(points, records, strict=True)]
    for family in families:
        for budget in budgets:
            sel = [r for r in rows if r["family"] == family and r["budget"] == budget]
            config = _config(family, sel[0]["d_model"], ctx)
            n = next((r["N"] for r in sel if "N" in r), "?")
            print(f"\n{family}, d_model {config.d_model} (N = {n}), budget {budget:.3g} FLOPs, ctx {ctx}:")
            print(_table(sel, lrs, batches, args.noise, (default_lr(config), default_batch_size(config))))
    print(f"\n{len(runs)} runs ready after {time.perf_counter() - start:.0f} s in this session "
          "(runs finished by an earlier session were not retrained)")
    if args.tiny and not args.json:
        print("tiny run: nothing written")
        return 0
    out = Path(args.json) if args.json else REPO / "benchmarks" / "results" / (
        f"calibrate_lr_{datetime.date.today():%Y%m%d}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    device = next((r["device"] for r in rows if r.get("device")), f"cpu ({torch.get_num_threads()} threads)")
    payload = {"provenance": _provenance(device), "args": vars(args), "store": str(store_path),
               "command": " ".join(sys.argv), "context": ctx, "rows": rows}
    out.write_text(json.dumps(payload, indent=1, allow_nan=True) + "\n")
    table = out.with_suffix(".csv")  # the runs as the store exports them (xlstm-lab runs export's columns)
    records_frame([r for r in records if r is not None]).to_csv(table, index=False)
    print(f"wrote {out} and {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
