"""Exact parameter, FLOP and byte counts of both model families, in the paper's conventions (torch-free)."""

from xlstm_lab.accounting.flops import (
    SequenceFlops,
    attention_core_flops,
    flops_6nd,
    flops_per_sequence,
    mlstm_cell_flops,
    prefill_flops,
    training_flops,
)
from xlstm_lab.accounting.memory import (
    decode_state_bytes,
    decode_step_bytes,
    kv_cache_bytes,
    mlstm_state_bytes,
    weight_bytes,
)
from xlstm_lab.accounting.params import count_params, param_breakdown
from xlstm_lab.models.config import ModelConfig
from xlstm_lab.models.shapes import config_from_inference_row, config_from_runs_row

__all__ = [
    "ModelConfig",
    "count_params",
    "param_breakdown",
    "SequenceFlops",
    "flops_per_sequence",
    "training_flops",
    "flops_6nd",
    "mlstm_cell_flops",
    "attention_core_flops",
    "prefill_flops",
    "weight_bytes",
    "kv_cache_bytes",
    "mlstm_state_bytes",
    "decode_state_bytes",
    "decode_step_bytes",
    "config_from_runs_row",
    "config_from_inference_row",
]
