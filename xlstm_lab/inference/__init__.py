"""Measured inference: prefill, decode steps and generation for both families, a timing harness over a grid of
prompts, batches and sizes, the decode state's memory beside ``accounting``, and this machine's roofline.

Imports models, accounting and fit; only the command line and the chapters import it.
"""

from xlstm_lab.inference.errors import InferenceInputError
from xlstm_lab.inference.generate import (
    DTYPES,
    FAMILIES,
    check_lengths,
    generate,
    load_model,
    model_config,
    prefill,
    size_tags,
    step,
)
from xlstm_lab.inference.memory import (
    cuda_peak_bytes,
    memory_vs_context,
    predicted_state_bytes,
    state_nbytes,
    weight_nbytes,
)
from xlstm_lab.inference.roofline import Roofline, copy_bytes_per_s, matmul_flops_per_s, measure_roofline
from xlstm_lab.inference.timing import (
    CSV_COLUMNS,
    BenchGrid,
    TimingSettings,
    mean_step_bytes,
    measure_point,
    provenance,
    run_grid,
    step_flops,
)

__all__ = [
    "InferenceInputError", "DTYPES", "FAMILIES", "size_tags", "model_config", "load_model", "check_lengths",
    "prefill", "step", "generate", "state_nbytes", "predicted_state_bytes", "weight_nbytes", "cuda_peak_bytes",
    "memory_vs_context", "Roofline", "matmul_flops_per_s", "copy_bytes_per_s", "measure_roofline", "CSV_COLUMNS",
    "BenchGrid", "TimingSettings", "provenance", "step_flops", "mean_step_bytes", "measure_point", "run_grid",
]
