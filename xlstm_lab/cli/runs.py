"""``xlstm-lab runs list|export``: inspect a run store, and write the CSV that ``xlstm-lab fit`` reads."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from xlstm_lab.cli.common import CliError

__all__ = ["register", "format_table", "plan_table"]

_DEFAULT_STORE = "runs/lab.sqlite"
_STATUSES = ("pending", "running", "done", "diverged", "failed")  # = xlstm_lab.train.spec.RUN_STATUSES


def _user_errors() -> tuple[type[Exception], ...]:
    from xlstm_lab.runs.errors import RunsError

    return (RunsError,)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``runs list`` and ``runs export`` to the ``xlstm-lab`` parser."""
    runs = sub.add_parser("runs", help="list the runs of a run store, export them as CSV")
    kinds = runs.add_subparsers(dest="kind", required=True)
    ls = kinds.add_parser("list", help="print the runs as a table")
    ex = kinds.add_parser("export", help="write the runs as CSV (N_params, D_tokens, C_flops_training, val_loss, ...)")
    for p in (ls, ex):
        p.add_argument("--store", default=_DEFAULT_STORE, help="the run store file (default: %(default)s)")
        p.add_argument("--lock-timeout", type=float, default=30.0, help="seconds to wait for a locked store "
                       "(default: %(default)s)")
    ls.add_argument("--status", action="append", choices=_STATUSES, default=None,
                    help="only runs of this status (repeatable; default: all)")
    ls.add_argument("--json", action="store_true", help="print the runs as JSON")
    ex.add_argument("--csv", required=True, metavar="OUT.csv", help="the file to write")
    ex.add_argument("--status", action="append", choices=_STATUSES, default=None,
                    help="export runs of this status (repeatable; default: done)")
    ex.add_argument("--all", action="store_true", help="export every run, whatever its status")
    ls.set_defaults(func=_run_list, user_errors=_user_errors)
    ex.set_defaults(func=_run_export, user_errors=_user_errors)


def _fmt(value: object, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def format_table(records: Sequence) -> str:
    """A fixed-width table of ``RunRecord`` s: key, status, shape, N, budget, seed, lr, batch, loss, time."""
    head = ("key", "status", "family", "ctx", "d", "L", "N", "budget", "seed", "lr", "batch", "val_loss",
            "val_bpb", "wall_s", "error")
    rows = [head]
    for r in records:
        m = r.spec.model
        error = (r.error or "").splitlines()[0][:60] if r.error else ""
        rows.append((r.key, r.status, m.family, str(m.context_length), str(m.d_model), str(m.n_layers),
                     _fmt(r.n_params, ","), _fmt(r.spec.budget_flops, ".3g"), str(r.spec.seed),
                     _fmt(r.spec.lr, ".3g"), str(r.spec.batch_size), _fmt(r.val_loss, ".4f"), _fmt(r.val_bpb, ".4f"),
                     _fmt(r.wall_s, ".1f"), error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def plan_table(plan, store) -> str:
    """The planned runs of a sweep with their stored status ("new" when not yet stored)."""
    status = store.statuses([r.key for r in plan.runs])
    head = ("key", "stored", "family", "ctx", "d", "L", "N", "budget", "seed", "lr", "batch", "steps", "D_tokens",
            "epochs")
    rows = [head]
    for r in plan.runs:
        m, p = r.spec.model, r.plan
        rows.append((r.key, status.get(r.key, "new"), m.family, str(m.context_length), str(m.d_model),
                     str(m.n_layers), f"{p.n_params:,}", f"{r.spec.budget_flops:.3g}", str(r.spec.seed),
                     f"{r.spec.lr:.3g}", str(r.spec.batch_size), str(p.steps), f"{p.tokens:,}", f"{p.epochs:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _run_list(args: argparse.Namespace) -> tuple[list, str, int]:
    from xlstm_lab.runs import RunStore, records_frame

    with RunStore(args.store, create=False, lock_timeout_s=args.lock_timeout) as store:
        records = store.records(args.status)
        counts = store.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    which = f" with status {', '.join(args.status)}" if args.status else ""
    if not records:
        return [], f"no runs{which} in {args.store} ({summary or 'empty store'})", 0
    frame = records_frame(records).astype(object)
    out = frame.where(frame.notna(), None).to_dict(orient="records")  # missing values (pd.NA, NaN) -> null
    return out, f"{len(records)} runs{which} in {args.store} (store: {summary})\n{format_table(records)}", 0


def _run_export(args: argparse.Namespace) -> tuple[None, str, int]:
    from xlstm_lab.runs import RunStore, export_csv

    if args.all and args.status:
        raise CliError("give --all or --status, not both")
    statuses = None if args.all else (args.status or ["done"])
    with RunStore(args.store, create=False, lock_timeout_s=args.lock_timeout) as store:
        frame = export_csv(store, args.csv, statuses=statuses)
    which = "all statuses" if statuses is None else "status " + ", ".join(statuses)
    return None, f"wrote {len(frame)} runs ({which}) from {args.store} to {args.csv}", 0
