"""Least-squares parabola with exact confidence intervals for its vertex (Fieller) and its minimum (t)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["vertex_interval"]


def vertex_interval(x: np.ndarray, y: np.ndarray, conf: float = 0.95) -> dict[str, float]:
    """Least-squares parabola y = a·x² + b·x + c, its vertex, and confidence intervals for vertex and minimum.

    The vertex interval is Fieller's: the set of x0 where the slope b + 2a·x0 is not significantly different
    from 0, i.e. |b + 2a·x0| <= t·se(b + 2a·x0) with t from Student's t with n - 3 degrees of freedom. It is
    exact (coverage = conf) for a parabola with independent normal errors of one variance, however few runs,
    where a percentile bootstrap of the vertex of 7-9 runs under-covers. The set is a bounded interval only when
    the curvature a is significant (a² > t²·var(a)); otherwise lo = hi = NaN. The minimum's interval is the
    delta method's t interval, c* ± t·se of the fitted value at the vertex.

    Args:
        x: shape (n,), the abscissa (log10 N or N). y: shape (n,), loss. conf: level in (0, 1).

    Returns:
        a, b, c (parabola in x), vertex, loss_at_vertex, vertex_lo, vertex_hi, loss_lo, loss_hi, resid_sd, dof.
    """
    xm = float(x.mean())
    u = x - xm  # centred: the normal equations of x², x, 1 are badly conditioned at x ~ 9-10
    X = np.column_stack([u * u, u, np.ones_like(u)])
    q, r = np.linalg.qr(X)
    a, bu, cu = np.linalg.solve(r, q.T @ y)
    rinv = np.linalg.inv(r)
    V = rinv @ rinv.T  # (X'X)^-1
    dof = x.size - 3
    uv = -bu / (2.0 * a)
    out = {"a": a, "b": bu - 2.0 * a * xm, "c": cu - bu * xm + a * xm * xm, "vertex": uv + xm,
           "loss_at_vertex": cu - bu * bu / (4.0 * a), "dof": dof, "resid_sd": math.nan,
           "vertex_lo": math.nan, "vertex_hi": math.nan, "loss_lo": math.nan, "loss_hi": math.nan}
    if dof < 1:
        return out
    resid = y - X @ np.array([a, bu, cu])
    s2 = float(resid @ resid) / dof
    t2 = float(stats.t.ppf(0.5 + conf / 2.0, dof)) ** 2
    out["resid_sd"] = math.sqrt(s2)
    z = np.array([uv * uv, uv, 1.0])
    half = math.sqrt(t2 * s2 * float(z @ V @ z))
    out["loss_lo"], out["loss_hi"] = out["loss_at_vertex"] - half, out["loss_at_vertex"] + half
    # (b + 2a u0)² <= t² s² (V_bb + 4 u0 V_ab + 4 u0² V_aa)  <=>  q2 u0² + q1 u0 + q0 <= 0.
    q2 = 4.0 * (a * a - t2 * s2 * V[0, 0])
    q1 = 4.0 * (a * bu - t2 * s2 * V[0, 1])
    q0 = bu * bu - t2 * s2 * V[1, 1]
    if q2 > 0:
        root = math.sqrt(max(q1 * q1 - 4.0 * q2 * q0, 0.0))
        lo, hi = (-q1 - root) / (2.0 * q2), (-q1 + root) / (2.0 * q2)
        out["vertex_lo"], out["vertex_hi"] = min(lo, uv) + xm, max(hi, uv) + xm  # min/max: round-off at s = 0
    return out
