"""CPU timings of the torch mLSTM backends (forward and forward+backward), measured side by side.

Usage: python benchmarks/bench_mlstm_cpu.py [--repeats 3] [--threads N] [--json PATH]

For each shape the backends run in turns (round-robin, so drifting machine load hits all of them alike).
The fastest of the repeats is reported, since on a shared machine other jobs only ever add time, with the
ratio to "torch_chunkwise" (the CPU default of ``mlstm(backend="auto")`` beyond one chunk). float32
inputs, normaliser gradient "exact". Takes well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from xlstm_lab.kernels import mlstm

# (B, H, T, K=V): lab-scale training shapes on a CPU; the recurrent loop only at the shortest T
SHAPES = [(8, 4, 64, 32), (8, 4, 128, 32), (4, 4, 256, 64), (2, 4, 512, 64), (1, 4, 1024, 64)]
BACKENDS = ["torch_chunkwise", "torch_parallel", "torch_recurrent"]
RECURRENT_MAX_T = 64


def _inputs(B, H, T, D, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, D, generator=g) for _ in range(3))
    i = torch.randn(B, H, T, generator=g)
    f = torch.randn(B, H, T, generator=g) + 3.0  # forget-gate bias as after xLSTM initialisation
    return [x.requires_grad_() for x in (q, k, v, i, f)]


def _once(backend, xs, backward):
    t0 = time.perf_counter()
    if backward:
        h = mlstm(*xs, backend=backend)
        h.backward(torch.ones_like(h))
    else:
        with torch.no_grad():
            mlstm(*xs, backend=backend)
    return time.perf_counter() - t0


def bench_shape(shape, repeats):
    """Fastest seconds per backend and pass for one shape; backends interleaved within each repeat."""
    B, H, T, D = shape
    xs = _inputs(B, H, T, D)
    backends = [b for b in BACKENDS if b != "torch_recurrent" or T <= RECURRENT_MAX_T]
    times = {(b, p): [] for b in backends for p in ("fwd", "fwd+bwd")}
    for b in backends:  # warm-up: allocator, thread pool
        _once(b, xs, backward=True)
    for _ in range(repeats):
        for b in backends:
            for p in ("fwd", "fwd+bwd"):
                times[(b, p)].append(_once(b, xs, backward=(p == "fwd+bwd")))
                for x in xs:
                    x.grad = None
    return {key: min(v) for key, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# mLSTM torch backends on CPU ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}); fastest of {args.repeats}, float32\n")
    print("| B | H | T | K=V | backend | fwd ms | fwd+bwd ms | fwd / chunkwise | fwd+bwd / chunkwise |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for shape in SHAPES:
        res = bench_shape(shape, args.repeats)
        base = {p: res[("torch_chunkwise", p)] for p in ("fwd", "fwd+bwd")}
        for b in BACKENDS:
            if (b, "fwd") not in res:
                continue
            fw, fb = res[(b, "fwd")], res[(b, "fwd+bwd")]
            rows.append(dict(B=shape[0], H=shape[1], T=shape[2], D=shape[3], backend=b, fwd_ms=1e3 * fw,
                             fwd_bwd_ms=1e3 * fb, fwd_ratio=fw / base["fwd"], fwd_bwd_ratio=fb / base["fwd+bwd"]))
            print(f"| {shape[0]} | {shape[1]} | {shape[2]} | {shape[3]} | {b} | {1e3 * fw:.2f} | {1e3 * fb:.2f} "
                  f"| {fw / base['fwd']:.2f} | {fb / base['fwd+bwd']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
