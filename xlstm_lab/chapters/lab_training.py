"""Methods chapter "Training at lab scale": the corpus, the recipe, the lr/batch calibration, speed, and the
bits per byte that general-purpose compressors reach on the same validation bytes."""

from __future__ import annotations

import dataclasses
import lzma
import math
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CALIBRATION_FILES", "calibration_runs", "compressor_rates", "corpus_table", "epochs_table",
           "largest_budget", "recipe_table", "rule_check", "sweep_cost_table", "throughput_table"]

#: The measured lr x batch sweeps behind the trainer's rules (``benchmarks/calibrate_lr.py``; card in
#: ``benchmarks/results/README.md``), relative to the repository root.
CALIBRATION_FILES = ("benchmarks/results/calibrate_lr_20261125.csv",
                     "benchmarks/results/calibrate_lr_20261125_batch2.csv")


def corpus_table(corpus) -> pd.DataFrame:
    """Documents and bytes of each split of a loaded corpus (``xlstm_lab.data.load_corpus``)."""
    return pd.DataFrame([
        {"split": "train", "bytes": int(len(corpus.train)), "share": len(corpus.train) /
         (len(corpus.train) + len(corpus.val))},
        {"split": "validation", "bytes": int(len(corpus.val)), "share": len(corpus.val) /
         (len(corpus.train) + len(corpus.val))},
    ]).assign(documents=int(corpus.n_documents))


def recipe_table() -> pd.DataFrame:
    """The training recipe every lab run shares: the trainer's defaults and rules, read from the code."""
    from xlstm_lab.train import rules, spec
    from xlstm_lab.train.optim import ADAM_EPS, BETAS

    defaults = {f.name: f.default for f in dataclasses.fields(spec.RunSpec)
                if f.default is not dataclasses.MISSING}
    rows = [
        ("optimizer", f"AdamW, betas {tuple(BETAS)}, eps {ADAM_EPS:g}"),
        ("peak learning rate", f"{rules.LAB_LR:g} (widths <= 64; lower for wider models by the rule)"),
        ("tokens per step", f"{rules.LAB_TOKENS_PER_STEP:,} (batch = tokens / context, a power of two)"),
        ("schedule", f"linear warm-up over {defaults['warmup_frac']:.0%} of the steps, cosine decay to "
                     f"{defaults['min_lr_frac']:.0%} of the peak"),
        ("weight decay", f"{defaults['weight_decay']:g} on matrices (not norms, biases, embeddings)"),
        ("gradient clipping", f"global norm {defaults['grad_clip']:g}"),
        ("repetition", f"at most {defaults['max_epochs']:g} epochs of the training split"),
        ("precision", "float32 on CPU; bf16 autocast with float32 weights on CUDA"),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def calibration_runs(root: str | Path | None = None) -> pd.DataFrame:
    """The lr x batch calibration runs (both families, 3e11 and 1e12 FLOPs, ctx 256), one row per run.

    Raises:
        FileNotFoundError: the CSVs are not there (they live in the repository, not in an installed package);
            the message names the files and the command that makes them.
    """
    base = Path(root) if root is not None else _repo_root()
    paths = [base / f for f in CALIBRATION_FILES]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"calibration results not found: {absent}; run this chapter from a clone of the "
                                "repository, or re-measure with `python benchmarks/calibrate_lr.py`")
    runs = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    return runs[runs["status"] == "done"].drop_duplicates("key").reset_index(drop=True)


def rule_check(cal: pd.DataFrame, lr: float, tokens_per_step: int) -> pd.DataFrame:
    """For each (family, budget): the best calibration cell and the gap of the trainer's rule cell to it.

    Args:
        cal: :func:`calibration_runs`.
        lr: the rule's peak learning rate.
        tokens_per_step: the rule's tokens per step (batch = tokens / context).

    Returns:
        family, budget_flops, best_lr, best_batch, best_loss, rule_loss, gap (nats; NaN if the rule's cell was
        not measured), cells (number of cells measured).
    """
    rows = []
    for (fam, budget), g in cal.groupby(["family", "budget_flops"]):
        cell = g.groupby(["lr", "batch_size"])["val_loss"].mean()
        (best_lr, best_b), best = cell.idxmin(), float(cell.min())
        batch = tokens_per_step // int(g["context_length"].iat[0])
        match = [v for (l_, b), v in cell.items() if math.isclose(l_, lr, rel_tol=1e-9) and b == batch]
        rule = float(match[0]) if match else float("nan")
        rows.append({"family": fam, "budget_flops": float(budget), "best_lr": float(best_lr),
                     "best_batch": int(best_b), "best_loss": best, "rule_loss": rule, "gap": rule - best,
                     "cells": int(len(cell))})
    return pd.DataFrame(rows)


def throughput_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Training speed per family and shape from the lab runs (medians; runs shared the machine, so indicative).

    Returns:
        family, d_model, n_layers, N_params, runs, tokens_per_s, model_flops_per_s (medians), threads (the
        thread counts the ``device`` column records).
    """
    threads = runs["device"].str.extract(r"(\d+) threads?", expand=False)
    g = runs.assign(threads=threads).groupby(["family", "d_model", "n_layers", "N_params"])
    out = g.agg(runs=("key", "size"), tokens_per_s=("tokens_per_s", "median"),
                model_flops_per_s=("model_flops_per_s", "median"),
                threads=("threads", lambda s: ",".join(sorted(set(s.dropna()))))).reset_index()
    return out.sort_values(["family", "N_params"]).reset_index(drop=True)


def sweep_cost_table(runs: pd.DataFrame, ctx: int = 256) -> pd.DataFrame:
    """What one IsoFLOP set costs: per family and budget, the seed-0 runs of the shipped IsoFLOP sweep at ``ctx``
    and their summed training wall time (the runs shared the machine, so this is what it took, not a benchmark).

    Returns:
        family, budget_flops, runs, minutes (sum of ``wall_s`` / 60), threads (thread counts of those runs).
    """
    iso = runs[(runs["sweep"] == "isoflop") & (runs["seed"] == 0) & (runs["context_length"] == ctx)]
    if iso.empty:
        raise ValueError(f"sweep_cost_table: no seed-0 IsoFLOP runs at ctx {ctx} among the {len(runs)} runs given.")
    threads = iso["device"].str.extract(r"(\d+) threads?", expand=False)
    g = iso.assign(threads=threads).groupby(["family", "budget_flops"])
    out = g.agg(runs=("key", "size"), minutes=("wall_s", lambda w: float(w.sum()) / 60.0),
                threads=("threads", lambda s: ",".join(sorted(set(s.dropna()))))).reset_index()
    return out.sort_values(["budget_flops", "family"]).reset_index(drop=True)


def epochs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Passes over the training split per budget and context: the least and most any run made."""
    g = runs.groupby(["context_length", "budget_flops"])["epochs"]
    return g.agg(runs="size", min_epochs="min", max_epochs="max").reset_index()


def largest_budget(family: str, n_params: float, ctx: int, train_tokens: int, max_epochs: float = 4.0
                   ) -> tuple[int, float]:
    """The largest training budget the trainer accepts for the ladder shape nearest ``n_params``.

    The trainer refuses plans that pass over the training split more than ``max_epochs`` times, so
    C_max = (training FLOPs per token) x max_epochs x (training tokens). Windows of ``ctx + 1`` tokens at stride
    ``ctx`` make an epoch a little shorter than the split; this bound ignores that (a fraction of a per cent).

    Returns:
        (N of the shape, C_max in FLOPs).
    """
    from xlstm_lab.accounting.flops import flops_per_sequence
    from xlstm_lab.accounting.params import count_params
    from xlstm_lab.runs import shape_near

    config = shape_near(family, n_params, ctx)
    return count_params(config), flops_per_sequence(config).per_token * max_epochs * train_tokens


def _zstd(data: bytes, level: int) -> int:
    import zstandard

    return len(zstandard.ZstdCompressor(level=level).compress(data))


def _xz(data: bytes) -> int:
    return len(lzma.compress(data, format=lzma.FORMAT_XZ, preset=9))


def compressor_rates(train: np.ndarray, val: np.ndarray) -> pd.DataFrame:
    """Bits per byte that ``xz -9`` and ``zstd -19`` spend on the validation bytes.

    Two readings: the validation split compressed alone, and its marginal cost after the training split
    (compress train + validation, subtract train alone): the compressor "trained" on the same text our models
    saw. Both are upper bounds a language model of the text should beat.

    Args:
        train, val: uint8 token streams (bytes).

    Returns:
        One row per compressor: ``compressor``, ``alone_bpb``, ``after_train_bpb``.
    """
    t, v = np.asarray(train, np.uint8).tobytes(), np.asarray(val, np.uint8).tobytes()
    out = []
    for name, size in (("xz -9", _xz), ("zstd -19", lambda b: _zstd(b, 19))):
        alone = size(v)
        after = size(t + v) - size(t)
        out.append({"compressor": name, "alone_bpb": 8.0 * alone / len(v), "after_train_bpb": 8.0 * after / len(v)})
    return pd.DataFrame(out)
