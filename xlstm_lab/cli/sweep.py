"""``xlstm-lab sweep isoflop|tokenparam|context``: train a sweep into a run store (skips finished runs, resumes)."""

from __future__ import annotations

import argparse
import math
import re
import warnings

from xlstm_lab.cli.common import CliError, StatusWarning

__all__ = ["register", "parse_floats", "parse_ints", "parse_sizes"]

_DEFAULT_STORE = "runs/lab.sqlite"  # = xlstm_lab.runs.DEFAULT_STORE (not imported: --help stays light)
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_floats(text: str, what: str) -> list[float]:
    """``"3e11,1e12"`` -> [3e11, 1e12]; a bad item raises CliError naming it."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        try:
            value = float(item)
        except ValueError:
            raise CliError(f"{what}: {item!r} is not a number; give a comma-separated list, e.g. 3e11,1e12") from None
        if not (value > 0 and math.isfinite(value)):
            raise CliError(f"{what}: {item!r} must be a positive number")
        out.append(value)
    return out


def parse_ints(text: str, what: str, minimum: int = 1, example: str = "64,256") -> list[int]:
    """``"64,256"`` -> [64, 256]; items must be whole numbers >= ``minimum``."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not re.fullmatch(r"\d+", item) or int(item) < minimum:
            raise CliError(f"{what}: {item!r} must be a whole number >= {minimum}; e.g. {what} {example}")
        out.append(int(item))
    return out


def parse_sizes(text: str) -> str | list[float]:
    """``"auto"`` or parameter counts like ``"20000,5e4,80k,1.2M"``."""
    if text.strip().lower() == "auto":
        return "auto"
    out = []
    for item in (t.strip() for t in text.split(",")):
        m = re.fullmatch(r"([0-9.eE+-]+)\s*([kKmMbB]?)", item)
        try:
            value = float(m.group(1)) * _SUFFIX[m.group(2).lower()] if m else math.nan
        except ValueError:
            value = math.nan
        if not (value > 0 and math.isfinite(value)):
            raise CliError(f"--sizes: {item!r} is not a parameter count; use auto or numbers like 20000,50k,1.2M")
        out.append(value)
    return out


def _user_errors() -> tuple[type[Exception], ...]:
    from xlstm_lab.data import CorpusError
    from xlstm_lab.models.config import ConfigError
    from xlstm_lab.runs.errors import RunsError
    from xlstm_lab.train.spec import TrainError

    return (RunsError, TrainError, CorpusError, ConfigError)


def _add_common(p: argparse.ArgumentParser, *, ctx: bool, sizes_help: str) -> None:
    p.add_argument("--store", default=_DEFAULT_STORE, help="the run store file (default: %(default)s)")
    p.add_argument("--families", default="xlstm,llama", help="comma-separated: xlstm, llama (default: %(default)s)")
    if ctx:
        p.add_argument("--ctx", type=int, default=256, help="context length in tokens (default: %(default)s)")
    p.add_argument("--sizes", default="auto", help=sizes_help)
    p.add_argument("--n-sizes", type=int, default=5, help="shapes per budget with --sizes auto (default: %(default)s)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1 (default: %(default)s)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where runs train (default: cpu)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate of every run (default: the trainer's "
                   "rule per shape)")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per step of every run (default: the "
                   "trainer's rule per shape)")
    p.add_argument("--corpus", default="shakespeare_kjv", help="corpus name or folder of .txt files "
                   "(default: %(default)s)")
    p.add_argument("--max-epochs", type=float, default=4.0, help="refuse plans that repeat the training split more "
                   "often (default: %(default)s)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine, one run at a time (default); ray: one Ray task per run")
    p.add_argument("--address", default=None, help="Ray cluster address: auto or HOST:PORT (default: start a "
                   "local Ray instance)")
    p.add_argument("--cpus-per-run", type=int, default=1, help="Ray: CPUs (= torch threads) per run "
                   "(default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="local: runs at once, each with threads/workers torch "
                   "threads (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="local: torch threads for all runs together "
                   "(default: the usable cores)")
    p.add_argument("--checkpoint-root", default=None, help="folder of the runs' checkpoint folders (default: "
                   "<store>.ckpt beside the store; shared storage for Ray clusters)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoints of finished runs")
    p.add_argument("--lock-timeout", type=float, default=30.0, help="seconds to wait for another process's write "
                   "lock on the store (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and train nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep isoflop``, ``sweep tokenparam`` and ``sweep context`` to the ``xlstm-lab`` parser."""
    sweep = sub.add_parser("sweep", help="train a sweep of runs into a run store (skips finished runs, resumes)")
    kinds = sweep.add_subparsers(dest="kind", required=True)
    auto = ("auto (>= 5 shapes around each budget's expected optimum) or parameter counts such as 20k,50k,120k "
            "(nearest shapes); default: auto")
    iso = kinds.add_parser("isoflop", help="budgets x sizes: IsoFLOP parabolas and N*(C)")
    _add_common(iso, ctx=True, sizes_help=auto)
    iso.add_argument("--budgets", required=True, help="training budgets in FLOPs, e.g. 3e11,1e12")
    tok = kinds.add_parser("tokenparam", help="sizes x tokens-per-parameter ratios (budget = FLOPs of ratio*N tokens)")
    _add_common(tok, ctx=True, sizes_help="auto (shapes around the optimum at --around) or parameter counts; "
                "default: auto")
    tok.add_argument("--ratios", required=True, help="tokens per parameter D/N, e.g. 20,50,100,200")
    tok.add_argument("--around", type=float, default=1e12, help="sizes auto: centre on the optimum at this budget "
                     "(default: %(default)g FLOPs)")
    ctx = kinds.add_parser("context", help="contexts x budgets x sizes")
    _add_common(ctx, ctx=False, sizes_help=auto)
    ctx.add_argument("--contexts", required=True, help="context lengths, e.g. 64,256,1024")
    ctx.add_argument("--budgets", required=True, help="training budgets in FLOPs, e.g. 3e11,1e12")
    for p in (iso, tok, ctx):
        p.set_defaults(func=_run_sweep, user_errors=_user_errors)


def _plan(args: argparse.Namespace):
    from xlstm_lab.runs import SweepSettings, context_plan, isoflop_plan, tokenparam_plan

    if args.batch_size is not None and args.batch_size < 1:
        raise CliError(f"--batch-size must be >= 1, got {args.batch_size}")
    seeds = tuple(parse_ints(args.seeds, "--seeds", 0, "0,1"))
    settings = SweepSettings(corpus=args.corpus, device=args.device, seeds=seeds, lr=args.lr,
                             batch_size=args.batch_size, max_epochs=args.max_epochs, n_sizes=args.n_sizes)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    sizes = parse_sizes(args.sizes)
    if args.kind == "isoflop":
        return isoflop_plan(families, parse_floats(args.budgets, "--budgets"), ctx=args.ctx, sizes=sizes,
                            settings=settings)
    if args.kind == "tokenparam":
        return tokenparam_plan(families, parse_floats(args.ratios, "--ratios"), ctx=args.ctx, sizes=sizes,
                               around=args.around, settings=settings)
    return context_plan(families, parse_ints(args.contexts, "--contexts"), parse_floats(args.budgets, "--budgets"),
                        sizes=sizes, settings=settings)


def _executor(args: argparse.Namespace, plan):
    from xlstm_lab.runs import LocalExecutor, RayExecutor

    if args.executor == "ray":
        if args.workers != 1 or args.threads is not None:
            raise CliError("--workers and --threads apply to --executor local; Ray runs as many runs as the cluster "
                           "fits, each with --cpus-per-run threads")
        return RayExecutor(args.address, cpus_per_run=args.cpus_per_run)
    if args.address is not None:
        raise CliError("--address is for --executor ray; add --executor ray or drop --address")
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise CliError(f"--workers and --threads must be >= 1, got {args.workers} and {args.threads}")
    return LocalExecutor(workers=args.workers, threads=args.threads, corpus=plan.corpus, progress=not args.no_progress)


def _table(store, keys: list[str]) -> str:
    from xlstm_lab.cli.runs import format_table

    records = [r for r in (store.get(k) for k in keys) if r is not None]
    return format_table(records)


def _run_sweep(args: argparse.Namespace) -> tuple[dict, str, int]:
    from xlstm_lab.runs import RunStore, run_sweep

    with RunStore(args.store, lock_timeout_s=args.lock_timeout) as store:
        store.check_writable()  # a bad or locked store fails before planning
        plan = _plan(args)
        skipped = [f"skipped {s.shape} (N={s.n_params:,}) at ctx {s.context_length}, C={s.budget_flops:.3g}: "
                   f"{s.reason}" for s in plan.skipped]
        keys = [r.key for r in plan.runs]
        if args.dry_run:
            from xlstm_lab.cli.runs import plan_table

            out = {"kind": plan.kind, "store": str(store.path), "n_runs": len(keys), "keys": keys,
                   "skipped_sizes": skipped}
            return out, "\n".join([f"{plan.kind} sweep: {len(keys)} runs (dry run, nothing trained)",
                                   plan_table(plan, store), *skipped]), 0
        report = run_sweep(store, plan, executor=_executor(args, plan), progress=not args.no_progress,
                           checkpoints=args.checkpoint_root, keep_checkpoints=args.keep_checkpoints)
        lines = [f"{plan.kind} sweep into {store.path}: {len(keys)} runs; {len(report.finished_before)} already "
                 f"finished, {len(report.ran)} trained now ({len(report.resumed)} resumed from a checkpoint), "
                 f"{len(report.busy)} running in another process", _table(store, keys), *skipped]
    if report.failed:
        warnings.warn(StatusWarning(f"{len(report.failed)} run(s) failed (their errors are in the store: xlstm-lab "
                                    f"runs list --store {args.store} --status failed); run the sweep again to redo "
                                    "them"), stacklevel=2)
    return report.to_dict(), "\n".join(lines), 3 if report.failed else 0
