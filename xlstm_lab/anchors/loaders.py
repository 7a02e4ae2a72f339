"""Convenience loaders for the published data sets: filtered, typed frames ready for the fitters and chapters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xlstm_lab.anchors.registry import load

__all__ = [
    "FAMILY_LABELS",
    "MISSING_ISOFLOP",
    "compare_inference_tables",
    "load_gadre",
    "load_inference",
    "load_inference_fit_table",
    "load_isoflop_runs",
    "load_tokenparam_runs",
]

#: Upstream family names -> the short labels used throughout the book ("xlstm" / "llama").
FAMILY_LABELS: dict[str, str] = {"xlstm_mlstm_v1": "xlstm", "llama": "llama"}

#: IsoFLOP grids the paper used whose pickles were too large for the snapshot: (family label, ctx) -> pickle.
MISSING_ISOFLOP: dict[tuple[str, int], str] = {
    ("xlstm", 2048): "data/isoflop_mlstm_ctx2048_wandb_data.pkl",
    ("xlstm", 8192): "data/isoflop_mlstm_ctx8192_wandb_data.pkl",
}


def _family_label(family: str) -> str:
    """Map "xlstm", "xlstm_mlstm_v1", "llama" (any case) to the short label; else raise ValueError."""
    key = family.strip().lower()
    if key in FAMILY_LABELS.values():
        return key
    if key in FAMILY_LABELS:
        return FAMILY_LABELS[key]
    valid = sorted(set(FAMILY_LABELS) | set(FAMILY_LABELS.values()))
    raise ValueError(f"unknown family {family!r}; use one of {valid}")


def _add_family_label(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["family_label"] = df["family"].map(FAMILY_LABELS)
    if df["family_label"].isna().any():
        unknown = sorted(set(df.loc[df["family_label"].isna(), "family"]))
        raise ValueError(f"rows with unknown family {unknown}; extend FAMILY_LABELS")
    return df


def load_isoflop_runs(
    family: str | None = None,
    ctx: int | None = None,
    selected_only: bool = True,
    experiment_set: str | None = "isoflop",
    *,
    path: str | Path | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """IsoFLOP training runs of the paper (``runs.csv``), one row per run.

    Args:
        family: ``"xlstm"`` / ``"xlstm_mlstm_v1"`` or ``"llama"``; None for both.
        ctx: training context length (2048, 8192, 16384); None for all.
        selected_only: keep only the rows upstream's plot/fit filter keeps (``repo_selected``). Only the
            ``isoflop`` set has such a filter; for the other sets pass False.
        experiment_set: ``"isoflop"`` (main grid), ``"isoflop_flops_chinchilla"``, ``"isoflop_large_gbs256"``,
            or None for all sets.
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        DataFrame with the ``runs.csv`` columns plus ``family_label`` ("xlstm" / "llama"). N in parameters,
        D in tokens, C in FLOPs (paper convention, not 6ND), loss in nats/token.

    Raises:
        ValueError: unknown family or set, ``selected_only`` on a set without upstream filter, or a selection
            that holds no rows (the message says which combinations exist and which grids are missing).
    """
    df = _add_family_label(load("xlstm_runs", path=path, verify=verify))
    sets = sorted(set(df["experiment_set"]))
    if experiment_set is not None:
        if experiment_set not in sets:
            raise ValueError(f"unknown experiment_set {experiment_set!r}; use one of {sets} or None")
        df = df[df["experiment_set"] == experiment_set]
    if selected_only:
        unfiltered = sorted(set(df.loc[df["repo_selected"].isna(), "experiment_set"]))
        if unfiltered:
            raise ValueError(
                f"experiment set(s) {unfiltered} have no upstream selection filter (repo_selected is empty); "
                "pass selected_only=False"
            )
        df = df[df["repo_selected"].fillna(False).astype(bool)]
    label = _family_label(family) if family is not None else None
    if label is not None:
        df = df[df["family_label"] == label]
    if ctx is not None:
        df = df[df["context_length"] == int(ctx)]
    if df.empty:
        missing = MISSING_ISOFLOP.get((label, int(ctx))) if label is not None and ctx is not None else None
        hint = (
            f"the paper's runs for this grid are in {missing} (NX-AI/xlstm_scaling_laws), which is not in the "
            "snapshot shipped here"
            if missing and experiment_set in ("isoflop", None)
            else "no runs match"
        )
        raise ValueError(f"no runs for family={family!r}, ctx={ctx!r}, experiment_set={experiment_set!r}: {hint}")
    return df.reset_index(drop=True)


def load_tokenparam_runs(
    family: str | None = None, *, path: str | Path | None = None, verify: bool = True
) -> pd.DataFrame:
    """Over-training (token/param) runs at ctx 8192, recovered from upstream's executed notebooks.

    Args:
        family: ``"xlstm"`` / ``"xlstm_mlstm_v1"`` or ``"llama"``; None for both.
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        66 rows (35 xLSTM, 31 Transformer) with the CSV columns plus ``family_label`` ("xlstm" / "llama") and
        ``preset`` (float64 D/N preset 22 ... 2200; NaN for the rows labelled "extra", which upstream excludes
        from the slope fits; the 7B-long run is also labelled "extra"). Values carry the notebooks' display
        precision (about 7 significant figures).
    """
    df = _add_family_label(load("xlstm_tokenparam", path=path, verify=verify))
    df["preset"] = pd.to_numeric(df["preset_token_param_ratio"], errors="coerce").astype("float64")
    if family is not None:
        df = df[df["family_label"] == _family_label(family)]
    return df.reset_index(drop=True)


_TIMING_MS = {"ttft_ms": "ttft_s", "steptime_ms": "steptime_s"}


def load_inference(
    family: str | None = None, valid_only: bool = True, *, path: str | Path | None = None, verify: bool = True
) -> pd.DataFrame:
    """Inference timings (TTFT, decode step time, throughput, memory) of the paper's models.

    Upstream stores -1 for "not measured / out of memory"; here every such value (and any value <= 0, as
    upstream's notebooks do) becomes NaN in ``ttft_ms``, ``steptime_ms`` and ``throughput_tok_per_s``.

    Args:
        family: ``"xlstm"``, ``"llama2"`` or ``"llama3"`` (upstream's fits use xlstm and llama2); None for all.
        valid_only: drop rows where neither TTFT nor step time was measured. A kept row may still have a NaN
            step time (24 rows measured TTFT only).
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        DataFrame with the CSV columns (times in ms) plus ``ttft_s`` and ``steptime_s`` in seconds, and
        ``decode_step_s``: the time of one decode step of the whole batch. The stored ``steptime_ms`` equals
        B²/throughput exactly (B times that step time, for B > 1); upstream's own fitting table holds
        ``steptime_ms / B``, which is what ``decode_step_s`` is. At batch 1 the two agree.
    """
    df = load("xlstm_inference", path=path, verify=verify)
    for col in (*_TIMING_MS, "throughput_tok_per_s"):
        df[col] = df[col].where(df[col] > 0, np.nan)
    for ms, s in _TIMING_MS.items():
        df[s] = df[ms] / 1e3
    df["decode_step_s"] = df["steptime_s"] / df["batch_size"]
    if family is not None:
        families = sorted(set(df["family"]))
        if family not in families:
            raise ValueError(f"unknown inference family {family!r}; use one of {families}")
        df = df[df["family"] == family]
    if valid_only:
        df = df[df["ttft_ms"].notna() | df["steptime_ms"].notna()]
    return df.reset_index(drop=True)


def load_inference_fit_table(
    family: str | None = None, valid_only: bool = True, *, path: str | Path | None = None, verify: bool = True
) -> pd.DataFrame:
    """The timing table upstream's runtime-model fits read (``inference_fit_table.csv``).

    Flattened from ``inference_results_df_dict.pkl`` (xLSTM and Llama-2, 780 rows each). It agrees with
    ``inference.csv`` except in 142 Llama-2 TTFT values (see :func:`compare_inference_tables`), and its
    ``steptime_ms`` is already the time of one decode step (``inference.csv``'s ``steptime_ms`` / B).
    Values <= 0 (not measured) become NaN in ``ttft_ms``, ``steptime_ms`` and ``throughput``.

    Args:
        family: ``"xlstm"`` or ``"llama2"``; None for both.
        valid_only: drop rows where neither TTFT nor step time was measured.
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        DataFrame with the CSV columns (times in ms) plus ``size_tag`` (e.g. "7b"), ``ttft_s`` and
        ``decode_step_s`` (seconds; the same meaning as in :func:`load_inference`).

    Raises:
        ValueError: unknown family.
    """
    df = load("xlstm_inference_fit", path=path, verify=verify)
    for col in ("ttft_ms", "steptime_ms", "throughput"):
        df[col] = df[col].where(df[col] > 0, np.nan)
    df["size_tag"] = df["model_tag"].str.split("_", n=1).str[1]
    df["ttft_s"] = df["ttft_ms"] / 1e3
    df["decode_step_s"] = df["steptime_ms"] / 1e3
    if family is not None:
        families = sorted(set(df["family"]))
        if family not in families:
            raise ValueError(f"unknown inference family {family!r} in the fit table; use one of {families}")
        df = df[df["family"] == family]
    if valid_only:
        df = df[df["ttft_ms"].notna() | df["steptime_ms"].notna()]
    return df.reset_index(drop=True)


def compare_inference_tables(rtol: float = 1e-6) -> pd.DataFrame:
    """Row-by-row comparison of the two released timing tables (``inference.csv`` and the fit table).

    Args:
        rtol: relative difference above which two timings count as different. Both CSVs store 10 significant
            digits, so equal timings agree to ~1e-9 (the step time to ~1e-9 after the division by B).

    Returns:
        One row per (model, batch, prefill) of the xLSTM and Llama-2 models (1560 rows) with ``family``,
        ``model``, ``size_tag``, ``batch_size``, ``prefill_len``, ``ttft_ms_csv`` and ``ttft_ms_fit`` (NaN where
        not measured), ``ttft_ratio`` (csv / fit), ``ttft_differs`` (both measured and differing by more than
        ``rtol``), ``step_ms_csv`` (one decode step: ``inference.csv``'s steptime_ms / B), ``step_ms_fit``
        and ``step_differs``.
    """
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be a positive finite number, got {rtol!r}")
    csv = load_inference(valid_only=False)
    csv = csv[csv["family"].isin(["xlstm", "llama2"])]
    fit = load_inference_fit_table(valid_only=False)
    keys = ["model", "batch_size", "prefill_len"]
    both = csv[["family", "model", "size_tag", "batch_size", "prefill_len", "ttft_ms", "steptime_ms"]].merge(
        fit.rename(columns={"model_tag": "model"})[[*keys, "ttft_ms", "steptime_ms"]],
        on=keys, how="outer", suffixes=("_csv", "_fit"), validate="one_to_one",
    )
    both["step_ms_csv"] = both.pop("steptime_ms_csv") / both["batch_size"]
    both["step_ms_fit"] = both.pop("steptime_ms_fit")
    both["ttft_ratio"] = both["ttft_ms_csv"] / both["ttft_ms_fit"]
    both["ttft_differs"] = (both["ttft_ratio"] - 1.0).abs() > rtol
    both["step_differs"] = (both["step_ms_csv"] / both["step_ms_fit"] - 1.0).abs() > rtol
    return both.sort_values(["family", "model", "batch_size", "prefill_len"]).reset_index(drop=True)


def load_gadre(
    dataset: str | None = None, *, path: str | Path | None = None, verify: bool = True
) -> pd.DataFrame:
    """Gadre et al. (2024) over-training testbed: one row per model (N, D, M = D/N, losses on 8 sets).

    Args:
        dataset: training set ``"c4_original"``, ``"rpj"`` or ``"rw_original"``; None for all.
        path, verify: see :func:`xlstm_lab.anchors.registry.load`.

    Returns:
        DataFrame with the CSV columns; ``flops_6ND`` as float64. The paper's default target is ``loss_c4_val``.
    """
    df = load("gadre_overtraining", path=path, verify=verify)
    if dataset is not None:
        datasets = sorted(set(df["train_dataset"]))
        if dataset not in datasets:
            raise ValueError(f"unknown Gadre training set {dataset!r}; use one of {datasets}")
        df = df[df["train_dataset"] == dataset]
    return df.reset_index(drop=True)
