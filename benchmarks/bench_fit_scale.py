"""Benchmark: parametric fit time against the number of runs (the review's 200,000-row case), and its optimum.

Run: ``python benchmarks/bench_fit_scale.py [--rows 1000 5000 20000 200000] [--json PATH]``.
Before/after: point PYTHONPATH at another checkout (e.g. ``git archive <commit> xlstm_lab | tar -x -C /tmp/old``,
then ``PYTHONPATH=/tmp/old python benchmarks/bench_fit_scale.py --rows 1000 5000``; the old code takes ~9 minutes
at 200,000 rows). Data: n runs at log-uniform N in [8e7, 7e9] and D in [1.5e9, 2e12] on Chinchilla's surface
(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28) with 0.5% log-normal noise (seed 0), so nearly every row is a
distinct (N, D). Reports wall and CPU seconds, the status and the objective per row count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

if "PYTHONPATH" not in os.environ:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from xlstm_lab.fit import fit_parametric, surface_loss  # noqa: E402


def data(n: int):
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(8e7), np.log(7e9), n))
    D = np.exp(rng.uniform(np.log(1.5e9), np.log(2e12), n))
    loss = surface_loss(N, D, 1.69, 406.4, 410.7, 0.34, 0.28) * np.exp(0.005 * rng.standard_normal(n))
    return N, D, loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 5000, 20000, 200000])
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    import xlstm_lab

    out = {"code": os.path.dirname(xlstm_lab.__file__), "python": platform.python_version(),
           "machine": platform.machine(), "cpus": os.cpu_count(), "results": []}
    for n in args.rows:
        N, D, loss = data(n)
        wall, cpu = time.perf_counter(), time.process_time()
        fit = fit_parametric(N, D, loss)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        row = {"rows": n, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "status": fit.status,
               "objective": fit.objective, "alpha": fit.alpha, "beta": fit.beta}
        out["results"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
