"""The run store and sweeps: every training run in one SQLite file, sweeps that skip finished runs and resume.

Typical use (the ``xlstm-lab sweep`` and ``xlstm-lab runs`` commands wrap exactly this)::

    from xlstm_lab.runs import RunStore, SweepSettings, isoflop_plan, run_sweep, export_csv
    plan = isoflop_plan(["xlstm", "llama"], [3e11, 1e12], ctx=256, sizes="auto",
                        settings=SweepSettings(seeds=(0, 1)))
    report = run_sweep("runs/lab.sqlite", plan)          # trains what the store does not have yet
    export_csv("runs/lab.sqlite", "runs.csv")             # N_params, D_tokens, C_flops_training, val_loss, ...

Modules: ``store`` (the database), ``records`` (a stored run), ``ladder`` (shapes, ``sizes="auto"``),
``expand`` (the three sweep grids), ``sweep`` (the driver), ``executors`` (local, Ray), ``export`` (CSV),
``errors``. Torch is imported only when a run trains.
"""

from xlstm_lab.runs.errors import (
    ExecutorError,
    NoFeasibleSizeError,
    NotARunStoreError,
    RunsError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    StoreVersionError,
    SweepError,
)
from xlstm_lab.runs.executors import Executor, Job, LocalExecutor, RayExecutor, execute_run, usable_cores
from xlstm_lab.runs.expand import (
    PlannedRun,
    SkippedSize,
    SweepPlan,
    SweepSettings,
    TrainerRules,
    context_plan,
    isoflop_plan,
    tokenparam_plan,
    trainer_rules,
)
from xlstm_lab.runs.export import EXPORT_COLUMNS, export_csv, export_frame, records_frame
from xlstm_lab.runs.ladder import CALIBRATION, N_OPT_COEF, N_OPT_EXPONENT, ladder_shapes, n_opt, pick_sizes, shape_near
from xlstm_lab.runs.records import RunRecord
from xlstm_lab.runs.store import DEFAULT_STORE, FINISHED, RunStore, checkpoint_root
from xlstm_lab.runs.sweep import SweepReport, run_sweep

__all__ = [
    "RunStore",
    "RunRecord",
    "DEFAULT_STORE",
    "FINISHED",
    "checkpoint_root",
    "SweepSettings",
    "SweepPlan",
    "PlannedRun",
    "SkippedSize",
    "TrainerRules",
    "trainer_rules",
    "isoflop_plan",
    "tokenparam_plan",
    "context_plan",
    "run_sweep",
    "SweepReport",
    "Executor",
    "Job",
    "LocalExecutor",
    "RayExecutor",
    "execute_run",
    "usable_cores",
    "EXPORT_COLUMNS",
    "export_frame",
    "export_csv",
    "records_frame",
    "CALIBRATION",
    "N_OPT_COEF",
    "N_OPT_EXPONENT",
    "n_opt",
    "ladder_shapes",
    "shape_near",
    "pick_sizes",
    "RunsError",
    "StoreError",
    "NotARunStoreError",
    "StoreNotFoundError",
    "StoreLockedError",
    "StoreVersionError",
    "SweepError",
    "NoFeasibleSizeError",
    "ExecutorError",
]
