"""The mLSTM kernels chapter: FLOP models, backend parity against float64, gradient conventions, H100 anchors."""

# Importing this module does not import torch: the functions that run the kernels import it when called (this is
# the one chapter that runs PyTorch, because it checks the package's own kernels live).

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from xlstm_lab import anchors

__all__ = [
    "BACKEND_LABELS", "CHUNKED", "FORMS", "GRADS", "RESULTS_DIR", "TOL", "TYPICAL_GATES",
    "flops_per_token", "flops_table", "crossover_T",
    "triton_device", "make_inputs", "relerr", "parity_table", "convention_gap", "prefill_steps_table",
    "card_gradient_errors", "anchor_training", "anchor_decode", "speed_ratios",
    "find_gpu_results", "load_gpu_results", "gpu_results_note",
]

# Relative Frobenius error allowed against the float64 reference for float32 inputs: the same bounds as
# TOL[torch.float32] in tests/kernels/mlstm_testlib.py (outputs and states 1e-4, gradients 2e-4; measured
# worst cases there are ~1.4e-5 and ~3.2e-5). Tests cannot be imported from the package, hence the copy.
TOL = {"value": 1e-4, "grad": 2e-4}

# (i range, f range) of the gate pre-activations: forget gates near 1 as after xLSTM's initialisation; the
# "typical" regime of GATE_REGIMES in tests/kernels/mlstm_testlib.py.
TYPICAL_GATES = ((-1.0, 1.0), (1.0, 4.0))

GRADS = ("dq", "dk", "dv", "di", "df")
CHUNKED = ("triton", "torch_chunkwise")  # the backends that take chunk_size
BACKEND_LABELS = {
    "torch_recurrent": "recurrent (torch)",
    "torch_parallel": "parallel (torch)",
    "torch_chunkwise": "chunkwise (torch)",
    "triton": "chunkwise (Triton)",
}
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


# ----------------------------------------------------------------------------------------------- FLOP models
FORMS = {"parallel": "mLSTM parallel form (dense T×T)", "attention": "causal attention", "chunkwise": "mLSTM chunkwise"}


def flops_per_token(form: str, T: float, K: int, V: int, L: int = 64) -> float:
    """Forward matmul FLOPs per token and head (gating, softmax and normalisers not counted).

    The models of the H100 data card (``anchors/data/gpu_h100/SOURCE.md``): causal attention does
    2·T²·d per sequence and head, i.e. T·(K + V) per token with K = V = d; chunkwise mLSTM does
    L·(K + V) (causal half of the L × L intra-chunk block) + 4·K·V (q·C and the kᵀv state update) per token.
    The quadratic parallel form as written (``reference.mlstm_parallel``) fills the whole masked T × T matrix:
    2·T·(K + V) per token, twice causal attention.

    Args:
        form: "parallel", "attention" or "chunkwise".
        T: sequence length (tokens).
        K, V: query/key and value head dimensions.
        L: chunk length (chunkwise only).
    """
    if form == "parallel":
        return 2.0 * T * (K + V)
    if form == "attention":
        return 1.0 * T * (K + V)
    if form == "chunkwise":
        return 1.0 * L * (K + V) + 4.0 * K * V
    raise ValueError(f"unknown form {form!r}; use one of {sorted(FORMS)}")


def flops_table(T_values, K: int = 128, V: int = 128, chunk_sizes=(64,)) -> pd.DataFrame:
    """Long table (T, form, L, label, flops_per_token) of :func:`flops_per_token` over a grid of T."""
    rows = []
    for T in T_values:
        for form in ("parallel", "attention"):
            rows.append(dict(T=float(T), form=form, L=None, label=FORMS[form],
                             flops_per_token=flops_per_token(form, T, K, V)))
        for L in chunk_sizes:
            rows.append(dict(T=float(T), form="chunkwise", L=int(L), label=f"{FORMS['chunkwise']} (L = {int(L)})",
                             flops_per_token=flops_per_token("chunkwise", T, K, V, int(L))))
    return pd.DataFrame(rows)


def crossover_T(K: int, V: int, L: int) -> float:
    """The sequence length above which chunkwise mLSTM needs fewer FLOPs per token than causal attention.

    Solves T·(K + V) = L·(K + V) + 4·K·V: T* = L + 4·K·V / (K + V).
    """
    return L + 4.0 * K * V / (K + V)


# ---------------------------------------------------------------------------------------- running the kernels
def triton_device() -> str:
    """The device the Triton backend runs on here: "cuda", or "cpu" through Triton's interpreter.

    Without CUDA this sets ``TRITON_INTERPRET=1``, which only works before anything imports triton.

    Raises:
        RuntimeError: triton was already imported without the interpreter on a machine without CUDA.
    """
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get("TRITON_INTERPRET") != "1":
        if "triton" in sys.modules:
            raise RuntimeError("triton is already imported without its interpreter and there is no CUDA device: "
                               "set os.environ['TRITON_INTERPRET'] = '1' before anything imports triton "
                               "(restart the kernel), or leave the Triton backend out")
        os.environ["TRITON_INTERPRET"] = "1"
    return "cpu"


def make_inputs(B: int, H: int, T: int, K: int, V: int, seed: int = 0, gates=TYPICAL_GATES) -> list:
    """float64 q, k (B,H,T,K), v (B,H,T,V) ~ N(0, 1) and gates i, f (B,H,T) uniform in ``gates`` ranges."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    (i_lo, i_hi), (f_lo, f_hi) = gates
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    uni = lambda lo, hi: lo + (hi - lo) * torch.rand(B, H, T, generator=g, dtype=torch.float64)  # noqa: E731
    return [rnd(B, H, T, K), rnd(B, H, T, K), rnd(B, H, T, V), uni(i_lo, i_hi), uni(f_lo, f_hi)]


def relerr(a, b) -> float:
    """Relative Frobenius error ||a − b|| / ||b|| in float64 (on the CPU); inf if ``a`` is not finite."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    if not bool(a.isfinite().all()):
        return float("inf")
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _forward_backward(backend, xs, dh, *, normalizer_grad, chunk_size, dtype, device="cpu"):
    """h and the gradients of sum(h · dh) w.r.t. q, k, v, i, f for one backend ("reference": float64 parallel)."""
    import torch

    from xlstm_lab.kernels import mlstm
    from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

    leaves = [x.detach().to(device=device, dtype=dtype).clone().requires_grad_() for x in xs]
    if backend == "reference":
        h = mlstm_parallel(*leaves, normalizer_grad=normalizer_grad)
    else:
        kw = {"chunk_size": int(chunk_size)} if backend in CHUNKED else {}
        h = mlstm(*leaves, backend=backend, normalizer_grad=normalizer_grad, **kw)
    grads = torch.autograd.grad(h, leaves, dh.to(device=device, dtype=h.dtype))
    return h, grads


def parity_table(B: int, H: int, T: int, K: int, V: int, *, chunk_size: int = 32, seed: int = 0,
                 backends=tuple(BACKEND_LABELS), conventions=("exact", "detached")) -> pd.DataFrame:
    """Every backend in float32 against float64 autograd of the quadratic reference, per gradient convention.

    The reference is ``reference.mlstm_parallel`` (m a constant; the denominator detached or not as the
    convention says), and the loss is sum(h · dh) with one fixed random dh.

    Returns:
        One row per (backend, convention): relative Frobenius errors of h and of dq, dk, dv, di, df.
    """
    import torch

    xs = make_inputs(B, H, T, K, V, seed)
    dh = torch.randn(B, H, T, V, generator=torch.Generator().manual_seed(int(seed) + 1), dtype=torch.float64)
    rows = []
    for conv in conventions:
        h_ref, g_ref = _forward_backward("reference", xs, dh, normalizer_grad=conv, chunk_size=chunk_size,
                                         dtype=torch.float64)
        for be in backends:
            h, g = _forward_backward(be, xs, dh, normalizer_grad=conv, chunk_size=chunk_size, dtype=torch.float32,
                                     device=triton_device() if be == "triton" else "cpu")
            rows.append(dict(backend=be, gradient=conv, h=relerr(h, h_ref),
                             **{n: relerr(a, b) for n, a, b in zip(GRADS, g, g_ref, strict=True)}))
    return pd.DataFrame(rows)


def convention_gap(B: int, H: int, T: int, K: int, V: int, *, seed: int = 0) -> pd.DataFrame:
    """How far the detached-normaliser gradient is from the exact one, in float64 on the reference.

    Returns:
        Rows (gradient, rel_diff) with rel_diff = ||g_detached − g_exact|| / ||g_exact|| for dq, dk, dv, di, df.
    """
    import torch

    xs = make_inputs(B, H, T, K, V, seed)
    dh = torch.randn(B, H, T, V, generator=torch.Generator().manual_seed(int(seed) + 1), dtype=torch.float64)
    g = {conv: _forward_backward("reference", xs, dh, normalizer_grad=conv, chunk_size=0, dtype=torch.float64)[1]
         for conv in ("exact", "detached")}
    return pd.DataFrame([dict(gradient=n, rel_diff=relerr(d, e))
                         for n, e, d in zip(GRADS, g["exact"], g["detached"], strict=True)])


def prefill_steps_table(B: int, H: int, T: int, K: int, V: int, n_steps: int, *, chunk_size: int = 32,
                        seed: int = 0, pairs=(("torch_chunkwise", "torch"), ("triton", "triton"))) -> pd.DataFrame:
    """A float32 prefill of T tokens followed by ``n_steps`` decode steps, against one float64 call over all.

    Args:
        pairs: (sequence backend of the prefill, step backend) pairs; "triton" runs on :func:`triton_device`.

    Returns:
        One row per pair: relative errors of the prefill outputs, the step outputs and the final C, n, m.
    """
    import torch

    from xlstm_lab.kernels import mlstm, mlstm_step
    from xlstm_lab.kernels.mlstm.reference import mlstm_parallel

    xs = make_inputs(B, H, T + n_steps, K, V, seed)
    h_ref, s_ref = mlstm_parallel(*xs, return_last_state=True)
    rows = []
    for seq_be, step_be in pairs:
        dev = triton_device() if "triton" in (seq_be, step_be) else "cpu"
        x32 = [x.to(device=dev, dtype=torch.float32) for x in xs]
        kw = {"chunk_size": int(chunk_size)} if seq_be in CHUNKED else {}
        with torch.no_grad():
            h_pre, state = mlstm(*(x[:, :, :T] for x in x32), backend=seq_be, return_last_state=True, **kw)
            hs = []
            for t in range(T, T + n_steps):
                h, state = mlstm_step(*(x[:, :, t] for x in x32), state, backend=step_be)
                hs.append(h)
        rows.append(dict(prefill=seq_be, step=step_be, **{
            "h (prefill)": relerr(h_pre, h_ref[:, :, :T]), "h (steps)": relerr(torch.stack(hs, 2), h_ref[:, :, T:]),
            "C": relerr(state.C, s_ref.C), "n": relerr(state.n, s_ref.n), "m": relerr(state.m, s_ref.m)}))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- the H100 card
def _gpu(df: pd.DataFrame | None) -> pd.DataFrame:
    return anchors.load("gpu_h100") if df is None else df


def card_gradient_errors(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """xl_chunk's bf16 gradients at B1 H8 T2048 K=V=128 against fp64 autograd, from the card's A0 records.

    Uses the last A0 record that has both comparisons: against the exact gradient (full autograd) and against
    autograd with n and m detached (the ``"detached"`` convention).

    Returns:
        Rows (gradient, vs_exact, vs_detached) for dq, dk, dv, di, df; ``attrs["shape"]`` holds the record's
        B, H, T, K, V.
    """
    df = _gpu(df)
    col = "grad_{}_relerr_vs_{}"
    a0 = df[(df["sec"] == "A0") & df[col.format("q", "stopgrad_n_and_m")].notna()]
    if a0.empty:
        raise anchors.AnchorError("gpu_h100 has no A0 record with gradients against the detached reference")
    rec = a0.iloc[-1]
    out = pd.DataFrame([dict(gradient=f"d{x}", vs_exact=float(rec[col.format(x, "full_autograd")]),
                             vs_detached=float(rec[col.format(x, "stopgrad_n_and_m")])) for x in "qkvif"])
    out.attrs["shape"] = dict(zip("BHTKV", (int(n) for n in json.loads(rec["shape"])), strict=True))
    return out


_TRAIN_IMPLS = {  # substring of the card's impl -> short label
    "xl_chunk": "NX-AI xl_chunk (L = 128)",
    "CUDNN_ATTENTION": "SDPA cuDNN",
    "FLASH_ATTENTION": "SDPA FlashAttention-2",
    "simple_gla": "fla simple_gla (L = 64, fwd only)",
}
_DECODE_IMPLS = {
    "mlstm step [triton]": "NX-AI mLSTM step (Triton)",
    "mlstm step [native]": "NX-AI mLSTM step (torch ops)",
    "attn decode [CUDNN_ATTENTION]": "SDPA cuDNN decode",
    "attn decode [FLASH_ATTENTION]": "SDPA FlashAttention-2 decode",
}
_CFG = {"small": "H8, K = V = 128", "7Blike": "7B-like, mLSTM K 256 V 512, attention 32 × 128"}
_OURS_CFG = {"H8 d128": _CFG["small"], "7B-like": _CFG["7Blike"]}


def _label(impl: str, table: dict) -> str | None:
    return next((lab for key, lab in table.items() if key in impl), None)


def _our_rows(ours: pd.DataFrame | None, section: str) -> list[dict]:
    """Timed rows of our own kernels in one section of a benchmark results table (errors and skips left out)."""
    if ours is None or not len(ours) or not {"section", "impl", "B"} <= set(ours.columns):
        return []
    sel = ours[(ours["section"] == section) & ours["impl"].astype(str).str.startswith("ours") & ours["B"].notna()]
    return sel.to_dict("records")


def anchor_training(df: pd.DataFrame | None = None, ours: pd.DataFrame | None = None) -> pd.DataFrame:
    """Training-shape GPU times (H8, K = V = 128, bf16; CUDA-graph medians) in long form.

    Args:
        df: the ``gpu_h100`` anchors (loaded if None); run 3, the pass with graph times, untagged rows.
        ours: optional rows of our benchmark (``load_gpu_results(...)["rows"]``); its "train" rows are added.

    Returns:
        Columns impl, source ("H100 card" / "ours"), B, T, shape ("B×T"), tokens, pass ("fwd" / "fwd+bwd"), ms.
    """
    df = _gpu(df)
    a = df[(df["sec"] == "A") & (df["run"] == 3) & df["tag"].isna() & (df["dv"] == 128) & (df["dqk"] == 128)]
    rows = []
    for r in a.to_dict("records"):
        label = _label(r["impl"], _TRAIN_IMPLS)
        for p, col in (("fwd", "fwd_graph_ms"), ("fwd+bwd", "fb_graph_ms")):
            if label and pd.notna(r[col]):
                rows.append(dict(impl=label, source="H100 card", B=int(r["B"]), T=int(r["T"]), **{"pass": p},
                                 ms=float(r[col])))
    for r in _our_rows(ours, "train"):
        if r.get("V") == 128:
            for p, col in (("fwd", "fwd_graph_ms"), ("fwd+bwd", "fb_graph_ms")):
                if pd.notna(r.get(col)):
                    rows.append(dict(impl=f"{r['impl']} [this project]", source="ours", B=int(r["B"]), T=int(r["T"]),
                                     **{"pass": p}, ms=float(r[col])))
    out = pd.DataFrame(rows, columns=["impl", "source", "B", "T", "pass", "ms"])
    out["tokens"] = out["B"] * out["T"]
    out["shape"] = out["B"].astype(str) + "×" + out["T"].astype(str)
    return out.sort_values(["tokens", "B", "impl", "pass"], ignore_index=True)


def anchor_decode(df: pd.DataFrame | None = None, ours: pd.DataFrame | None = None) -> pd.DataFrame:
    """Decode-step GPU times (µs per token, CUDA graph over HBM-resident buffers) in long form.

    The mLSTM step does not depend on T (card: T = "any"); its time is repeated at every T measured for
    attention, so it draws as a flat line.

    Returns:
        Columns config, B, T, impl, source, us.
    """
    df = _gpu(df)
    b = df[(df["sec"] == "B") & (df["run"] == 2) & df["tag"].isna()]
    rows = [dict(config=_CFG[r["cfg"]], B=int(r["B"]), T=r["T"], impl=_label(r["impl"], _DECODE_IMPLS),
                 source="H100 card", us=1e3 * float(r["graph_ms"]))
            for r in b.to_dict("records") if _label(r["impl"], _DECODE_IMPLS)]
    for r in _our_rows(ours, "decode"):
        if pd.notna(r.get("graph_us")) and r.get("config") in _OURS_CFG:
            rows.append(dict(config=_OURS_CFG[r["config"]], B=int(r["B"]), T=r["T"],
                             impl=f"{r['impl']} [this project]", source="ours", us=float(r["graph_us"])))
    out = pd.DataFrame(rows, columns=["config", "B", "T", "impl", "source", "us"])
    lengths = sorted({int(t) for t in out["T"] if str(t) != "any"})
    flat = out[out["T"].astype(str) == "any"]
    expanded = [flat.assign(T=t) for t in lengths]
    out = pd.concat([out[out["T"].astype(str) != "any"], *expanded], ignore_index=True)
    out["T"] = out["T"].astype(int)
    return out.sort_values(["config", "B", "impl", "T"], ignore_index=True)


def _short(label: str) -> str:
    for long, short in (("SDPA ", ""), ("NX-AI ", ""), ("FlashAttention-2", "FA2")):
        label = label.replace(long, short)
    return label.split(" (")[0].replace("fla simple_gla", "fla")


def speed_ratios(train: pd.DataFrame, base: str = _TRAIN_IMPLS["xl_chunk"]) -> pd.DataFrame:
    """Other implementation's time ÷ ``base``'s time per shape and pass (> 1: ``base`` is faster).

    Columns are named "<short impl> <pass>", e.g. "cuDNN fwd+bwd" (cuDNN's time ÷ base's time).

    Args:
        train: :func:`anchor_training` rows.
        base: the implementation label everything is divided by.

    Returns:
        Wide table: tokens, shape, then one ratio column per other implementation and pass.
    """
    wide = train.pivot_table(index=["tokens", "B", "shape"], columns=["impl", "pass"], values="ms")
    out = pd.DataFrame(index=wide.index)
    for impl, p in wide.columns:
        if impl != base and (base, p) in wide.columns:
            out[f"{_short(impl)} {p}"] = wide[(impl, p)] / wide[(base, p)]
    return out.dropna(axis=1, how="all").reset_index().drop(columns=["B"])


# ------------------------------------------------------------------------------------- our GPU benchmark files
def find_gpu_results(results_dir: str | Path = RESULTS_DIR) -> Path | None:
    """The newest ``mlstm_gpu_*.json`` of ``benchmarks/bench_mlstm_gpu.py`` in ``results_dir`` (None if none).

    Only that script's naming is matched: other results (e.g. ``bench_mlstm_cpu.json``) live in the same folder.
    """
    d = Path(results_dir)
    files = sorted(d.glob("mlstm_gpu_*.json")) if d.is_dir() else []
    # names are mlstm_gpu_<date>_<device>.json: sorting by (mtime, name) picks the latest run
    return max(files, key=lambda p: (p.stat().st_mtime, p.name)) if files else None


def load_gpu_results(path: str | Path) -> dict:
    """Read one benchmark results JSON ({"meta": {...}, "rows": [...]}).

    Returns:
        {"path": Path, "meta": dict, "rows": DataFrame}.

    Raises:
        ValueError: the file is not a results file of ``bench_mlstm_gpu.py`` (names the missing keys).
    """
    path = Path(path)
    data = json.loads(path.read_text())
    missing = {"meta", "rows"} - set(data) if isinstance(data, dict) else {"meta", "rows"}
    if missing or not isinstance(data["rows"], list):
        raise ValueError(f"{path} is not a bench_mlstm_gpu.py results file (missing {sorted(missing)} or rows not a "
                         "list); write it with `python benchmarks/bench_mlstm_gpu.py`")
    return {"path": path, "meta": dict(data["meta"]), "rows": pd.DataFrame(data["rows"])}


def gpu_results_note(results: dict | None) -> str:
    """One Markdown sentence saying whether our GPU timings are shown, and from which file and device."""
    if results is None:
        return ("Our own GPU benchmark (`benchmarks/bench_mlstm_gpu.py`) was not run for this build: the machine "
                "that built it has no GPU, and no results file (`benchmarks/results/*mlstm*.json`) was found. "
                "The charts show the targets only.")
    meta = results["meta"]
    return (f"Our Triton kernels' timings come from `{results['path'].name}` (device {meta.get('device', '?')}, "
            f"{meta.get('date_utc', '?')}, commit `{str(meta.get('commit', '?'))[:10]}`), drawn beside the targets "
            "with \"[this project]\" in their names.")
