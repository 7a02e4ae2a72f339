"""``xlstm-lab fit parametric|isoflop``: scaling-law fits of a CSV of runs."""

from __future__ import annotations

import argparse
import math
import warnings

import pandas as pd

from xlstm_lab.cli.common import CliError, StatusWarning, read_csv, separator_hint

__all__ = ["register"]

# The columns of the paper's released per-run table (anchors data set xlstm_scaling_laws/runs.csv), which the
# lab's run store exports too.
_DEFAULTS = {"n_col": "N_params", "d_col": "D_tokens", "c_col": "C_flops_training"}
# Tried in order when --loss-col is not given: the paper's runs, then the lab's run store (nats per byte).
_LOSS_COLUMNS = ("val_dclm_loss", "val_loss")
# A law is fitted to one family at one context: a file that mixes them (a store's export after a two-family or a
# context sweep, the paper's runs.csv) must be narrowed with --where, never pooled into one parabola per budget.
_ONE_VALUE_COLUMNS = ("family", "context_length")


def _add_common(p: argparse.ArgumentParser, *, c_col: bool) -> None:
    p.add_argument("file", metavar="FILE.csv", help="one row per training run (comma-separated, with a header)")
    p.add_argument("--n-col", default=_DEFAULTS["n_col"], help="parameters column (default: %(default)s)")
    p.add_argument("--d-col", default=_DEFAULTS["d_col"], help="training tokens column (default: %(default)s)")
    if c_col:
        p.add_argument("--c-col", default=_DEFAULTS["c_col"], help="training FLOPs column (default: %(default)s)")
    p.add_argument("--loss-col", default=None,
                   help=f"final loss column (default: the first of {', '.join(_LOSS_COLUMNS)} in the file)")
    p.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE",
        help="keep only rows whose COL equals VALUE (compared as text; repeatable), e.g. --where family=llama",
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the fitted values as JSON")


def _fit_errors() -> tuple[type[Exception], ...]:
    from xlstm_lab.fit.types import FitError

    return (FitError,)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fit parametric`` and ``fit isoflop`` to the ``xlstm-lab`` parser."""
    fit = sub.add_parser("fit", help="fit a scaling law to a CSV of runs")
    kinds = fit.add_subparsers(dest="kind", required=True)

    par = kinds.add_parser("parametric", help="loss surface L = E + (A/N^alpha + B/D^beta)^gamma")
    _add_common(par, c_col=False)
    par.add_argument("--gamma", action="store_true",
                     help="also fit gamma (default: gamma = 1, the Chinchilla form)")
    par.add_argument("--delta", type=float, default=1e-3, help="Huber delta on log loss (default: %(default)s)")
    par.add_argument("--n-bootstrap", type=int, default=0,
                     help="bootstrap resamples for percentile intervals (default: 0, none)")
    par.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s; fixed, reproducible)")
    par.add_argument("--no-progress", action="store_true", help="no progress bars (shown from 20,000 rows on)")

    iso = kinds.add_parser("isoflop", help="IsoFLOP parabolas per budget and N*(C), D*(C) power laws")
    _add_common(iso, c_col=True)
    iso.add_argument("--no-d", action="store_true", help="fit N*(C) only (the file has no tokens column)")
    iso.add_argument("--budget-col", default=None, help="column naming each run's budget (default: group by C)")
    iso.add_argument("--exclude-budget", action="append", default=[], metavar="LABEL",
                     help="drop the runs of this budget label (repeatable; needs --budget-col), e.g. extra")
    iso.add_argument("--c-range", nargs=2, type=float, metavar=("LOW", "HIGH"), default=None,
                     help="only budgets with C in [LOW, HIGH] enter the power laws")
    iso.add_argument("--on-no-minimum", choices=("raise", "skip"), default="raise",
                     help="a budget without an interior minimum or with too few runs: fail (default) or skip it "
                          "and report it (exit code 3)")
    par.set_defaults(func=_run_parametric, user_errors=_fit_errors)
    iso.set_defaults(func=_run_isoflop, user_errors=_fit_errors)


def _read(args: argparse.Namespace, needed: list[str]) -> tuple[pd.DataFrame, str]:
    """The filtered runs (index: CSV line) and the loss column."""
    if not 0.0 < args.level < 1.0:
        raise CliError(f"--level must be in (0, 1), got {args.level}; e.g. --level 0.95")
    df = read_csv(args.file)
    hint = separator_hint(df)
    loss_col = args.loss_col
    if loss_col is None:
        loss_col = next((c for c in _LOSS_COLUMNS if c in df.columns), None)
        if loss_col is None:
            raise CliError(f"no loss column in {args.file}: neither of {list(_LOSS_COLUMNS)} is there; name one "
                           f"with --loss-col (available columns: {list(df.columns)}).{hint}")
    needed = [*needed, loss_col]
    for cond in args.where:
        col, sep, value = cond.partition("=")
        if not sep:
            raise CliError(f"--where needs COL=VALUE, got {cond!r}")
        needed.append(col)
        if col in df.columns:
            df = df[df[col].astype(str) == value]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise CliError(f"column(s) {missing} not in {args.file}; available columns: {list(df.columns)}.{hint}")
    if df.empty:
        raise CliError(f"no rows left in {args.file} after the --where filters {args.where}")
    for col in _ONE_VALUE_COLUMNS:
        values = sorted(df[col].dropna().astype(str).unique()) if col in df.columns else []
        if len(values) > 1:
            shown = ", ".join(values[:6]) + (", ..." if len(values) > 6 else "")
            raise CliError(f"{args.file} mixes {len(values)} values of {col} ({shown}); a scaling law is fitted to "
                           f"one {col} at a time: add --where {col}={values[0]} (one run of the command per value)")
    return df, loss_col


def _cli_words(text: str) -> str:
    """A fitter's advice with its keyword arguments spelt as this command's flags."""
    return text.replace("(on_no_minimum='skip')", "(--on-no-minimum skip)").replace(" with C in c_range=None", " (no --c-range given)")


def _status_warning(status: str, advice: str) -> None:
    warnings.warn(StatusWarning(f"fit status {status!r}: {advice}"), stacklevel=2)


def _law_line(name: str, law) -> str:
    if law is None:
        return f"{name}(C): not fitted (fewer than 2 budgets in range)"
    lo, hi = law.a_interval
    ci = f"{law.conf:.0%} t CI [{lo:.4f}, {hi:.4f}]" if math.isfinite(lo) else "no CI (2 budgets)"
    return (f"{name}(C) = {law.k:.4g} * C^{law.a:.4f}   (SE of exponent {law.se_a:.4f}, {ci}, "
            f"{law.n_points} budgets, status {law.status})")


def _run_isoflop(args: argparse.Namespace) -> tuple[dict, str, int]:
    from xlstm_lab.fit.isoflop import fit_isoflop

    d_col = None if args.no_d else args.d_col
    cols = [args.n_col, args.c_col] + ([d_col] if d_col else []) + ([args.budget_col] if args.budget_col else [])
    df, loss_col = _read(args, cols)
    try:
        res = fit_isoflop(
            df, n_col=args.n_col, d_col=d_col, c_col=args.c_col, loss_col=loss_col,
            budget_col=args.budget_col, c_range=tuple(args.c_range) if args.c_range else None,
            on_no_minimum=args.on_no_minimum, conf=args.level, exclude_budgets=tuple(args.exclude_budget),
        )
    except _fit_errors() as exc:  # the library's advice, in the command line's words
        raise CliError(_cli_words(str(exc))) from None
    out = {"file": args.file, "n_runs": len(df), **res.to_dict()}
    shown = res.optima.drop(columns=[c for c in ("D_opt", "D_opt_lo", "D_opt_hi") if d_col is None])
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200,
                           "display.max_columns", 50):
        lines = [f"IsoFLOP fit of {len(df)} runs ({args.file}, loss column {loss_col}); status {res.status}",
                 shown.to_string(index=False), "",
                 f"intervals: {res.conf:.0%} (Fieller for N_opt/D_opt, t for L_opt and the exponents)",
                 _law_line("N_opt", res.n_opt)]
    if d_col is not None:
        lines.append(_law_line("D_opt", res.d_opt))
    lines += [f"note: {_cli_words(n)}" for n in res.notes]
    if res.status != "ok":
        advice = {"skipped_budgets": f"{len(res.skipped)} budget(s) skipped ({', '.join(b for b, _ in res.skipped)}); "
                                     "see the notes, extend those grids or drop them with --exclude-budget",
                  "no_power_law": ("fewer than 2 budgets in --c-range, so no power law; widen --c-range"
                                   if args.c_range else "fewer than 2 budgets fitted, so no power law; see the notes "
                                   "and add budgets")}
        _status_warning(res.status, advice.get(res.status, "see the notes"))
    return out, "\n".join(lines), 0 if res.status == "ok" else 3


def _run_parametric(args: argparse.Namespace) -> tuple[dict, str, int]:
    from xlstm_lab.fit.parametric import fit_parametric

    df, loss_col = _read(args, [args.n_col, args.d_col])
    res = fit_parametric(data=df, N=args.n_col, D=args.d_col, loss=loss_col, gamma=args.gamma, delta=args.delta,
                         n_bootstrap=args.n_bootstrap, seed=args.seed, level=args.level,
                         progress=False if args.no_progress else None)
    out = {"file": args.file, "loss_col": loss_col, **res.to_dict()}
    scalars = {k: v for k, v in out.items()
               if v is not None and not isinstance(v, (list, dict)) and k not in ("message", "file", "loss_col")}
    width = max(len(k) for k in scalars)
    lines = [f"Parametric fit L = E + (A/N^alpha + B/D^beta)^gamma to {len(df)} runs ({args.file}, loss column "
             f"{loss_col})"]
    for k, v in scalars.items():
        lines.append(f"  {k:<{width}} = {v:.6g}" if isinstance(v, float) else f"  {k:<{width}} = {v}")
    for k, (lo, hi) in (res.intervals or {}).items():
        lines.append(f"  {k:<{width}}   {args.level:.0%} bootstrap interval [{lo:.6g}, {hi:.6g}]")
    lines.append(f"  {res.message}")
    lines += [f"note: {n}" for n in res.notes]
    if res.status != "ok":
        _status_warning(res.status, res.notes[0] if res.notes else res.message)
    return out, "\n".join(lines), 0 if res.status == "ok" else 3
