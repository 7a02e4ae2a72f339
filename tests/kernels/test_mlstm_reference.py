"""The two reference forms agree, and what the "exact" gradient is: the true one at eps = 0, off by an O(eps) term."""

import math

import pytest
import torch
import torch.nn.functional as F
from mlstm_testlib import GRAD_NAMES, TOL, make_inputs, relerr, run

from xlstm_lab.kernels import MLSTMState, mlstm, mlstm_step
from xlstm_lab.kernels.mlstm.reference import mlstm_parallel, mlstm_recurrent, recurrent_step


@pytest.mark.parametrize("regime", ["typical", "large"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("normalizer_grad", ["exact", "detached"])
def test_recurrent_equals_parallel_in_float64(regime, with_state, normalizer_grad):
    xs, st = make_inputs(2, 2, 19, 5, 3, regime=regime, with_state=with_state)
    h_r, last_r, g_r = run(xs, st, dtype=torch.float64, backend="torch_recurrent", normalizer_grad=normalizer_grad)
    h_p, last_p, g_p = run(xs, st, dtype=torch.float64, backend="reference", normalizer_grad=normalizer_grad)
    tol = TOL[torch.float64]
    assert relerr(h_r, h_p) < tol["value"]
    for a, b in zip(last_r, last_p, strict=True):
        assert relerr(a, b) < tol["value"]
    for name, a, b in zip(GRAD_NAMES[: len(g_r)], g_r, g_p, strict=True):
        assert relerr(a, b) < tol["grad"], name


@pytest.mark.parametrize("normalizer_grad", ["exact", "detached"])
def test_only_the_exact_gradient_is_the_gradient_of_the_cell(normalizer_grad):
    """Finite differences of the float64 parallel form: with m held constant the gradient is still exact.

    atol 1e-5: h depends on m only through eps = 1e-6 in the denominator (stabilised units), which the
    constant-m gradient ignores; with gates at +-20 that leaves differences of ~1e-6 absolute.
    """
    xs, st = make_inputs(1, 1, 6, 3, 2, regime="large", seed=3, with_state=True)
    leaves = [x.clone().requires_grad_() for x in (*xs, st.C, st.n)]

    def fn(q, k, v, i, f, C, n):
        return mlstm_parallel(q, k, v, i, f, initial_state=MLSTMState(C, n, st.m), normalizer_grad=normalizer_grad)

    ok = torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False)
    assert ok == (normalizer_grad == "exact")


def test_detached_gradient_differs_from_exact_but_not_in_dv():
    xs, st = make_inputs(1, 2, 32, 8, 8, seed=5)
    _, _, g_exact = run(xs, st, dtype=torch.float64, backend="reference", normalizer_grad="exact")
    _, _, g_det = run(xs, st, dtype=torch.float64, backend="reference", normalizer_grad="detached")
    diff = {n: relerr(a, b) for n, a, b in zip(GRAD_NAMES[: len(g_det)], g_det, g_exact, strict=True)}
    assert diff["dv"] < 1e-12  # the denominator does not depend on v
    for name in ("dq", "dk", "di", "df"):  # the normaliser is active on random inputs: O(1) differences
        assert diff[name] > 0.1, (name, diff[name])


def test_exact_dq_is_orthogonal_to_q_where_the_normaliser_is_active():
    """h_t is invariant to scaling q_t when |n_t.q^_t| > exp(-m_t), so the true dq_t . q_t vanishes there
    (up to the eps = 1e-6 in the denominator); where exp(-m_t) wins, it does not."""
    (q, k, v, i, f), _ = make_inputs(1, 1, 12, 4, 3, seed=7)
    q = q.clone().requires_grad_()
    h = mlstm_parallel(q, k, v, i, f, normalizer_grad="exact")
    h.backward(torch.randn_like(h))
    dots = (q.grad * q).sum(-1)[0, 0]
    state, active = MLSTMState(*(x.double() for x in MLSTMState.zeros(1, 1, 4, 3))), []
    for t in range(12):
        _, state = recurrent_step(q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state)
        nq = (state.n * q[:, :, t]).sum(-1) / 2.0  # q^ = q / sqrt(K), K = 4
        active.append(bool(nq.abs() > torch.exp(-state.m)))
    active = torch.tensor(active)
    assert 3 <= int(active.sum()) < 12  # both branches occur on this input
    assert dots[active].abs().max() < 1e-4
    assert dots[~active].abs().max() > 1e-2


def test_first_step_from_the_empty_state():
    """m_1 = i_1, C_1 = k v^T, n_1 = k, h_1 = v (k.q^) / (max(|k.q^|, e^{-i_1}) + eps), written out by hand."""
    g = torch.Generator().manual_seed(0)
    B, H, K, V = 2, 3, 4, 5
    q, k, v = (torch.randn(B, H, d, generator=g, dtype=torch.float64) for d in (K, K, V))
    i, f = torch.randn(B, H, generator=g, dtype=torch.float64), torch.randn(B, H, generator=g, dtype=torch.float64)
    empty = MLSTMState(*(x.double() for x in MLSTMState.zeros(B, H, K, V)))
    h, st = mlstm_step(q, k, v, i, f, empty)
    kq = (k * q).sum(-1) / math.sqrt(K)
    want = v * (kq / (torch.maximum(kq.abs(), torch.exp(-i)) + 1e-6))[..., None]
    assert torch.equal(st.m, i)
    assert torch.allclose(st.C, k[..., :, None] * v[..., None, :], rtol=1e-14, atol=0)
    assert torch.allclose(st.n, k, rtol=1e-14, atol=0)
    assert torch.allclose(h, want, rtol=1e-12, atol=0)


def test_auto_on_cpu_is_parallel_within_one_chunk_and_chunkwise_beyond():
    xs, _ = make_inputs(1, 2, 40, 8, 8)
    xs = [x.float() for x in xs]
    assert torch.equal(mlstm(*xs, chunk_size=64), mlstm(*xs, backend="torch_parallel"))
    assert torch.equal(mlstm(*xs, chunk_size=16), mlstm(*xs, backend="torch_chunkwise", chunk_size=16))


def test_reference_returns_input_dtype():
    xs, _ = make_inputs(1, 1, 5, 4, 4)
    assert mlstm_recurrent(*(x.float() for x in xs)).dtype == torch.float32
    assert mlstm_parallel(*xs).dtype == torch.float64


def _cell_with_differentiable_m(q, k, v, i, f, C0, n0, m0, eps):
    """The recurrence written out again in float64 with nothing held constant (m included): the function's
    true gradient, independent of ``reference.py``. Returns h (B,H,T,V) and den (B,H,T)."""
    C, n, m = C0, n0, m0
    hs, dens = [], []
    for t in range(q.shape[2]):
        lf = F.logsigmoid(f[:, :, t])
        m_new = torch.maximum(lf + m, i[:, :, t])
        decay, gain = torch.exp(lf + m - m_new), torch.exp(i[:, :, t] - m_new)
        C = decay[..., None, None] * C + gain[..., None, None] * k[:, :, t, :, None] * v[:, :, t, None, :]
        n = decay[..., None] * n + gain[..., None] * k[:, :, t]
        qs = q[:, :, t] / math.sqrt(q.shape[-1])
        den = torch.maximum((n * qs).sum(-1).abs(), torch.exp(-m_new)) + eps
        hs.append(torch.einsum("bhkv,bhk->bhv", C, qs) / den[..., None])
        dens.append(den)
        m = m_new
    return torch.stack(hs, 2), torch.stack(dens, 2)


@pytest.mark.parametrize("backend", ["torch_parallel", "torch_recurrent", "torch_chunkwise"])
def test_exact_gradient_is_true_at_eps_zero_and_off_only_by_the_eps_term(backend):
    """The claim of the module docstring, checked in float64 against an independent differentiable-m cell.

    eps = 0: every gradient is the true one. eps = 1e-6: dq, dk, dv, dC0, dn0 still are; di and df miss the
    term g_t = (dh_t . h_t) eps / den_t, which reaches di through one argmax per step (so its 1-norm is at
    most sum |g_t|) and df through at most T steps per term.
    """
    xs, st = make_inputs(1, 2, 24, 4, 3, regime="large", seed=3, with_state=True)
    dh = torch.randn(1, 2, 24, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    names = ["dq", "dk", "dv", "di", "df", "dC0", "dn0"]
    for eps in (0.0, 1e-6):
        leaves = [x.clone().requires_grad_() for x in (*xs, st.C, st.n)]
        h_true, den = _cell_with_differentiable_m(*leaves, st.m, eps)
        g_true = dict(zip(names, torch.autograd.grad(h_true, leaves, dh), strict=True))
        leaves = [x.clone().requires_grad_() for x in (*xs, st.C, st.n)]
        kw = {"chunk_size": 16} if backend == "torch_chunkwise" else {}
        h = mlstm(*leaves[:5], backend=backend, initial_state=MLSTMState(*leaves[5:], st.m), eps=eps, **kw)
        assert relerr(h, h_true) < 1e-12
        g = dict(zip(names, torch.autograd.grad(h, leaves, dh), strict=True))
        exact = ["dq", "dk", "dv", "dC0", "dn0"] if eps else names
        for name in exact:
            assert relerr(g[name], g_true[name]) < 1e-10, (eps, name)
        if eps:
            dropped = ((dh * h_true).sum(-1) * eps / den).abs().sum().item()
            gap_i = (g["di"] - g_true["di"]).abs().sum().item()
            gap_f = (g["df"] - g_true["df"]).abs().sum().item()
            assert 1e-3 * dropped < gap_i <= dropped * (1 + 1e-9)  # present, and within the bound
            assert gap_f <= 24 * dropped * (1 + 1e-9)
