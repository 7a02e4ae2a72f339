"""Compile every Triton mLSTM kernel variant the launchers can launch, ahead of time for an H100 (sm_90).

Run as a script (``python tests/kernels/aot_compile_mlstm.py [--quick]``) in a process where TRITON_INTERPRET is
unset. It catches what the CPU interpreter cannot (typing and layout errors of the real compiler, ptxas
failures) on the real bf16 path (the interpreter replaces bf16 casts by an emulation), and prints registers and
spill bytes per variant when cuobjdump is available. Exit status 0 only if every variant compiled to a cubin.

The variants are not listed by hand: the launchers themselves (``mlstm_chunkwise_fwd``, ``mlstm_chunkwise_bwd``,
``mlstm_step_triton``) are driven on CPU tensors with their jit kernels replaced by recorders, through every
mode: initial state or not, last-state gradient or not, both gradient conventions, the hi/lo split on and off,
gates in the input dtype or fp32; bf16 at K = V = 128 in full, then fp16, fp32 and a ragged bf16 shape with the
default options. Each recorded launch is specialised as Triton's JIT would specialise it on a GPU (argument
types, constexprs, integer and pointer alignment) and compiled once per distinct specialisation. This uses two
internals of triton 3.7 (``create_function_from_signature``, ``JITFunction._pack_args``), pinned in pyproject.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile

TARGET = ("cuda", 90, 32)  # H100: compute capability 9.0, warp size 32


def _record(L, K, V, T, dtype, gate_dtype, splits, full):
    """Drive the launchers through their modes; returns the recorded launches (name, jit fn, args, kwargs)."""
    import torch

    from xlstm_lab.kernels.mlstm import chunkwise_triton as ct
    from xlstm_lab.kernels.mlstm import step

    launches = []

    class Recorder:
        def __init__(self, fn, name):
            self.fn, self.name = fn, name

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append((self.name, self.fn, args, kwargs))

    names = ["_states_kernel", "_output_kernel", "_dstates_kernel", "_grads_kernel", "_dgate_kernel"]
    saved = [(ct, n, getattr(ct, n)) for n in names] + [(step, "_step_kernel", step._step_kernel),
                                                         (step, "require_triton", step.require_triton)]
    for module, name, fn in saved[:-1]:
        setattr(module, name, Recorder(fn, name))
    step.require_triton = lambda q, what: None  # CPU tensors stand in for CUDA ones; nothing is launched
    try:
        BH, f32 = 2, torch.float32
        x = lambda *s, dt=dtype: torch.zeros(*s, dtype=dt)  # noqa: E731
        q, k, v = x(BH, T, K), x(BH, T, K), x(BH, T, V)
        i, f = x(BH, T, dt=gate_dtype), x(BH, T, dt=gate_dtype)
        h, nq, mt, dh = x(BH, T, V), x(BH, T, dt=f32), x(BH, T, dt=f32), x(BH, T, V)
        init = (x(BH, K, V, dt=f32), x(BH, K, dt=f32), x(BH, dt=f32))
        inits = [(None, None, None), init] if full else [(None, None, None)]
        dlasts = [(None, None), (x(BH, K, V, dt=f32), x(BH, K, dt=f32))] if full else [(None, None)]
        for split, state in itertools.product(splits, inits):
            ct.mlstm_chunkwise_fwd(q, k, v, i, f, *state, L, 1e-6, split)
            for exact, dlast in itertools.product((True, False), dlasts):
                ct.mlstm_chunkwise_bwd(q, k, v, i, f, *state, h, nq, mt, dh, *dlast, L, 1e-6, exact, split)
        from xlstm_lab.kernels.mlstm.state import MLSTMState

        step.mlstm_step_triton(q[:, 0].reshape(1, BH, K), k[:, 0].reshape(1, BH, K), v[:, 0].reshape(1, BH, V),
                               i[:, 0].reshape(1, BH), f[:, 0].reshape(1, BH),
                               MLSTMState(init[0][None], init[1][None], init[2][None]))
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)
    return launches


def _specialise(fn, args, kwargs, backend):
    """What the JIT would compile for this launch: (cache key, signature, constexprs, attrs, options)."""
    from triton.runtime.jit import create_function_from_signature

    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, options)
    key = (fn.__name__, str(specialization), str(options))
    return key, signature, constexprs, attrs, options


def _label(name, signature, constexprs):
    """e.g. ``_dstates_kernel[SPLIT=True,EXACT=False,HAS_DLAST=False](x=bf16,gates=fp32)``."""
    params = list(signature)
    flags = {params[path[0]]: value for path, value in constexprs.items()}
    shown = ("UPCAST", "SPLIT", "HAS_INIT", "EXACT", "HAS_DLAST", "HAS_EXTRA", "UPCAST_GATE")
    flag_txt = ",".join(f"{k}={flags[k]}" for k in shown if k in flags)
    data = next(t for t in signature.values() if t.startswith("*"))[1:]
    gates = signature.get("I", signature.get("Fg", "*-"))[1:]
    return f"{name}[{flag_txt}](x={data},gates={gates})"


def main(quick: bool = False) -> int:
    assert os.environ.get("TRITON_INTERPRET") != "1", "unset TRITON_INTERPRET to compile for a GPU"
    import torch
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend

    bf16, fp16, fp32 = torch.bfloat16, torch.float16, torch.float32
    #      (L,  K,   V,   T,   dtype, gate dtype, splits,        every mode)
    plans = [(64, 128, 128, 200, bf16, bf16, (None, False), True),
             (64, 128, 128, 200, bf16, fp32, (None, False), True),
             (64, 128, 128, 200, fp16, fp16, (None,), False),
             (64, 32, 48, 200, fp32, fp32, (None,), True),  # fp32 tiles compile slowly: keep them small
             (64, 40, 72, 37, bf16, bf16, (None,), False)]  # ragged: no alignment specialisation on K, V, T
    if quick:
        plans = plans[:1]
    target = GPUTarget(*TARGET)
    backend = make_backend(target)
    variants = {}
    for plan in plans:
        for name, fn, args, kwargs in _record(*plan):
            key, signature, constexprs, attrs, options = _specialise(fn, args, kwargs, backend)
            variants.setdefault(key, (name, fn, signature, constexprs, attrs, options))
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    ok = True
    for name, fn, signature, constexprs, attrs, options in variants.values():
        label = _label(name, signature, constexprs)
        try:
            kern = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=target,
                                  options=options.__dict__)
        except Exception as e:  # noqa: BLE001 - report every variant, then fail
            print(f"{label}: FAILED {type(e).__name__}: {str(e)[:2000]}")
            ok = False
            continue
        usage = ""
        if "cubin" in kern.asm and os.path.exists(cuobjdump):
            with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
                fh.write(kern.asm["cubin"])
                fh.flush()
                out = subprocess.run([cuobjdump, "--dump-resource-usage", fh.name], capture_output=True, text=True)
                usage = " ".join(w for ln in out.stdout.splitlines() if "REG:" in ln for w in ln.split()[:2])
        print(f"{label}: ok cubin={'cubin' in kern.asm} warps={options.num_warps} shared={kern.metadata.shared} "
              f"{usage}")
        ok &= "cubin" in kern.asm
    print(f"{len(variants)} variants")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv[1:]))
