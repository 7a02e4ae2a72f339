"""L-BFGS that runs many independent starts at once in numpy (one vectorised objective call per iteration)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["batched_lbfgs", "CONVERGED", "STALLED", "MAX_ITER", "NOT_FINITE"]

CONVERGED, STALLED, MAX_ITER, NOT_FINITE = 0, 1, 2, 3


def _two_loop(g: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray, h0: np.ndarray, newest: int) -> np.ndarray:
    """H^-1 g per column by the L-BFGS two-loop recursion (arrays are (p, k): one column per row of the batch).

    s, y: (m, p, k) circular history whose newest slot is ``newest``; rho: (m, k), 0 marks an empty (no-op) slot.
    """
    m = s.shape[0]
    order = [(newest - i) % m for i in range(m)]
    q = g.copy()
    a = np.empty((m, g.shape[1]))
    for i in order:
        a[i] = rho[i] * (s[i] * q).sum(0)
        q -= a[i] * y[i]
    q *= h0
    for i in reversed(order):
        b = rho[i] * (y[i] * q).sum(0)
        q += s[i] * (a[i] - b)
    return q


def batched_lbfgs(
    fg: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    X0: np.ndarray,
    *,
    m: int = 6,
    ftol: float = 1e-10,
    gtol: float = 1e-12,
    max_iter: int = 1000,
    c1: float = 1e-4,
    max_ls: int = 40,
    max_step: float = 10.0,
    callback: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise S independent problems, one per row of X0, with L-BFGS and an Armijo backtracking line search.

    Rows leave the batch as soon as they stop, so the cost is the sum of the iterations each row needs,
    while the Python overhead is paid once per iteration for the whole batch.

    Args:
        fg: ``fg(X, rows) -> (f, g)`` with X (k, p) the current points of the original rows ``rows`` (k,),
            f (k,) and g (k, p); a non-finite f marks a point as infeasible (the line search backs off).
        X0: (S, p) starting points.
        m: history length (6 covers the curvature of the 5-6 parameter problems here).
        ftol: stop a row when an iteration lowers f by <= ftol * |f| (relative, so it also works as f -> 0).
        gtol: stop a row when max |g| <= gtol.
        max_iter: iteration cap per row.
        c1: Armijo constant. max_ls: backtracking steps before a row is declared stalled.
        max_step: longest step (Euclidean norm in parameter units) a line search starts from.
        callback: called as ``callback(iteration, rows_still_running)`` after every iteration (progress bars).

    Returns:
        (X, f, g, flag): final points (S, p), objectives (S,), gradients (S, p), and per-row flags
        CONVERGED (ftol/gtol met), STALLED (even steepest descent finds no decrease: the round-off floor),
        MAX_ITER, NOT_FINITE (the start itself was infeasible).
    """
    X = np.array(X0, dtype=np.float64, copy=True)
    S, p = X.shape
    f, G = fg(X, np.arange(S))
    f = np.asarray(f, dtype=np.float64).copy()
    G = np.asarray(G, dtype=np.float64).copy()
    flag = np.full(S, MAX_ITER)
    flag[~np.isfinite(f)] = NOT_FINITE
    # Compact state of the rows still running, stored transposed (p, k) so per-row dot products are p
    # vector operations; finished rows are written back to X, f, G.
    rows = np.flatnonzero(np.isfinite(f))
    x, fx, gx = X[rows].T.copy(), f[rows], G[rows].T.copy()
    # History shared slot by slot across rows (slot = iteration mod m); a row that skips an update stores a
    # no-op pair (rho = 0) in that slot, which avoids per-row ring buffers.
    sh, yh, rho = np.zeros((m, p, rows.size)), np.zeros((m, p, rows.size)), np.zeros((m, rows.size))
    h0 = np.ones(rows.size)
    for it in range(max_iter):
        if rows.size == 0:
            break
        d = -_two_loop(gx, sh, yh, rho, h0, (it - 1) % m)
        slope = (d * gx).sum(0)
        reset = ~(slope < 0)  # not a descent direction: forget the history, use steepest descent
        if reset.any():
            d[:, reset], rho[:, reset] = -gx[:, reset], 0.0
            slope[reset] = -(gx[:, reset] ** 2).sum(0)
        # Step caps: unit length while there is no curvature information yet, max_step afterwards (on
        # plateaus the curvature estimate is tiny and the raw quasi-Newton step absurdly long).
        fresh = ~rho.any(0)
        norm = np.maximum(np.sqrt((d * d).sum(0)), 1e-300)
        t = np.minimum(1.0, np.where(fresh, 1.0, max_step) / norm)
        xn, fn, gn = x + t * d, np.empty_like(fx), np.empty_like(gx)
        ft, gt = fg(xn.T, rows)
        ok = np.isfinite(ft) & (ft <= fx + c1 * t * slope)
        fn[ok], gn[:, ok] = ft[ok], gt[ok].T
        todo = np.flatnonzero(~ok)
        for k in range(max_ls):
            if todo.size == 0:
                break
            t[todo] *= 0.5 if k < 3 else 0.1
            xt = x[:, todo] + t[todo] * d[:, todo]
            ft, gt = fg(xt.T, rows[todo])
            ok = np.isfinite(ft) & (ft <= fx[todo] + c1 * t[todo] * slope[todo])
            done_ls = todo[ok]
            xn[:, done_ls], fn[done_ls], gn[:, done_ls] = xt[:, ok], ft[ok], gt[ok].T
            todo = todo[~ok]
        stalled = np.zeros(rows.size, dtype=bool)
        stalled[todo] = True
        xn[:, todo], fn[todo], gn[:, todo] = x[:, todo], fx[todo], gx[:, todo]
        # A failed search along a quasi-Newton direction gets one more chance along -g with a fresh history;
        # a row only stalls when even steepest descent finds no decrease (the round-off floor).
        retry = stalled & ~fresh
        if retry.any():
            stalled[retry] = False
            rho[:, retry] = 0.0
            h0[retry] = 1.0
        sv, yv = xn - x, gn - gx
        sy, yy, ss = (sv * yv).sum(0), (yv * yv).sum(0), (sv * sv).sum(0)
        # Skip pairs without positive curvature (the Huber loss is only piecewise smooth).
        upd = ~stalled & (yy > 0) & (sy > 1e-12 * np.sqrt(ss * yy))
        slot = it % m
        sh[slot], yh[slot] = sv, yv
        rho[slot] = np.where(upd, 1.0 / np.where(upd, sy, 1.0), 0.0)
        h0[upd] = sy[upd] / yy[upd]
        decrease = fx - fn
        x, fx, gx = xn, fn, gn
        moved = ~stalled & ~retry
        conv = moved & ((decrease <= ftol * np.abs(fn)) | (np.abs(gn).max(0) <= gtol))
        finished = conv | stalled
        if finished.any():
            fin = rows[finished]
            X[fin], f[fin], G[fin] = x[:, finished].T, fx[finished], gx[:, finished].T
            flag[fin] = np.where(conv[finished], CONVERGED, STALLED)
            keep = ~finished
            rows, x, fx, gx = rows[keep], x[:, keep], fx[keep], gx[:, keep]
            sh, yh, rho, h0 = sh[:, :, keep], yh[:, :, keep], rho[:, keep], h0[keep]
        if callback is not None:
            callback(it, rows.size)
    X[rows], f[rows], G[rows] = x.T, fx, gx.T  # rows still running hit max_iter
    return X, f, G, flag
