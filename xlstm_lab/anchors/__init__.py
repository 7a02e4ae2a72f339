"""Published data and numbers (xLSTM scaling laws, Gadre et al. over-training, H100 anchors), checksummed and typed."""

from xlstm_lab.anchors.check import AnchorMismatch, CheckResult, check, results_table
from xlstm_lab.anchors.hardware import HARDWARE, Hardware, critical_intensity
from xlstm_lab.anchors.lab_runs import load_lab_runs
from xlstm_lab.anchors.loaders import (
    FAMILY_LABELS,
    MISSING_ISOFLOP,
    load_gadre,
    load_inference,
    load_isoflop_runs,
    load_tokenparam_runs,
)
from xlstm_lab.anchors.paper import PAPER, Published, lookup
from xlstm_lab.anchors.registry import (
    REGISTRY,
    AnchorChecksumError,
    AnchorError,
    AnchorSchemaError,
    Column,
    DataSet,
    data_path,
    file_sha256,
    load,
    validate,
)

__all__ = [
    "AnchorChecksumError",
    "AnchorError",
    "AnchorMismatch",
    "AnchorSchemaError",
    "CheckResult",
    "Column",
    "DataSet",
    "FAMILY_LABELS",
    "HARDWARE",
    "Hardware",
    "MISSING_ISOFLOP",
    "load_lab_runs",
    "PAPER",
    "Published",
    "REGISTRY",
    "check",
    "critical_intensity",
    "data_path",
    "file_sha256",
    "load",
    "load_gadre",
    "load_inference",
    "load_isoflop_runs",
    "load_tokenparam_runs",
    "lookup",
    "results_table",
    "validate",
]
