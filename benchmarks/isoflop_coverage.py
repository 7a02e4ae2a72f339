"""Coverage of fit_isoflop's intervals on simulated IsoFLOP grids with known truth (the review's design).

Run: ``python benchmarks/isoflop_coverage.py [--reps 2000] [--noise 0.005] [--n-bootstrap 0]``.
Design: Chinchilla's surface (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28), budgets 6e18, 1e19, 3e19, 1e20,
3e20 with 7, 8, 9, 8, 7 runs on a log grid N*/4 .. 4 N*, log-normal noise ``--noise``, seeds 1..reps. Truth: the
vertex and minimum of the least-squares parabola through the noiseless losses (what Approach 2 estimates; also
reported against the true N*), and the exponent of those vertices. ``--n-bootstrap B`` passes n_bootstrap=B and
seed=rep to fit_isoflop, which only the code before the Fieller intervals accepts (its percentile bootstrap): point
PYTHONPATH at such a checkout to measure it. An unbounded interval (NaN) counts as covering.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from xlstm_lab.fit import FitError, fit_isoflop, simulate_isoflop  # noqa: E402

P = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
BUDGETS, RUNS = (6e18, 1e19, 3e19, 1e20, 3e20), (7, 8, 9, 8, 7)


def grid(noise: float, seed: int) -> pd.DataFrame:
    return pd.concat([simulate_isoflop(**P, budgets=(c,), n_per_budget=k, noise=noise, seed=seed * 10 + i)
                      for i, (c, k) in enumerate(zip(BUDGETS, RUNS))], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.005)
    ap.add_argument("--n-bootstrap", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    clean = grid(0.0, 0)
    fits = [np.polyfit(np.log10(g["N"]), g["loss_true"], 2) for _, g in clean.groupby("C")]
    true_v = np.array([10 ** (-b / (2 * a)) for a, b, _ in fits])
    true_l = np.array([c - b * b / (4 * a) for a, b, c in fits])
    true_a = np.polyfit(np.log(BUDGETS), np.log(true_v), 1)[0]
    n_star = clean.groupby("C")["N_opt"].first().to_numpy()
    hits = {k: [] for k in ("N_opt vs parabola vertex", "N_opt vs true N*", "L_opt", "exponent (reported)",
                            "exponent (t interval)")}
    raised = dropped = unbounded = 0
    t0 = time.time()
    for rep in range(args.reps):
        kw = {"n_bootstrap": args.n_bootstrap, "seed": rep} if args.n_bootstrap else {}
        try:
            fit = fit_isoflop(grid(args.noise, rep + 1), n_col="N", d_col="D", c_col="C", loss_col="loss", **kw)
        except FitError:
            raised += 1
            continue
        o = fit.optima
        unb = o["N_opt_lo"].isna().to_numpy()
        unbounded += int(unb.sum())
        hits["N_opt vs parabola vertex"] += list(((o["N_opt_lo"] <= true_v) & (true_v <= o["N_opt_hi"])) | unb)
        hits["N_opt vs true N*"] += list(((o["N_opt_lo"] <= n_star) & (n_star <= o["N_opt_hi"])) | unb)
        hits["L_opt"] += list((o["L_opt_lo"] <= true_l) & (true_l <= o["L_opt_hi"]))
        hits["exponent (reported)"].append(fit.n_exponent_interval[0] <= true_a <= fit.n_exponent_interval[1])
        hits["exponent (t interval)"].append(fit.n_opt.a_interval[0] <= true_a <= fit.n_opt.a_interval[1])
        dropped += int(o["n_boot_failed"].sum()) if "n_boot_failed" in o else 0
    print(f"{args.reps} grids, noise {args.noise}, n_bootstrap {args.n_bootstrap}: {raised} fits raised, "
          f"{unbounded} unbounded N_opt intervals, {dropped} resamples dropped, {time.time() - t0:.0f} s")
    for name, h in hits.items():
        p = float(np.mean(h))
        print(f"  {name:<26} coverage {p:.4f}  (MC SE {np.sqrt(p * (1 - p) / len(h)):.4f}, n = {len(h)})")


if __name__ == "__main__":
    main()
