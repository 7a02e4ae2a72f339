"""Trainer benchmark: overhead of ``train`` against a bare loop, CPU throughput, and GPU model FLOP utilisation.

    python benchmarks/bench_train.py                          # overhead + cpu (+ gpu on a CUDA machine)
    python benchmarks/bench_train.py --sections overhead      # only the trainer-overhead ratio (make bench)
    python benchmarks/bench_train.py --sections gpu           # CUDA: MFU of ~160M models at ctx 2048
    python benchmarks/bench_train.py --tiny                   # every section at toy sizes (checks the script;
                                                              # numbers meaningless, nothing written)

Sections:
  overhead  tokens/s of ``xlstm_lab.train.train`` against a bare loop over the same model (same seed, same
            mLSTM backend), the same AdamW groups, clipping and batches (pre-materialised tensors, so the bare
            loop pays nothing for data), timed alternately in one process (bare, train, bare, train, ...); the
            ratio train / bare of each pair (which runs first alternates), their median and a distribution-free
            95% interval of it (order statistics; needs >= 6 pairs); "goal met" when the interval lies above 0.95,
            "goal missed" below, else "cannot tell". Both exclude set-up and validation (``train`` reports tokens/s
            over its training steps). Goal (issue 7): train / bare >= 0.95 on CPU.
  cpu       training throughput per family and size at ctx 256 on CPU, eager and ``torch.compile``: tokens/s
            over the whole run (compilation included) and at steady state (steps after the first 10%), and
            model FLOP/s in the paper's convention (``accounting.flops_per_sequence``).
  gpu       CUDA only: model FLOP utilisation (steady-state model FLOP/s / the device's dense bf16 peak from
            ``xlstm_lab.anchors.hardware``) for the paper's 160M shapes at ctx 2048, both families, bf16 autocast,
            the xLSTM on our Triton kernel. Anchor: a plain compiled 162M Llama reached 39% of 989 TFLOP/s (356k
            tokens/s) on an H100; targets: Transformer >= 40%, xLSTM >= 35%.

Results: benchmarks/results/bench_train_<date>_<device>.json with provenance (date, commit, dirty tree, device,
versions, threads, arguments). Run it on an idle machine: two trainings sharing two cores slow down ~10x.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _provenance(device: str) -> dict:
    import torch

    from xlstm_lab.train.provenance import versions

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain")),
            "device": device, "machine": platform.machine(), "threads": torch.get_num_threads(),
            "versions": versions()}


def _corpus(tiny: bool):
    from xlstm_lab.data import Corpus, load_corpus

    if not tiny:
        return load_corpus()
    words = "the quick brown fox jumps over a lazy dog and then runs far away into night".split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(6000))
    return Corpus.from_texts("tiny", [text, text[::-1], text.upper()])


def _spec(config, steps: int, batch: int, corpus, lr: float | None = None, device: str = "cpu"):
    from xlstm_lab.accounting import flops_per_sequence
    from xlstm_lab.train import RunSpec, default_lr

    budget = steps * batch * flops_per_sequence(config).forward_backward
    return RunSpec(config, budget, lr or default_lr(config), batch, corpus_sha256=corpus.sha256, device=device)


def _train_timed(spec, corpus, *, compile_model=False, progress=False, micro=None):
    """Run ``train``; returns (result, steady tokens/s) with steady state = steps after the first 10% (>= 3)."""
    from xlstm_lab.train import train

    marks = []
    result = train(spec, corpus=corpus, progress=progress, min_steps=1, compile=compile_model,
                   micro_batch_size=micro, on_step=lambda info: marks.append((info.step, info.train_s)))
    if result.status != "done" or len(marks) < 3:
        print(f"  run {result.status} after {len(marks)} steps: {(result.error or '').splitlines()[:1]}", flush=True)
        return result, float("nan")
    first = max(3, len(marks) // 10)
    # on CUDA StepInfo arrives in bursts: use the last mark of the first burst after ``first`` steps
    first = min(first, len(marks) - 2)
    (s0, t0), (s1, t1) = marks[first], marks[-1]
    tokens = (s1 - s0) * spec.batch_size * spec.model.context_length
    steady = tokens / (t1 - t0) if t1 > t0 else float("nan")
    return result, steady


def _bare_loop(spec, corpus, steps: int) -> float:
    """Tokens/s of a minimal loop: same model, AdamW groups, clipping and data; batches made before timing."""
    import torch
    import torch.nn.functional as F

    from xlstm_lab.models import build_model
    from xlstm_lab.train.loop import model_config_for

    torch.manual_seed(spec.seed)
    model = build_model(model_config_for(spec.model, torch.device("cpu")))
    embed = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in embed]
    rest = [p for p in model.parameters() if not (p.dim() >= 2 and id(p) not in embed)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay}, {"params": rest,
                             "weight_decay": 0.0}], lr=spec.lr, betas=(0.9, 0.95), eps=1e-8)
    ctx = spec.model.context_length
    batches = [torch.from_numpy(corpus.train_batch(s, spec.batch_size, ctx, spec.seed)) for s in range(steps)]
    start = time.perf_counter()
    for batch in batches:
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * spec.batch_size * ctx / (time.perf_counter() - start)


def median_interval(x: list[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Median of ``x`` with a distribution-free interval from order statistics: (median, lo, hi, coverage).

    The interval [x_(k), x_(n+1-k)] covers the population median with probability 1 - 2 P(Bin(n, 1/2) < k); k is
    the largest with coverage >= ``level``. With too few values for that (n < 6 at 95%), lo/hi are the extremes
    and the coverage reported is theirs (1 - 2^(1-n)), below ``level``.
    """
    from scipy.stats import binom

    v = sorted(x)
    n = len(v)
    if n == 0:
        raise ValueError("median_interval: no values")
    k_best = 1
    for k in range(1, n // 2 + 1):
        if 1 - 2 * binom.cdf(k - 1, n, 0.5) >= level:
            k_best = k
    cover = 1 - 2 * binom.cdf(k_best - 1, n, 0.5)
    return statistics.median(v), v[k_best - 1], v[n - k_best], float(cover)


def overhead(args, corpus) -> list[dict]:
    from xlstm_lab.models import ModelConfig

    d, ctx, batch, steps = (16, 32, 4, 20) if args.tiny else (64, 256, 8, args.steps)
    rows = []
    for family in args.families:
        config = ModelConfig(family, 256, d, 2, 2 if family == "xlstm" else d // 16, None, context_length=ctx)
        spec = _spec(config, steps, batch, corpus)
        _bare_loop(spec, corpus, min(steps, 10))  # warm-up (first-call allocations, thread pools), untimed
        _train_timed(_spec(config, min(steps, 10), batch, corpus), corpus)
        bare, trained = [], []
        for i in range(args.repeats):
            # alternate which of the pair runs first, so a drift of the machine's speed cancels
            order = ("bare", "train") if i % 2 == 0 else ("train", "bare")
            for which in order:
                if which == "bare":
                    bare.append(_bare_loop(spec, corpus, steps))
                else:
                    result, _ = _train_timed(spec, corpus, progress=args.progress)
                    if result.status != "done":
                        raise SystemExit(f"the overhead run {result.status}: {result.error}")
                    trained.append(result.tokens_per_s)
        pair = [t / b for t, b in zip(trained, bare)]
        ratio, lo, hi, cover = median_interval(pair)
        verdict = (("goal met" if lo >= 0.95 else "goal missed" if hi < 0.95 else "cannot tell") if cover >= 0.95
                   else "too few pairs")
        rows.append({"section": "overhead", "family": family, "d_model": d, "context": ctx, "batch": batch,
                     "steps": steps, "bare_tokens_per_s": bare, "train_tokens_per_s": trained, "pair_ratios": pair,
                     "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi, "interval_coverage": cover,
                     "verdict": verdict})
        print(f"overhead {family:5s} d{d} ctx{ctx} b{batch}: bare {statistics.median(bare):9.0f} tok/s, train "
              f"{statistics.median(trained):9.0f} tok/s; train/bare per pair: median {ratio:.3f}, "
              f"{cover:.0%} interval [{lo:.3f}, {hi:.3f}] over {len(pair)} pairs (goal >= 0.95: {verdict})",
              flush=True)
    return rows


def cpu_throughput(args, corpus) -> list[dict]:
    from xlstm_lab.models import ModelConfig
    from xlstm_lab.train import default_batch_size

    sizes = [(16, 1)] if args.tiny else [(32, 2), (64, 2), (128, 2), (256, 4)]
    ctx, steps = (32, 12) if args.tiny else (256, args.steps)
    rows = []
    for family in args.families:
        for d, layers in sizes:
            heads = 2 if family == "xlstm" and d <= 64 else (4 if family == "xlstm" else max(1, d // 32))
            config = ModelConfig(family, 256, d, layers, heads, None, context_length=ctx)
            batch = default_batch_size(config)
            for mode in args.modes:
                result, steady = _train_timed(_spec(config, steps, batch, corpus), corpus,
                                              compile_model=mode == "compile")
                if result.status != "done":
                    rows.append({"section": "cpu", "family": family, "d_model": d, "mode": mode,
                                 "status": result.status, "error": result.error})
                    continue
                per_token = result.plan.flops_per_step / (batch * ctx)
                row = {"section": "cpu", "family": family, "d_model": d, "n_layers": layers, "N": result.plan.n_params,
                       "context": ctx, "batch": batch, "steps": steps, "mode": mode,
                       "tokens_per_s": result.tokens_per_s, "steady_tokens_per_s": steady,
                       "steady_model_flops_per_s": steady * per_token, "val_loss": result.val_loss}
                rows.append(row)
                print(f"cpu {family:5s} d{d:<4d} N={row['N']:>9,} {mode:7s}: {result.tokens_per_s:9.0f} tok/s overall, "
                      f"{steady:9.0f} steady, {steady * per_token / 1e9:7.2f} model GFLOP/s", flush=True)
    return rows


def _peak_flops(name: str, override: float | None) -> tuple[float, str]:
    from xlstm_lab.anchors.hardware import HARDWARE

    if override:
        return override, "--peak-flops"
    for key, marker in (("h200", "H200"), ("h100-sxm", "H100"), ("a100-sxm-80gb", "A100"), ("b200", "B200")):
        if marker in name:
            return HARDWARE[key].peak_flops, HARDWARE[key].source
    raise SystemExit(f"unknown peak bf16 FLOP/s for {name!r}; pass --peak-flops")


def gpu_mfu(args, corpus) -> list[dict]:
    import torch

    from xlstm_lab.models import ModelConfig, get_shape

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("gpu: no CUDA device; skipped")
        return []
    device = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name() if cuda else "cpu (smoke run)"
    peak, source = _peak_flops(name, args.peak_flops) if cuda else (1e12, "placeholder (smoke run)")
    rows = []
    for family in args.families:
        if args.tiny:
            config, batch, micro, steps = ModelConfig(family, 256, 32, 2, 2, None, context_length=64), 4, 2, 20
        else:
            config = dataclasses.replace(get_shape(f"{family}-160m"), context_length=args.gpu_ctx)
            batch, micro, steps = args.gpu_batch, args.gpu_micro, args.gpu_steps
        for mode in args.modes:
            spec = _spec(config, steps, batch, corpus, device=device)
            result, steady = _train_timed(spec, corpus, compile_model=mode == "compile", micro=micro)
            if result.status != "done":
                rows.append({"section": "gpu", "family": family, "mode": mode, "status": result.status,
                             "error": result.error})
                continue
            per_token = result.plan.flops_per_step / (batch * config.context_length)
            mfu = steady * per_token / peak
            rows.append({"section": "gpu", "family": family, "N": result.plan.n_params,
                         "context": config.context_length,
                         "batch": batch, "micro_batch": micro, "steps": steps, "mode": mode, "device": name,
                         "tokens_per_s": result.tokens_per_s, "steady_tokens_per_s": steady,
                         "steady_model_flops_per_s": steady * per_token, "peak_flops": peak, "peak_source": source,
                         "mfu": mfu})
            print(f"gpu {family:5s} N={result.plan.n_params:,} ctx{config.context_length} {mode:7s}: "
                  f"{steady:10.0f} tok/s, {steady * per_token / 1e12:7.1f} model TFLOP/s = {100 * mfu:5.1f}% of "
                  f"{peak / 1e12:.0f}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="overhead,cpu,gpu", help="comma list of overhead, cpu, gpu")
    ap.add_argument("--families", default="xlstm,llama")
    ap.add_argument("--modes", default="eager,compile", help="cpu/gpu sections: eager and/or compile")
    ap.add_argument("--steps", type=int, default=150, help="steps per overhead / cpu run")
    ap.add_argument("--repeats", type=int, default=9,
                    help="bare/train pairs in the overhead section (order alternates; >= 6 for a 95%% interval)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--progress", action="store_true", help="show train's tqdm bar in the overhead section")
    ap.add_argument("--gpu-ctx", type=int, default=2048)
    ap.add_argument("--gpu-batch", type=int, default=16, help="sequences per step in the gpu section")
    ap.add_argument("--gpu-micro", type=int, default=None, help="micro-batch rows in the gpu section")
    ap.add_argument("--gpu-steps", type=int, default=64)
    ap.add_argument("--peak-flops", type=float, default=None, help="dense bf16 peak of the GPU, FLOP/s")
    ap.add_argument("--tiny", action="store_true", help="toy sizes on any machine; nothing written")
    ap.add_argument("--json", default=None,
                    help="output file (default benchmarks/results/bench_train_<date>_<device>.json)")
    args = ap.parse_args(argv)
    args.families = [f for f in args.families.split(",") if f]
    args.modes = [m for m in args.modes.split(",") if m]
    sections = [s for s in args.sections.split(",") if s]
    if not os.path.exists("/dev/nvidiactl"):
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = _corpus(args.tiny)
    rows = []
    for section, fn in (("overhead", overhead), ("cpu", cpu_throughput), ("gpu", gpu_mfu)):
        if section in sections:
            rows += fn(args, corpus)
    cuda = torch.cuda.is_available() and "gpu" in sections
    from xlstm_lab.train.provenance import describe_device

    device = describe_device(torch.device("cuda" if cuda else "cpu"))
    if args.tiny and not args.json:
        print("tiny run: numbers are meaningless; nothing written")
        return 0
    out = Path(args.json) if args.json else REPO / "benchmarks" / "results" / (
        f"bench_train_{datetime.date.today():%Y%m%d}_{'cuda' if cuda else 'cpu'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": _provenance(device), "args": vars(args), "command": " ".join(sys.argv), "rows": rows}
    out.write_text(json.dumps(payload, indent=1, allow_nan=True, default=str) + "\n")
    print(f"wrote {out}")
    return 0 if all(math.isfinite(r.get("ratio", 1.0)) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
