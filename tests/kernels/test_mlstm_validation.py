"""Bad input to ``mlstm`` and ``mlstm_step`` raises a typed ``MLSTMError`` naming the problem, never a bare one."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mlstm_testlib import make_inputs, relerr

from xlstm_lab.kernels import (
    BACKENDS,
    MLSTMBackendError,
    MLSTMDtypeError,
    MLSTMError,
    MLSTMInputError,
    MLSTMState,
    mlstm,
    mlstm_step,
)
from xlstm_lab.kernels.mlstm import select_backend, select_step_backend
from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

B, H, T, K, V = 1, 2, 5, 4, 3


def _inputs(dtype=torch.float32):
    (q, k, v, i, f), _ = make_inputs(B, H, T, K, V, seed=0)
    return [x.to(dtype) for x in (q, k, v, i, f)]


def test_bad_input_raises_clear_errors(monkeypatch):
    q, k, v, i, f = _inputs(torch.float64)
    cases = [
        (MLSTMInputError, "q and k", lambda: mlstm(q, k[..., :3], v, i, f)),
        (MLSTMInputError, "v must be", lambda: mlstm(q, k, v[:, :, :4], i, f)),
        (MLSTMInputError, "gate f", lambda: mlstm(q, k, v, i, f[..., :4])),
        (MLSTMInputError, "unknown mLSTM backend", lambda: mlstm(q, k, v, i, f, backend="cuda_magic")),
        (MLSTMInputError, "normalizer_grad", lambda: mlstm(q, k, v, i, f, normalizer_grad="exactly")),
        (MLSTMInputError, "T = 0", lambda: mlstm(q[:, :, :0], k[:, :, :0], v[:, :, :0], i[..., :0], f[..., :0])),
        (MLSTMInputError, "MLSTMState.C", lambda: mlstm(q, k, v, i, f, initial_state=MLSTMState.zeros(B, H, K, 5))),
        (MLSTMInputError, "mlstm_step wants", lambda: mlstm_step(q, k, v, i, f, MLSTMState.zeros(B, H, K, V))),
        (MLSTMInputError, "unknown step backend", lambda: mlstm_step(
            q[:, :, 0], k[:, :, 0], v[:, :, 0], i[..., 0], f[..., 0], MLSTMState.zeros(B, H, K, V), backend="fast")),
        (MLSTMInputError, "power of two", lambda: mlstm(q, k, v, i, f, backend="triton", chunk_size=24)),
        (MLSTMDtypeError, "float64", lambda: mlstm(q, k, v, i, f, backend="triton")),
        (MLSTMInputError, "empty dimension", lambda: mlstm(q[..., :0], k[..., :0], v, i, f)),
        (MLSTMInputError, "must be a torch.Tensor", lambda: mlstm(q.numpy(), k, v, i, f)),
    ]
    for error, match, call in cases:
        with pytest.raises(error, match=match):
            call()
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(MLSTMBackendError, match="CUDA"):
        mlstm(*(x.float() for x in (q, k, v, i, f)), backend="triton")


def test_errors_keep_their_builtin_bases():
    """Callers that caught ValueError / TypeError / RuntimeError before the typed errors still do."""
    assert issubclass(MLSTMInputError, ValueError) and issubclass(MLSTMDtypeError, TypeError)
    assert issubclass(MLSTMBackendError, RuntimeError)
    assert all(issubclass(e, MLSTMError) for e in (MLSTMInputError, MLSTMDtypeError, MLSTMBackendError))


def test_mixed_and_integer_dtypes_are_refused():
    q, k, v, i, f = _inputs()
    with pytest.raises(MLSTMDtypeError, match="share one dtype"):
        mlstm(q, k.double(), v, i, f)  # was computed silently in float64 on the torch backends
    with pytest.raises(MLSTMDtypeError, match="share one dtype"):
        mlstm_step(q[:, :, 0], k[:, :, 0], v[:, :, 0].half(), i[..., 0], f[..., 0], MLSTMState.zeros(B, H, K, V))
    with pytest.raises(MLSTMDtypeError, match="int64"):
        mlstm(q, k, v, i.long(), f.long())  # integer gates were accepted
    with pytest.raises(MLSTMDtypeError, match="gates"):
        mlstm(q, k, v, i.double(), f.double())
    with pytest.raises(MLSTMDtypeError, match="states are float32"):
        mlstm(q, k, v, i, f, initial_state=MLSTMState(*(x.half() for x in MLSTMState.zeros(B, H, K, V))))
    # allowed: bf16 activations with float32 gates (what models with fp32 gate projections pass)
    h = mlstm(q.bfloat16(), k.bfloat16(), v.bfloat16(), i, f, backend="torch_chunkwise", chunk_size=16)
    assert h.dtype == torch.bfloat16


@pytest.mark.parametrize("chunk_size", [0, -16, 24, 8, 64.0, True, "64", None])
def test_chunk_size_must_be_a_power_of_two_of_at_least_16(chunk_size):
    """``torch_chunkwise`` ran chunk_size 0 (as 1) and 24 silently; a setting must run alike on every backend."""
    q, k, v, i, f = _inputs()
    for backend in ("torch_chunkwise", "triton", "auto"):
        with pytest.raises(MLSTMInputError, match="chunk_size"):
            mlstm(q, k, v, i, f, backend=backend, chunk_size=chunk_size)


def test_integer_like_chunk_sizes_are_accepted():
    q, k, v, i, f = _inputs()
    want = mlstm(q, k, v, i, f, backend="torch_chunkwise", chunk_size=16)
    assert torch.equal(mlstm(q, k, v, i, f, backend="torch_chunkwise", chunk_size=np.int64(16)), want)


def test_a_plain_tuple_is_a_state():
    """``initial_state=(C, n, m)`` raised AttributeError ('tuple' has no attribute 'validate')."""
    xs, st_ = make_inputs(B, H, T, K, V, seed=2, with_state=True)
    x32 = [x.float() for x in xs]
    state = MLSTMState(*(x.float() for x in st_))
    for backend in ("torch_chunkwise", "torch_parallel", "triton"):
        want = mlstm(*x32, backend=backend, initial_state=state)
        assert torch.equal(mlstm(*x32, backend=backend, initial_state=tuple(state)), want), backend
    h, new = mlstm_step(*(x[:, :, 0] for x in x32), list(state))
    assert isinstance(new, MLSTMState) and h.shape == (B, H, V)
    for bad in (tuple(state)[:2], {"C": state.C}, state.C):
        with pytest.raises(MLSTMInputError, match="MLSTMState"):
            mlstm(*x32, initial_state=bad)


def test_devices_must_match():
    q, k, v, i, f = _inputs()
    with pytest.raises(MLSTMInputError, match="meta"):
        mlstm(q, k.to("meta"), v, i, f)
    state = MLSTMState(*(x.to("meta") for x in MLSTMState.zeros(B, H, K, V)))
    with pytest.raises(MLSTMInputError, match="initial_state.C is on meta"):
        mlstm(q, k, v, i, f, initial_state=state)
    with pytest.raises(MLSTMInputError, match="state.C is on meta"):
        mlstm_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], i[..., 0], f[..., 0], state)


def test_auto_never_picks_a_backend_that_refuses_the_input():
    """'auto' picked Triton for float64 CUDA tensors, and Triton then raised."""
    cuda = torch.device("cuda")
    assert select_backend(cuda, torch.float64, 100, 64) == "torch_chunkwise"
    assert select_backend(cuda, torch.float64, 10, 64) == "torch_parallel"
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        assert select_backend(cuda, dtype, 100, 64) == "triton"
        assert select_step_backend(cuda, dtype, needs_grad=False) == "triton"
        assert select_step_backend(cuda, dtype, needs_grad=True) == "torch"
    assert select_step_backend(cuda, torch.float64, needs_grad=False) == "torch"
    assert select_backend(torch.device("cpu"), torch.float32, 100, 64) == "torch_chunkwise"
    assert select_step_backend(torch.device("cpu"), torch.float32, needs_grad=False) == "torch"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_eps_reaches_every_backend(backend):
    """eps (the normaliser's additive constant) was fixed at 1e-6; each backend must honour a given value."""
    xs, _ = make_inputs(1, 2, 20, 4, 4, seed=6)
    x32 = [x.float() for x in xs]
    for eps in (0.0, 0.3):
        want = mlstm_parallel(*xs, eps=eps)
        assert relerr(mlstm(*x32, backend=backend, chunk_size=16, eps=eps), want) < 1e-5, eps
    assert relerr(mlstm(*x32, backend=backend, chunk_size=16, eps=0.3), mlstm_parallel(*xs)) > 1e-3
    state = MLSTMState.zeros(1, 2, 4, 4)
    for step_backend in ("torch", "triton"):
        h, _ = mlstm_step(*(x[:, :, 0] for x in x32), state, backend=step_backend, eps=0.3)
        assert relerr(h, mlstm_parallel(*(x[:, :, :1] for x in xs), eps=0.3)[:, :, 0]) < 1e-5


@pytest.mark.parametrize("eps", [-1e-6, math.nan, math.inf, "1e-6", None, True, torch.tensor(1e-6)])
def test_bad_eps_is_refused(eps):
    q, k, v, i, f = _inputs()
    with pytest.raises(MLSTMInputError, match="eps"):
        mlstm(q, k, v, i, f, eps=eps)
    with pytest.raises(MLSTMInputError, match="eps"):
        mlstm_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], i[..., 0], f[..., 0], MLSTMState.zeros(B, H, K, V), eps=eps)


# ----------------------------------------------------------------------------- property: any bad input is typed
_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool,
           torch.complex64]
_NOT_A_TENSOR = st.sampled_from([None, 1.0, [1.0, 2.0], "q", np.zeros((B, H, T, K))])
_BAD_OPTION = {
    "backend": st.one_of(st.text(max_size=12).filter(lambda s: s not in (*BACKENDS, "auto")), st.none(),
                         st.integers(), st.just(["triton"])),
    "normalizer_grad": st.one_of(st.text(max_size=10).filter(lambda s: s not in ("exact", "detached")),
                                 st.none(), st.just(["exact"])),
    "chunk_size": st.one_of(st.integers(-100, 300).filter(lambda n: n < 16 or n & (n - 1)), st.floats(),
                            st.booleans(), st.text(max_size=3), st.none()),
    "eps": st.one_of(st.floats(max_value=-1e-300), st.just(math.nan), st.just(math.inf), st.text(max_size=3),
                     st.none(), st.booleans()),
    "return_last_state": st.one_of(st.text(max_size=3), st.none(), st.integers(2, 9), st.just([])),
    "split_operands": st.one_of(st.text(max_size=3), st.integers(), st.just([True])),
}


@st.composite
def _bad_call(draw):
    """A valid call of mlstm or mlstm_step with exactly one thing broken."""
    step = draw(st.booleans())
    dtype = draw(st.sampled_from([torch.float32, torch.bfloat16, torch.float64]))
    xs = _inputs(dtype)
    if step:
        xs = [x[:, :, 0] for x in xs]
    names = ["q", "k", "v", "i", "f"]
    args = dict(zip(names, xs, strict=True))
    kwargs = {}
    state = MLSTMState.zeros(B, H, K, V)
    how = draw(st.sampled_from(["shape", "dtype", "device", "not_tensor", "empty", "option", "state", "triton64"]))
    if how == "shape":
        name = draw(st.sampled_from(names))
        x = args[name]
        # v's last axis (V) is free: a value width unlike K is a valid input, so never the one axis changed
        axis = draw(st.integers(0, x.dim() - 1 - (name == "v")))
        size = draw(st.integers(1, 7).filter(lambda n: n != x.shape[axis]))
        shape = list(x.shape)
        shape[axis] = size
        if draw(st.booleans()):
            shape = shape + [2] if draw(st.booleans()) else shape[:-1]
        args[name] = torch.zeros(shape, dtype=x.dtype)
    elif how == "dtype":
        group = draw(st.sampled_from([["q", "k", "v"], ["i", "f"]]))
        name = draw(st.sampled_from(group))
        if group == ["i", "f"] and draw(st.booleans()):  # both gates in a dtype no gate may have
            bad = draw(st.sampled_from([torch.int64, torch.int32, torch.bool, torch.complex64, torch.float16]))
            if bad == torch.float16 and dtype != torch.float32:
                bad = torch.int64
            args["i"], args["f"] = args["i"].to(bad), args["f"].to(bad)
        else:  # one tensor out of line with its group
            bad = draw(st.sampled_from([d for d in _DTYPES if d != args[name].dtype]))
            args[name] = args[name].to(bad)
    elif how == "device":
        name = draw(st.sampled_from(names[1:]))
        args[name] = args[name].to("meta")
    elif how == "not_tensor":
        args[draw(st.sampled_from(names))] = draw(_NOT_A_TENSOR)
    elif how == "empty":
        axis = draw(st.integers(0, args["q"].dim() - 1))
        args = {n: x.narrow(min(axis, x.dim() - 1), 0, 0) if (axis < x.dim() or n in "qkv") else x
                for n, x in args.items()}
    elif how == "option":
        options = ["backend", "eps"] if step else list(_BAD_OPTION)
        key = draw(st.sampled_from(options))
        kwargs[key] = draw(_BAD_OPTION[key])
    elif how == "state":
        kind = draw(st.sampled_from(["shape", "dtype", "type", "device"]))
        if kind == "shape":
            state = MLSTMState.zeros(B, H, K + 1, V)
        elif kind == "dtype":
            state = MLSTMState(*(x.to(draw(st.sampled_from([torch.int64, torch.float16]))) for x in state))
        elif kind == "type":
            state = draw(st.sampled_from([state[:2], {"C": state.C}, state.C, "state", 0]))
        else:
            state = MLSTMState(*(x.to("meta") for x in state))
        if not step:
            kwargs["initial_state"] = state
    else:  # float64 on the Triton kernels
        args = {n: x.double() for n, x in args.items()}
        kwargs["backend"] = "triton"
    return step, args, state, kwargs, how


@settings(max_examples=300, deadline=None)
@given(_bad_call())
def test_every_bad_input_raises_a_typed_error(call):
    step, args, state, kwargs, how = call
    with pytest.raises(MLSTMError):
        if step:
            mlstm_step(**args, state=state, **kwargs)
        else:
            mlstm(**args, **kwargs)
