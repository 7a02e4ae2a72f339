"""The lab half of a chapter: the runs its parameters ask for, read from the shipped sweeps or trained now.

A chapter plans a sweep from its parameters (:func:`plan`), then :func:`gather` looks every planned run up by its
key: first in the shipped CSV (``anchors.load_lab_runs``, the sweeps trained for this book), then in the local run
store (``$XLSTM_LAB_STORE``, default ``<cache>/lab_runs.sqlite`` beside the corpus cache), and trains only the runs
found in neither -- saying first how many and about how long. Each row of the result says where it came from
(``source``), so a chapter can say which rows were trained live in this build.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xlstm_lab.anchors import load_lab_runs
from xlstm_lab.params import ParameterError
from xlstm_lab.runs import (
    RunsError,
    RunStore,
    SkippedSize,
    SweepPlan,
    SweepSettings,
    context_plan,
    export_frame,
    isoflop_plan,
    run_sweep,
    tokenparam_plan,
)

__all__ = ["STORE_ENV", "SOURCES", "FAMILY_NAMES", "LabRuns", "default_store", "plan", "gather", "estimate_seconds", "seed_noise",
           "grid_key"]

STORE_ENV = "XLSTM_LAB_STORE"
"""Environment variable naming the run store a chapter trains missing runs into."""

SOURCES = ("shipped", "trained now", "stored earlier")
"""Where a row came from: the shipped sweeps, trained by this execution, or a local store from an earlier one."""

FAMILY_NAMES = {"xlstm": "xLSTM", "llama": "Transformer"}
"""Family key -> the name the lab halves' prose uses."""

GRID = ["family", "context_length", "budget_flops", "d_model", "n_layers"]
"""Columns that name a grid point (shape at a budget); seeds are repeats of one grid point."""


def default_store() -> Path:
    """``$XLSTM_LAB_STORE`` if set, else ``lab_runs.sqlite`` in the corpus cache root (``$XLSTM_LAB_DATA`` or
    ``~/.cache/xlstm-lab``)."""
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env)
    from xlstm_lab.data.corpora import data_dir

    return data_dir() / "lab_runs.sqlite"


def grid_key(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming its grid point (family, context, budget, shape), the same for every seed."""
    return frame[GRID].astype(str).agg("|".join, axis=1)


def plan(kind: str, *, families: Sequence[str], param: str, budgets: Iterable[float] = (),
         contexts: Iterable[int] = (), ratios: Iterable[float] = (), ctx: int = 256, seeds: Sequence[int] = (0,),
         around: float = 1e12, n_sizes: int = 5) -> SweepPlan:
    """The sweep a chapter's parameters describe (the same plan ``xlstm-lab sweep KIND ...`` makes).

    Args:
        kind: "isoflop", "context" or "tokenparam".
        families: "xlstm", "llama" or both.
        param: the chapter parameter named in errors (e.g. "lab_budgets").
        budgets: training budgets in FLOPs (isoflop, context).
        contexts: context lengths (context).
        ratios: tokens per parameter (tokenparam).
        ctx: context length (isoflop, tokenparam).
        seeds: seeds of every grid point.
        around: tokenparam: the budget whose expected optimum centres the sizes.
        n_sizes: sizes per grid point.

    Raises:
        ParameterError: naming ``param`` -- a budget too small or too large for the corpus (the trainer's reason
            and the fix), an unknown family, an empty list.
    """
    settings = SweepSettings(seeds=tuple(int(s) for s in seeds), n_sizes=int(n_sizes))
    try:
        if kind == "isoflop":
            return isoflop_plan(families, budgets, ctx=int(ctx), settings=settings)
        if kind == "context":
            return context_plan(families, [int(c) for c in contexts], budgets, settings=settings)
        if kind == "tokenparam":
            return tokenparam_plan(families, ratios, ctx=int(ctx), around=float(around), settings=settings)
    except RunsError as exc:
        raise ParameterError(f"parameter {param!r}: {exc}") from None
    raise ValueError(f"unknown sweep kind {kind!r}; use isoflop, context or tokenparam")


def estimate_seconds(runs: Sequence, reference: pd.DataFrame) -> float:
    """Expected training time of planned runs, from the shipped runs' speed on the project's 2-core CPU.

    A run whose shape (family, width, depth, context) was shipped takes that shape's median seconds per step;
    any other takes its FLOPs at the family's median FLOP rate. An estimate only: machines and loads differ.
    """
    if not len(runs):
        return 0.0
    ref = reference.assign(s_per_step=reference["wall_s"] / reference["steps"],
                           rate=reference["C_flops_training"] / reference["wall_s"])
    per_shape = ref.groupby(["family", "d_model", "n_layers", "context_length"])["s_per_step"].median()
    per_family = ref.groupby("family")["rate"].median()
    total = 0.0
    for r in runs:
        m = r.spec.model
        shape = (m.family, m.d_model, m.n_layers, m.context_length)
        if shape in per_shape.index:
            total += float(per_shape[shape]) * r.plan.steps
        else:
            total += r.plan.flops / float(per_family.get(m.family, ref["rate"].median()))
    return total


@dataclass(frozen=True)
class LabRuns:
    """The runs of one chapter's plan, wherever they came from.

    Attributes:
        runs: one row per planned run (``xlstm_lab.runs.EXPORT_COLUMNS`` plus ``source``, one of :data:`SOURCES`)
            and, with ``other_seeds``, shipped repeats of the same grid points with other seeds.
        store: the local run store used for missing runs.
        planned: number of runs in the plan.
        trained_now: keys trained by this call.
        failed: keys whose training failed or diverged now (kept in the store, not in ``runs``).
        skipped: sizes the trainer could not plan at some grid point (with the reason).
        estimate_s: the time estimate printed before training.
        wall_s: seconds spent training now.
    """

    runs: pd.DataFrame
    store: str
    planned: int
    trained_now: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    skipped: tuple[SkippedSize, ...] = field(default=())
    estimate_s: float = 0.0
    wall_s: float = 0.0

    def counts(self) -> dict[str, int]:
        """Rows per source, every source present (0 where none)."""
        got = self.runs["source"].value_counts()
        return {s: int(got.get(s, 0)) for s in SOURCES}

    def summary(self) -> str:
        """One sentence: how many runs came from where, and how long the live training took."""
        c = self.counts()
        text = (f"{len(self.runs)} runs: {c['shipped']} shipped with the book, {c['trained now']} trained in this "
                f"execution ({self.wall_s:.0f} s), {c['stored earlier']} from the local store {self.store}")
        return text + (f"; {len(self.failed)} failed or diverged" if self.failed else "") + "."


def _stored(store: RunStore, keys: set[str]) -> pd.DataFrame:
    frame = export_frame(store)
    return frame[frame["key"].isin(keys)]


def gather(sweep: SweepPlan, *, store: str | os.PathLike | None = None, shipped: pd.DataFrame | None = None,
           other_seeds: bool = False, progress: bool | None = None, train: bool = True) -> LabRuns:
    """Every run of ``sweep``: shipped ones from the CSV, earlier ones from the store, the rest trained now.

    Args:
        sweep: from :func:`plan`.
        store: the local run store (default :func:`default_store`; created if missing).
        shipped: the shipped runs (default ``anchors.load_lab_runs()``; tests pass their own).
        other_seeds: also return shipped runs at the plan's grid points with seeds the plan does not ask for
            (the second seeds shipped near each optimum).
        progress: tqdm bars while training (default: on, except in ``make book``).
        train: False returns only what exists (for a dry look), training nothing.

    Returns:
        A :class:`LabRuns`. Before training it prints one line: how many runs, the estimated time, the store.
    """
    shipped = load_lab_runs() if shipped is None else shipped
    store_path = Path(store) if store is not None else default_store()
    keys = [r.key for r in sweep.runs]
    have = shipped[shipped["key"].isin(keys)].assign(source="shipped")
    missing = [r for r in sweep.runs if r.key not in set(have["key"])]
    frames = [have]
    trained: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    estimate = wall = 0.0
    if missing:
        store_path.parent.mkdir(parents=True, exist_ok=True)
        with RunStore(store_path) as db:
            before = _stored(db, {r.key for r in missing})
            frames.append(before.assign(source="stored earlier"))
            todo = [r for r in missing if r.key not in set(before["key"])]
            estimate = estimate_seconds(todo, shipped)
            if todo and train:
                print(f"Training {len(todo)} run{'s' if len(todo) != 1 else ''} not shipped with the book "
                      f"(estimated {estimate / 60:.1f} min at the shipped runs' speed) into {store_path}", flush=True)
                show = progress if progress is not None else not os.environ.get("XLSTM_LAB_BOOK")
                sub = SweepPlan(sweep.kind, tuple(todo), sweep.skipped, sweep.corpus, sweep.min_steps)
                t0 = time.perf_counter()
                report = run_sweep(db, sub, progress=bool(show))
                wall = time.perf_counter() - t0
                trained = tuple(k for k, s in report.ran.items() if s == "done")
                failed = tuple(k for k, s in report.ran.items() if s not in ("done",))
                frames.append(_stored(db, set(trained)).assign(source="trained now"))
    runs = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else \
        have.iloc[0:0]
    if other_seeds and len(runs):
        grid = set(grid_key(runs))
        extra = shipped[~shipped["key"].isin(runs["key"])]
        extra = extra[grid_key(extra).isin(grid)].assign(source="shipped")
        runs = pd.concat([runs, extra], ignore_index=True)
    return LabRuns(runs.reset_index(drop=True), str(store_path), len(keys), trained, failed, sweep.skipped,
                   estimate, wall)


def seed_noise(runs: pd.DataFrame) -> pd.DataFrame:
    """Loss spread between seeds at each grid point with >= 2 seeds.

    Returns:
        One row per such grid point: family, context_length, budget_flops, N_params, ``n_seeds``, ``spread``
        (max - min val_loss, nats) and ``sd`` (sample standard deviation, nats).
    """
    keyed = runs.assign(_grid=grid_key(runs))
    rows = []
    for _, g in keyed.groupby("_grid"):
        if g["seed"].nunique() < 2:
            continue
        loss = g["val_loss"].to_numpy(float)
        rows.append({"family": g["family"].iat[0], "context_length": int(g["context_length"].iat[0]),
                     "budget_flops": float(g["budget_flops"].iat[0]), "N_params": int(g["N_params"].iat[0]),
                     "n_seeds": int(g["seed"].nunique()), "spread": float(np.ptp(loss)),
                     "sd": float(np.std(loss, ddof=1))})
    cols = ["family", "context_length", "budget_flops", "N_params", "n_seeds", "spread", "sd"]
    return pd.DataFrame(rows, columns=cols)
