"""Sequence-mixing kernels of xlstm-lab: the mLSTM cell with reference, torch and Triton backends."""

from .mlstm import (
    BACKENDS,
    STEP_BACKENDS,
    MLSTMBackendError,
    MLSTMDtypeError,
    MLSTMError,
    MLSTMInputError,
    MLSTMState,
    mlstm,
    mlstm_step,
)

__all__ = ["BACKENDS", "STEP_BACKENDS", "MLSTMState", "MLSTMError", "MLSTMInputError", "MLSTMDtypeError",
           "MLSTMBackendError", "mlstm", "mlstm_step"]
