"""Benchmark: full-grid parametric loss-surface fit vs a plain scipy L-BFGS-B loop with numeric gradients.

Run: ``python benchmarks/bench_fit.py [--reference-starts K] [--repeats R] [--json PATH]``.

Data: 240 synthetic runs (20 N values x 12 D values, log-spaced) from Chinchilla's Approach-3 surface
(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28) with log-normal noise of 1e-3 (seed 0).
Fast path: ``xlstm_lab.fit.surface.fit_parametric`` with the full 4500-start Chinchilla grid.
Reference: for each of the same 4500 starts, ``scipy.optimize.minimize(method="L-BFGS-B")`` with scipy's default
2-point finite-difference gradient and default tolerances, on the plain objective
sum_i Huber_1e-3(log L_hat_i - log L_i) (a sum, no mean), written directly in numpy.
By default (``--reference-starts 900``) the reference runs on a seeded random subset of 900 starts and its time
is extrapolated per start to 4500 with a sampling standard error (the full loop takes about 6 CPU-minutes;
``--reference-starts 4500`` measures it all); the output says which.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from xlstm_lab.fit.simulate import simulate_surface  # noqa: E402
from xlstm_lab.fit.surface import CHINCHILLA_GRID, fit_parametric  # noqa: E402

TRUE = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
DELTA = 1e-3


def make_data():
    return simulate_surface(**TRUE, N=np.geomspace(5e7, 5e9, 20), D=np.geomspace(1e9, 2e11, 12), noise=1e-3, seed=0)


def plain_objective(x, ln_n, ln_d, y):
    """Sum of Huber losses of log residuals, log L_hat = LSE(LSE(a - alpha ln N, b - beta ln D), e)."""
    e, a, b, alpha, beta = x
    r = np.logaddexp(np.logaddexp(a - alpha * ln_n, b - beta * ln_d), e) - y
    ar = np.abs(r)
    return float(np.sum(np.where(ar <= DELTA, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA))))


def reference_loop(df, starts):
    """Returns wall and CPU seconds per start (arrays) and the best objective."""
    from tqdm import tqdm

    args = (np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy()), np.log(df["loss"].to_numpy()))
    best, wall, cpu = np.inf, [], []
    for x0 in tqdm(starts, desc="reference (numeric-gradient L-BFGS-B)", mininterval=5.0):
        t0, c0 = time.perf_counter(), time.process_time()
        res = minimize(plain_objective, x0, args=args, method="L-BFGS-B")
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        best = min(best, float(res.fun))
    return np.array(wall), np.array(cpu), best


def extrapolate(per_start: np.ndarray, total: int) -> tuple[float, float]:
    """Total over `total` starts from a simple random sample, with its standard error (finite-population corrected)."""
    k = per_start.size
    se = total * per_start.std(ddof=1) / np.sqrt(k) * np.sqrt(1 - k / total) if 1 < k < total else 0.0
    return float(per_start.mean() * total), float(se)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reference-starts",
        type=int,
        default=900,
        help="run the reference on a seeded random subset of this many starts and extrapolate "
        "(default 900; 4500 = all, about 6 CPU-minutes on a 2-core CI machine)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of the fast fit (median is reported)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)

    df = make_data()
    starts = np.array(list(itertools.product(*CHINCHILLA_GRID.values())), dtype=np.float64)

    fit_parametric(data=df)  # warm-up (imports, allocator)
    times, cpu, fit = [], [], None
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_parametric(data=df)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t_fast = statistics.median(times)

    k = min(args.reference_starts, starts.shape[0])
    subset = k < starts.shape[0]
    chosen = np.sort(np.random.default_rng(0).choice(starts.shape[0], k, replace=False)) if subset else np.arange(k)
    wall_ref, cpu_ref_each, best_ref = reference_loop(df, starts[chosen])
    t_ref_measured = float(wall_ref.sum())
    t_ref, t_ref_se = extrapolate(wall_ref, starts.shape[0])
    cpu_ref, cpu_ref_se = extrapolate(cpu_ref_each, starts.shape[0])

    out = {
        "n_points": int(len(df)),
        "n_starts": int(starts.shape[0]),
        "fast_seconds_median": t_fast,
        "fast_seconds_all": times,
        "fast_cpu_seconds_median": statistics.median(cpu),
        "fast_best_objective": fit.objective,
        "fast_n_best": fit.n_best,
        "fast_status": fit.status,
        "reference_starts_run": int(k),
        "reference_seconds_measured": t_ref_measured,
        "reference_seconds_full_grid": t_ref,
        "reference_seconds_full_grid_se": t_ref_se,
        "reference_cpu_seconds_full_grid": cpu_ref,
        "reference_cpu_seconds_full_grid_se": cpu_ref_se,
        "reference_extrapolated": bool(subset),
        "reference_best_objective": best_ref,
        "speedup": t_ref / t_fast,
        "speedup_cpu_time": cpu_ref / statistics.median(cpu),
        "objective_rel_diff": (best_ref - fit.objective) / fit.objective,
        "fit": fit.to_dict(),
        "device": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    print(f"data: {out['n_points']} points, {out['n_starts']} starts (full Chinchilla grid)")
    print(
        f"fit_parametric (batched L-BFGS, analytic gradients): median {t_fast:.2f} s over {args.repeats} runs "
        f"({', '.join(f'{t:.2f}' for t in times)} s); best objective {fit.objective:.10e}; "
        f"{fit.n_best} starts reached it; status {fit.status}"
    )
    note = (
        (
            f" +- {t_ref_se:.1f} s (EXTRAPOLATED from a seeded random subset of {k} of {starts.shape[0]} starts: "
            f"{t_ref_measured:.1f} s measured; +- is the sampling standard error)"
        )
        if subset
        else " (all starts)"
    )
    print(
        f"reference (scipy L-BFGS-B, numeric gradients, one start at a time): {t_ref:.1f} s{note}; "
        f"best objective {best_ref:.10e}"
    )
    print(
        f"speed-up: {out['speedup']:.1f}x wall-clock, {out['speedup_cpu_time']:.1f}x in CPU time "
        f"(CPU time is less affected by other load on the machine)"
    )
    print(
        f"fast CPU time (median) {out['fast_cpu_seconds_median']:.2f} s; reference CPU time {cpu_ref:.1f} s"
        + (f" +- {cpu_ref_se:.1f} s (extrapolated)" if subset else "")
    )
    print(f"relative objective difference (reference - fast)/fast: {out['objective_rel_diff']:.2e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
