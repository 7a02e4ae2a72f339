"""``xlstm-lab fit parametric|isoflop``: scaling-law fits of a CSV of runs."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from xlstm_lab.cli.common import CliError

__all__ = ["register"]

# The columns of the paper's released per-run table (anchors data set xlstm_scaling_laws/runs.csv).
_DEFAULTS = {"n_col": "N_params", "d_col": "D_tokens", "c_col": "C_flops_training", "loss_col": "val_dclm_loss"}
_PARAMETRIC_KEYS = ("E", "A", "B", "alpha", "beta", "gamma", "objective")


def _add_common(p: argparse.ArgumentParser, *, c_col: bool) -> None:
    p.add_argument("file", metavar="FILE.csv", help="one row per training run")
    p.add_argument("--n-col", default=_DEFAULTS["n_col"], help="parameters column (default: %(default)s)")
    p.add_argument("--d-col", default=_DEFAULTS["d_col"], help="training tokens column (default: %(default)s)")
    if c_col:
        p.add_argument("--c-col", default=_DEFAULTS["c_col"], help="training FLOPs column (default: %(default)s)")
    p.add_argument("--loss-col", default=_DEFAULTS["loss_col"], help="final loss column (default: %(default)s)")
    p.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE",
        help="keep only rows whose COL equals VALUE (compared as text; repeatable), e.g. --where family=llama",
    )
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

    iso = kinds.add_parser("isoflop", help="IsoFLOP parabolas per budget and N*(C), D*(C) power laws")
    _add_common(iso, c_col=True)
    iso.add_argument("--budget-col", default=None, help="column naming each run's budget (default: group by C)")
    iso.add_argument("--exclude-budget", action="append", default=[], metavar="LABEL",
                     help="drop the runs of this budget label (repeatable; needs --budget-col), e.g. extra")
    iso.add_argument("--c-range", nargs=2, type=float, metavar=("LOW", "HIGH"), default=None,
                     help="only budgets with C in [LOW, HIGH] enter the power laws")
    iso.add_argument("--on-no-minimum", choices=("raise", "skip"), default="raise",
                     help="a budget without an interior minimum: fail (default) or skip it and report it")
    iso.add_argument("--n-bootstrap", type=int, default=0, help="bootstrap resamples per budget (default: 0)")
    iso.add_argument("--seed", type=int, default=None, help="bootstrap seed")
    par.set_defaults(func=_run_parametric, user_errors=_fit_errors)
    iso.set_defaults(func=_run_isoflop, user_errors=_fit_errors)


def _read(args: argparse.Namespace, needed: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(args.file)
    except FileNotFoundError:
        raise CliError(f"file not found: {args.file}") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise CliError(f"cannot read {args.file} as CSV: {exc}") from None
    for cond in args.where:
        col, sep, value = cond.partition("=")
        if not sep:
            raise CliError(f"--where needs COL=VALUE, got {cond!r}")
        needed = needed + [col]
        if col in df.columns:
            df = df[df[col].astype(str) == value]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise CliError(f"column(s) {missing} not in {args.file}; available columns: {list(df.columns)}")
    if df.empty:
        raise CliError(f"no rows left in {args.file} after the --where filters {args.where}")
    return df



def _law_line(name: str, law, boot: tuple[float, float]) -> str:
    if law is None:
        return f"{name}(C): not fitted (fewer than 2 budgets in range)"
    lo, hi = law.a_interval
    extra = f", bootstrap CI [{boot[0]:.4f}, {boot[1]:.4f}]" if all(map(math.isfinite, boot)) else ""
    return (f"{name}(C) = {law.k:.4g} * C^{law.a:.4f}   (SE of exponent {law.se_a:.4f}, "
            f"{law.conf:.0%} t CI [{lo:.4f}, {hi:.4f}]{extra}, {law.n_points} budgets, status {law.status})")


def _run_isoflop(args: argparse.Namespace) -> tuple[dict, str]:
    from xlstm_lab.fit.isoflop import fit_isoflop

    cols = [args.n_col, args.d_col, args.c_col, args.loss_col] + ([args.budget_col] if args.budget_col else [])
    df = _read(args, cols)
    res = fit_isoflop(
        df, n_col=args.n_col, d_col=args.d_col, c_col=args.c_col, loss_col=args.loss_col,
        budget_col=args.budget_col, c_range=tuple(args.c_range) if args.c_range else None,
        on_no_minimum=args.on_no_minimum, n_bootstrap=args.n_bootstrap, seed=args.seed,
        exclude_budgets=tuple(args.exclude_budget),
    )
    out = {"optima": res.optima.to_dict(orient="records"),
           "n_opt": None if res.n_opt is None else res.n_opt.to_dict(),
           "d_opt": None if res.d_opt is None else res.d_opt.to_dict(),
           "n_exponent_interval": list(res.n_exponent_interval), "d_exponent_interval": list(res.d_exponent_interval),
           "status": res.status, "skipped": [{"budget": b, "reason": r} for b, r in res.skipped]}
    for law in ("n_opt", "d_opt"):
        if out[law] is not None:
            out[law].pop("residuals")
    shown = res.optima.copy()
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
        lines = [f"IsoFLOP fit of {len(df)} runs ({args.file}); status {res.status}", shown.to_string(index=False), "",
                 _law_line("N_opt", res.n_opt, res.n_exponent_interval),
                 _law_line("D_opt", res.d_opt, res.d_exponent_interval)]
    lines += [f"note: {n}" for n in res.notes]
    return out, "\n".join(lines), 0


def _run_parametric(args: argparse.Namespace) -> tuple[dict, str]:
    try:  # lazy: only this command needs the surface fitter
        from xlstm_lab.fit.surface import fit_parametric
    except ImportError as exc:
        raise CliError(f"the parametric fitter is not available ({exc})") from None

    df = _read(args, [args.n_col, args.d_col, args.loss_col])
    res = fit_parametric(df[args.n_col].to_numpy(), df[args.d_col].to_numpy(), df[args.loss_col].to_numpy(),
                         gamma=args.gamma, delta=args.delta)
    full = res.to_dict()
    # Scalars only (the fit's residual arrays would drown the numbers).
    out = {k: v for k, v in full.items() if not isinstance(v, (list, tuple, dict, np.ndarray))}
    width = max(len(k) for k in out)
    lines = [f"Parametric fit L = E + (A/N^alpha + B/D^beta)^gamma to {len(df)} runs ({args.file})"]
    for k, v in out.items():
        lines.append(f"  {k:<{width}} = {v:.6g}" if isinstance(v, float) else f"  {k:<{width}} = {v}")
    return out, "\n".join(lines), 0

