"""Registry of the published data sets shipped with the package: name -> CSV, sha256, licence, typed schema."""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

__all__ = [
    "AnchorError",
    "AnchorChecksumError",
    "AnchorSchemaError",
    "Column",
    "DataSet",
    "REGISTRY",
    "data_path",
    "file_sha256",
    "load",
    "validate",
]

Kind = Literal["int", "float", "str", "bool"]


class AnchorError(Exception):
    """Base class of the errors raised by ``xlstm_lab.anchors``."""


class AnchorChecksumError(AnchorError, ValueError):
    """A data file's sha256 differs from the one recorded in the registry (the file was modified)."""


class AnchorSchemaError(AnchorError, ValueError):
    """A data file lacks required columns or has a column of the wrong type."""


@dataclass(frozen=True)
class Column:
    """One required column.

    Attributes:
        name: column name in the CSV header.
        kind: ``"int"`` (integer, no missing values), ``"float"`` (any numeric; read as float64, NaN allowed),
            ``"str"`` (text, missing allowed) or ``"bool"`` (True/False text, missing allowed; read as pandas
            ``boolean``).
    """

    name: str
    kind: Kind


@dataclass(frozen=True)
class DataSet:
    """A registered data file.

    Attributes:
        name: registry key.
        relpath: path below ``xlstm_lab/anchors/data``.
        sha256: hex digest of the file as shipped; checked on every load.
        n_rows: data rows (header excluded) stated on the data card.
        licence: licence position in one sentence.
        card: the data card (``SOURCE.md``) next to the file, relative to ``data``.
        columns: required columns with their kinds; the file may hold more.
    """

    name: str
    relpath: str
    sha256: str
    n_rows: int
    licence: str
    card: str
    columns: tuple[Column, ...]


def _cols(spec: str) -> tuple[Column, ...]:
    """Parse ``"kind: a b c; kind: d e"`` into columns (keeps the schemas below readable)."""
    out: list[Column] = []
    for group in spec.split(";"):
        kind, names = group.split(":", 1)
        out.extend(Column(n, kind.strip()) for n in names.split())  # type: ignore[arg-type]
    return tuple(out)


_NO_LICENCE = (
    "The upstream repository NX-AI/xlstm_scaling_laws has no LICENSE file; the CSV holds measured figures only "
    "(configs, counts, losses, timings). Check the licensing position before redistributing beyond this project."
)

REGISTRY: dict[str, DataSet] = {
    ds.name: ds
    for ds in (
        DataSet(
            name="xlstm_runs",
            relpath="xlstm_scaling_laws/runs.csv",
            sha256="41063fd34f5a427f37597cff2556c996dec454ad851e17a94a2c50f780f921f8",
            n_rows=459,
            licence=_NO_LICENCE,
            card="xlstm_scaling_laws/SOURCE.md",
            columns=_cols(
                "str: family model_type_upstream experiment_set source_file run_name run_id run_tag status"
                " isoflop_bucket;"
                "int: context_length N_params_calculated d_model num_blocks num_heads ffn_dim ffn_multiple_of"
                " vocab_size num_nodes num_gpus_per_node;"
                "float: N_params D_tokens C_flops_training flops_fwbw_per_sequence flops_fw_per_sequence"
                " seq_mix_flop_ratio token_param_ratio val_dclm_loss val_dclm_perplexity train_loss_mean"
                " head_dim_attn proj_factor_qk chunk_size proj_factor_ffn learning_rate global_batch_size"
                " num_train_steps num_lr_warmup_steps runtime_s step_time_s;"
                "bool: repo_selected"
            ),
        ),
        DataSet(
            name="xlstm_tokenparam",
            relpath="xlstm_scaling_laws/tokenparam_from_notebooks.csv",
            sha256="6b3e55afcd5b468a28feb2864d3628645f9fe38337cd274b4d2f6db2c85f0639",
            n_rows=66,
            licence=_NO_LICENCE,
            card="xlstm_scaling_laws/SOURCE.md",
            columns=_cols(
                "str: family experiment_set source run_name run_id run_tag model_size preset_token_param_ratio;"
                "int: context_length N_params d_model num_blocks num_heads ffn_dim head_dim_v global_batch_size"
                " num_train_steps;"
                "float: D_tokens C_flops_training C_flops_training_mlstm_tfla token_param_ratio val_dclm_loss"
                " train_loss_mean head_dim_qk learning_rate"
            ),
        ),
        DataSet(
            name="xlstm_inference",
            relpath="xlstm_scaling_laws/inference.csv",
            sha256="3c1be2e8668f845926a81663ecae87ed91f6a1af70a19bdf8d1f56c91a57125d",
            n_rows=2340,
            licence=_NO_LICENCE,
            card="xlstm_scaling_laws/SOURCE.md",
            columns=_cols(
                "str: family model size_tag;"
                "int: num_params batch_size prefill_len memory_allocated_gl1 memory_reserved_gl1"
                " memory_allocated_gl101 memory_reserved_gl101;"
                "float: ttft_ms steptime_ms throughput_tok_per_s embedding_dim num_blocks num_heads qk_dim_factor"
                " ffn_dim chunk_size vocab_size"
            ),
        ),
        DataSet(
            # The timing table upstream's runtime-model fits read (inference_results_df_dict.pkl); it differs
            # from inference.csv in 142 Llama-2 TTFT values, and holds the step time per decode step.
            name="xlstm_inference_fit",
            relpath="xlstm_scaling_laws/inference_fit_table.csv",
            sha256="895f5968f093c637622e663b115137b5401bd469510209b90688b008592cf731",
            n_rows=1560,
            licence=_NO_LICENCE,
            card="xlstm_scaling_laws/SOURCE.md",
            columns=_cols(
                "str: family model_tag;"
                "int: batch_size prefill_len num_params memory_allocated_gl1 memory_reserved_gl1"
                " memory_allocated_gl101 memory_reserved_gl101;"
                "float: ttft_ms steptime_ms throughput"
            ),
        ),
        DataSet(
            name="gadre_overtraining",
            relpath="gadre_overtraining/gadre2024_overtraining_runs.csv",
            sha256="cfab7ea92e59a494a8e5c480e11944787fef5a2cafe263278f5b80d0dd833858",
            n_rows=104,
            licence="MIT, Copyright (c) 2024 mlfoundations; the LICENSE file next to the CSV must travel with it.",
            card="gadre_overtraining/SOURCE.md",
            columns=_cols(
                "str: name train_dataset model_config;"
                "int: N_params N_params_no_embed D_tokens warmup global_bs;"
                # flops_6ND exceeds int64 for the 7B runs, so it is read as float64 (relative precision 1e-16).
                "float: chinchilla_multiplier token_multiplier_M tokens_per_param flops_6ND lr wd"
                + "".join(
                    f" loss_{v} loss_lower95_{v} loss_upper95_{v}"
                    for v in (
                        "openlm", "c4_val", "paloma_c4_en", "paloma_dolma_100_programing_languages",
                        "paloma_falcon-refinedweb", "paloma_ptb", "paloma_redpajama", "val_de-en_100",
                    )
                )
            ),
        ),
        DataSet(
            name="lab_runs",
            relpath="lab_runs/lab_runs.csv",
            sha256="503e51d5c146bce0a3f41774e373ed33d556c9706dfe0bf3def2d2ecb4f723db",
            n_rows=140,
            licence="Trained for this project (xlstm-lab); distributed with it under the project's licence.",
            card="lab_runs/SOURCE.md",
            # The run store's CSV export (xlstm_lab.runs.EXPORT_COLUMNS): done runs only, so no value is missing.
            columns=_cols(
                "str: family status key device corpus sweep;"
                "int: N_params D_tokens context_length seed batch_size d_model n_layers n_heads d_ff steps;"
                "float: C_flops_training val_loss val_bpb budget_flops lr wall_s tokens_per_s epochs"
                " model_flops_per_s"
            ),
        ),
        DataSet(
            name="gpu_h100",
            relpath="gpu_h100/gpu_h100_anchors.csv",
            sha256="59576e4e4defe3620fca1eb9c50f8cd1ea8f131c97f721e23f42f4fce81cf3eb",
            n_rows=165,
            licence="Measured for this project (xlstm-lab); distributed with it under the project's licence.",
            card="gpu_h100/SOURCE.md",
            columns=_cols(
                # T is "any" for the mLSTM decode step (cost independent of T), so it stays text.
                "str: sec impl what cfg T gpu torch cuda triton mlstm_kernels fla;"
                "int: line run;"
                "float: t B H NH dqk dv fwd_ms fb_ms fwd_graph_ms fb_graph_ms fwd_tflops fb_tflops"
                " fwd_graph_tflops fb_graph_tflops fwd_tok_s fwd_graph_tok_s fb_graph_tok_s bytes eager_ms graph_ms"
                " graph_tb_s ms tflops tb_s"
            ),
        ),
    )
}


def _get(name: str) -> DataSet:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown anchor data set {name!r}; registered: {sorted(REGISTRY)}") from None


def data_path(name: str) -> Path:
    """Path of the shipped file of data set ``name`` (inside the installed package)."""
    root = importlib.resources.files(__package__) / "data"
    return Path(str(root)) / _get(name).relpath


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _coerce(df: pd.DataFrame, col: Column) -> tuple[pd.Series | None, str]:
    """Return (converted column, "") or (None, why it does not match ``col.kind``)."""
    s = df[col.name]
    if col.kind == "str":
        if pd.api.types.is_string_dtype(s) or s.isna().all():
            return s, ""
        return None, f"expected text, found {s.dtype}"
    if col.kind == "bool":
        text = s.astype("string").str.strip()
        ok = text.isna() | text.isin(["True", "False"])
        if not ok.all():
            bad = sorted(set(text[~ok].astype(str)))[:3]
            return None, f"expected True/False, found {bad}"
        return text.map({"True": True, "False": False}).astype("boolean"), ""
    if col.kind == "float" and s.dtype == object:
        # Integers beyond int64 (e.g. 6ND FLOPs of a 7B run) come back as Python ints in an object column.
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().sum() == s.notna().sum():
            return num.astype("float64"), ""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return None, f"expected {col.kind}, found {s.dtype}"
    if col.kind == "int":
        if not pd.api.types.is_integer_dtype(s):
            return None, f"expected integers without missing values, found {s.dtype}"
        return s.astype("int64"), ""
    return s.astype("float64"), ""


def validate(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check ``df`` against the schema of data set ``name`` and return it with typed columns.

    Raises:
        AnchorSchemaError: naming every missing column and every column whose type does not match.
    """
    ds = _get(name)
    missing = [c.name for c in ds.columns if c.name not in df.columns]
    if missing:
        raise AnchorSchemaError(
            f"data set {name!r} is missing required column(s) {missing}; the file does not follow the schema "
            f"of {ds.card} (restore the shipped file or add the columns)"
        )
    out = df.copy()
    wrong: list[str] = []
    for col in ds.columns:
        converted, why = _coerce(out, col)
        if converted is None:
            wrong.append(f"{col.name} ({why})")
        else:
            out[col.name] = converted
    if wrong:
        raise AnchorSchemaError(f"data set {name!r} has column(s) of the wrong type: {'; '.join(wrong)}")
    return out


def load(name: str, *, path: str | Path | None = None, verify: bool = True) -> pd.DataFrame:
    """Load a registered data set as a typed DataFrame.

    Args:
        name: registry key, one of ``REGISTRY`` (``xlstm_runs``, ``xlstm_tokenparam``, ``xlstm_inference``,
            ``gadre_overtraining``, ``gpu_h100``).
        path: read this file instead of the shipped one (e.g. a completed copy of ``runs.csv``).
        verify: compare the file's sha256 with the registered one. Pass ``False`` for a file you changed on
            purpose; the schema is checked either way.

    Returns:
        One row per CSV row; columns typed as in the schema, extra columns as pandas reads them.

    Raises:
        KeyError: unknown name.
        FileNotFoundError: the file does not exist.
        AnchorChecksumError: the file's sha256 differs from the registered one.
        AnchorSchemaError: a required column is missing or has the wrong type.
    """
    ds = _get(name)
    p = Path(path) if path is not None else data_path(name)
    if not p.is_file():
        raise FileNotFoundError(f"data file for {name!r} not found at {p}")
    if verify:
        digest = file_sha256(p)
        if digest != ds.sha256:
            raise AnchorChecksumError(
                f"{p} was modified: its sha256 is {digest}, the registry records {ds.sha256} for {name!r} "
                f"(see {ds.card}). Restore the original file, or pass verify=False if the change is deliberate."
            )
    # Text columns are read as text so that values such as "6e+18" or "13.0" keep their spelling.
    text_cols = {c.name: str for c in ds.columns if c.kind in ("str", "bool")}
    df = pd.read_csv(p, dtype=text_cols, low_memory=False)
    return validate(df, name)
