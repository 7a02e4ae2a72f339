"""Kernel tests run Triton on the CPU interpreter: TRITON_INTERPRET must be set before triton is imported."""

import os

os.environ["TRITON_INTERPRET"] = "1"  # xlstm_lab.kernels imports triton lazily, so this takes effect

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _nan_filled_kernel_buffers():
    """Every buffer the Triton launchers allocate starts as NaN, so an element a kernel forgets fails loudly."""
    from xlstm_lab.kernels.mlstm import chunkwise_triton

    chunkwise_triton.set_nan_fill(True)
    yield
    chunkwise_triton.set_nan_fill(False)
