"""What the Triton launchers launch: grids CUDA accepts, and the launch count and variants of each pass."""

import pytest
import torch
from mlstm_testlib import LaunchLog, make_inputs, relerr

from xlstm_lab.kernels import MLSTMInputError, MLSTMState, mlstm, mlstm_step
from xlstm_lab.kernels.mlstm import heuristics

CUDA_AXIS0_MAX, CUDA_AXIS12_MAX = 2**31 - 1, 65_535


def test_grids_keep_batch_times_heads_within_cuda_limits(monkeypatch):
    """B*H = 70,000 > 65,535: every grid must put it on axis 0 (the only axis CUDA allows beyond 65,535).

    Nothing runs (the launches are only recorded), so the shape can be larger than the interpreter could run.
    """
    log = LaunchLog().install(monkeypatch, run=False)
    B, H, T, K, V = 35_000, 2, 40, 1, 1
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, T, d, generator=g, requires_grad=True) for d in (K, K, V))
    i, f = (torch.randn(B, H, T, generator=g, requires_grad=True) for _ in range(2))
    h = mlstm(q, k, v, i, f, backend="triton", chunk_size=16)
    h.sum().backward()
    with torch.no_grad():
        mlstm_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], i[..., 0], f[..., 0], MLSTMState.zeros(B, H, K, V),
                   backend="triton")
    assert sorted(set(log.names())) == sorted([*LaunchLog.KERNELS, "_step_kernel"])
    for name, grid, _ in log.calls:
        assert 1 <= len(grid) <= 3, name
        assert grid[0] <= CUDA_AXIS0_MAX and all(n <= CUDA_AXIS12_MAX for n in grid[1:]), (name, grid)
        assert grid[0] >= B * H, (name, grid)  # one program (at least) per (b, h)


@pytest.mark.parametrize("normalizer_grad", ["exact", "detached"])
def test_backward_without_a_state_gradient_is_four_lean_launches(monkeypatch, normalizer_grad):
    """A loss on h alone: 2 launches forward, 4 backward, and the variants that skip the last-state path."""
    log = LaunchLog().install(monkeypatch)
    (q, k, v, i, f), _ = make_inputs(1, 2, 40, 8, 8, seed=3)
    leaves = [x.float().requires_grad_() for x in (q, k, v, i, f)]
    h, last = mlstm(*leaves, backend="triton", chunk_size=16, return_last_state=True,
                    normalizer_grad=normalizer_grad)
    assert log.names() == ["_states_kernel", "_output_kernel"]
    log.clear()
    h.sum().backward()  # the returned state is not used by the loss
    assert log.names() == ["_states_kernel", "_dstates_kernel", "_grads_kernel", "_dgate_kernel"]
    kwargs = {name: kw for name, _, kw in log.calls}
    assert kwargs["_dstates_kernel"]["HAS_DLAST"] is False
    assert kwargs["_dstates_kernel"]["EXACT"] is (normalizer_grad == "exact")
    assert kwargs["_dgate_kernel"]["HAS_EXTRA"] is False


def test_backward_with_a_state_gradient_takes_the_last_state_path(monkeypatch):
    log = LaunchLog().install(monkeypatch)
    (q, k, v, i, f), _ = make_inputs(1, 2, 40, 8, 8, seed=4)
    leaves = [x.float().requires_grad_() for x in (q, k, v, i, f)]
    h, last = mlstm(*leaves, backend="triton", chunk_size=16, return_last_state=True)
    log.clear()
    (h.sum() + last.C.sum()).backward()
    kwargs = {name: kw for name, _, kw in log.calls}
    assert kwargs["_dstates_kernel"]["HAS_DLAST"] is True and kwargs["_dgate_kernel"]["HAS_EXTRA"] is True


def test_launch_overrides_reach_the_kernels_and_leave_the_result_alone(monkeypatch):
    """``heuristics.overrides`` (what the GPU benchmark sweeps) changes only the tiling, and only inside its block."""
    log = LaunchLog().install(monkeypatch)
    (q, k, v, i, f), _ = make_inputs(1, 2, 40, 40, 24, seed=5)
    x32 = [x.float() for x in (q, k, v, i, f)]
    want = mlstm(*x32, backend="triton", chunk_size=16)
    log.clear()
    with heuristics.overrides(output={"BK": 16, "BV": 16, "num_warps": 2}, states={"BV": 16}):
        got = mlstm(*x32, backend="triton", chunk_size=16)
    kwargs = {name: kw for name, _, kw in log.calls}
    assert (kwargs["_output_kernel"]["BK"], kwargs["_output_kernel"]["BV"]) == (16, 16)
    assert kwargs["_output_kernel"]["num_warps"] == 2 and kwargs["_states_kernel"]["BV"] == 16
    assert relerr(got, want) < 1e-6
    assert heuristics.chunk_config(40, 24, 16)["output"]["BV"] == 32  # the default again
    for bad in ({"output": {"BV": 24}}, {"grads": {"BK": 8}}, {"dgate": {"BV": 16}}, {"bogus": {"BK": 16}},
                {"step": {"num_warps": 3}}, {"output": {"tile": 16}}, {"states": {"BK": 16.0}}):
        with pytest.raises(MLSTMInputError), heuristics.overrides(**bad):
            pass
