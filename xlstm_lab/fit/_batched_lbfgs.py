"""L-BFGS that runs many independent starts at once in numpy (one vectorised objective call per iteration)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["batched_lbfgs", "CONVERGED", "STALLED", "MAX_ITER", "NOT_FINITE"]

CONVERGED, STALLED, MAX_ITER, NOT_FINITE = 0, 1, 2, 3


def _two_loop(g: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """H^-1 g per row by the L-BFGS two-loop recursion; history index 0 is the newest pair, rho = 0 marks empty."""
    q = g.copy()
    m = s.shape[1]
    a = np.empty((g.shape[0], m))
    for i in range(m):
        a[:, i] = rho[:, i] * np.einsum("ij,ij->i", s[:, i], q)
        q -= a[:, i, None] * y[:, i]
    q *= h0[:, None]
    for i in range(m - 1, -1, -1):
        b = rho[:, i] * np.einsum("ij,ij->i", y[:, i], q)
        q += s[:, i] * (a[:, i] - b)[:, None]
    return q


def batched_lbfgs(
    fg: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    X0: np.ndarray,
    *,
    m: int = 10,
    ftol: float = 1e-10,
    gtol: float = 1e-12,
    max_iter: int = 1000,
    c1: float = 1e-4,
    max_ls: int = 40,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise S independent problems, one per row of X0, with L-BFGS and an Armijo backtracking line search.

    Rows leave the batch as soon as they stop, so the cost is the sum of the iterations each row needs,
    while the per-row Python overhead is paid once per iteration for the whole batch.

    Args:
        fg: ``fg(X, rows) -> (f, g)`` with X (k, p) the current points of the original rows ``rows`` (k,),
            f (k,) and g (k, p); a non-finite f marks a point as infeasible (the line search backs off).
        X0: (S, p) starting points.
        m: history length.
        ftol: stop a row when an iteration lowers f by <= ftol * |f| (relative, so it also works as f -> 0).
        gtol: stop a row when max |g| <= gtol.
        max_iter: iteration cap per row.
        c1: Armijo constant. max_ls: backtracking steps before a row is declared stalled.

    Returns:
        (X, f, g, flag): final points (S, p), objectives (S,), gradients (S, p), and per-row flags
        CONVERGED (ftol/gtol met), STALLED (no decrease found along the search direction, typically at
        round-off level), MAX_ITER, NOT_FINITE (the start itself was infeasible).
    """
    X = np.array(X0, dtype=np.float64, copy=True)
    S, p = X.shape
    f, G = fg(X, np.arange(S))
    f = np.asarray(f, dtype=np.float64).copy()
    G = np.asarray(G, dtype=np.float64).copy()
    flag = np.full(S, MAX_ITER)
    flag[~np.isfinite(f)] = NOT_FINITE
    # Compact state of the rows still running; finished rows are written back to X, f, G.
    rows = np.flatnonzero(np.isfinite(f))
    x, fx, gx = X[rows], f[rows], G[rows]
    sh, yh, rho = np.zeros((rows.size, m, p)), np.zeros((rows.size, m, p)), np.zeros((rows.size, m))
    h0 = np.ones(rows.size)
    for _ in range(max_iter):
        if rows.size == 0:
            break
        d = -_two_loop(gx, sh, yh, rho, h0)
        slope = np.einsum("ij,ij->i", d, gx)
        reset = ~(slope < 0)  # not a descent direction: forget the history, use steepest descent
        if reset.any():
            d[reset], rho[reset] = -gx[reset], 0.0
            slope[reset] = -np.einsum("ij,ij->i", gx[reset], gx[reset])
        t = np.ones(rows.size)
        fresh = ~rho.any(1)  # no curvature information yet: cap the first step at unit length
        t[fresh] = np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(d[fresh], axis=1), 1e-300))
        xn, fn, gn = x.copy(), fx.copy(), gx.copy()
        todo = np.arange(rows.size)
        for k in range(max_ls):
            xt = x[todo] + t[todo, None] * d[todo]
            ft, gt = fg(xt, rows[todo])
            ok = np.isfinite(ft) & (ft <= fx[todo] + c1 * t[todo] * slope[todo])
            done_ls = todo[ok]
            xn[done_ls], fn[done_ls], gn[done_ls] = xt[ok], ft[ok], gt[ok]
            todo = todo[~ok]
            if todo.size == 0:
                break
            t[todo] *= 0.5 if k < 3 else 0.1
        stalled = np.zeros(rows.size, dtype=bool)
        stalled[todo] = True
        sv, yv = xn - x, gn - gx
        sy = np.einsum("ij,ij->i", sv, yv)
        yy = np.einsum("ij,ij->i", yv, yv)
        # Skip pairs without positive curvature (the Huber loss is only piecewise smooth).
        upd = ~stalled & (sy > 1e-12 * np.sqrt(np.einsum("ij,ij->i", sv, sv) * yy))
        if upd.any():
            sh[upd] = np.roll(sh[upd], 1, axis=1)
            yh[upd] = np.roll(yh[upd], 1, axis=1)
            rho[upd] = np.roll(rho[upd], 1, axis=1)
            sh[upd, 0], yh[upd, 0], rho[upd, 0] = sv[upd], yv[upd], 1.0 / sy[upd]
            h0[upd] = sy[upd] / yy[upd]
        decrease = fx - fn
        x, fx, gx = xn, fn, gn
        conv = ~stalled & ((decrease <= ftol * np.abs(fn)) | (np.abs(gn).max(1) <= gtol))
        finished = conv | stalled
        if finished.any():
            fin = rows[finished]
            X[fin], f[fin], G[fin] = x[finished], fx[finished], gx[finished]
            flag[fin] = np.where(conv[finished], CONVERGED, STALLED)
            keep = ~finished
            rows, x, fx, gx = rows[keep], x[keep], fx[keep], gx[keep]
            sh, yh, rho, h0 = sh[keep], yh[keep], rho[keep], h0[keep]
    X[rows], f[rows], G[rows] = x, fx, gx  # rows still running hit max_iter
    return X, f, G, flag
