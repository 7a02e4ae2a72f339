"""Compile every Triton mLSTM kernel ahead of time for an H100 (sm_90), without a GPU.

Run as a script (``python tests/kernels/aot_compile_mlstm.py [bf16|fp16|fp32] [K] [V] [L]``) in a process
where TRITON_INTERPRET is unset: it catches what the CPU interpreter cannot (typing and layout errors of the
real compiler, ptxas failures) and prints registers and spill bytes per kernel when cuobjdump is available.
Exit status 0 only if every kernel compiled to a cubin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def main(dt: str = "bf16", K: int = 128, V: int = 128, L: int = 64) -> int:
    assert os.environ.get("TRITON_INTERPRET") != "1", "unset TRITON_INTERPRET to compile for a GPU"
    import torch
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from xlstm_lab.kernels.mlstm import chunkwise_triton as ct
    from xlstm_lab.kernels.mlstm import heuristics, step

    torch_dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dt]
    cfg = heuristics.chunk_config(K, V, L)
    mma = {"PREC": heuristics.dot_precision(torch_dt), "UPCAST": False, "SPLIT": heuristics.split_operands(torch_dt)}
    x, f32 = "*" + dt, "*fp32"
    ints = {"T": "i32", "K": "i32", "V": "i32", "NC": "i32"}
    sc = {"scale": "fp32", "eps": "fp32"}
    launch = lambda c: {k: v for k, v in c.items() if k in ("num_warps", "num_stages")}  # noqa: E731
    blocks = lambda c: {k: v for k, v in c.items() if k in ("BK", "BV")}  # noqa: E731
    states_sig = dict(Kp=x, Vp=x, I=x, Fg=x, C0=f32, N0=f32, M0=f32, Cs=f32, Ns=f32, Ms=f32, **ints)
    kernels = {
        "states": (ct._states_kernel, states_sig, dict(L=L, **mma, HAS_INIT=False, **blocks(cfg["states"])),
                   cfg["states"]),
        "states+init": (ct._states_kernel, states_sig, dict(L=L, **mma, HAS_INIT=True, **blocks(cfg["states"])),
                        cfg["states"]),
        "output": (ct._output_kernel, dict(Q=x, Kp=x, Vp=x, I=x, Fg=x, Cs=f32, Ns=f32, Ms=f32, Hout=x, NQ=f32, MT=f32,
                                           **ints, **sc), dict(L=L, **mma, **blocks(cfg["output"])), cfg["output"]),
        "dstates": (ct._dstates_kernel, dict(Q=x, I=x, Fg=x, Ms=f32, MT=f32, NQ=f32, Hout=x, dH=x, dCT=f32, dNT=f32,
                                             dCs=f32, dNs=f32, DN=f32, **ints, **sc),
                    dict(L=L, **mma, EXACT=True, HAS_DLAST=True, **blocks(cfg["dstates"])), cfg["dstates"]),
        "dstates-detached": (ct._dstates_kernel, dict(Q=x, I=x, Fg=x, Ms=f32, MT=f32, NQ=f32, Hout=x, dH=x, dCT=f32,
                                                      dNT=f32, dCs=f32, dNs=f32, DN=f32, **ints, **sc),
                             dict(L=L, **mma, EXACT=False, HAS_DLAST=False, **blocks(cfg["dstates"])), cfg["dstates"]),
        "grads": (ct._grads_kernel, dict(Q=x, Kp=x, Vp=x, I=x, Fg=x, Cs=f32, Ns=f32, Ms=f32, MT=f32, NQ=f32, dH=x,
                                         DN=f32, dCs=f32, dNs=f32, dQ=x, dK=x, dV=x, DI=x, DFr=f32, **ints, **sc),
                  dict(L=L, **mma, UPCAST_GATE=False, **blocks(cfg["grads"])), cfg["grads"]),
        "dgate": (ct._dgate_kernel, dict(DFr=f32, Fg=x, DF=x, Extra=f32, T="i32", NC="i32"),
                  dict(L=L, HAS_EXTRA=True, UPCAST=False), cfg["dgate"]),
        "step": (step._step_kernel, dict(Q=x, Kp=x, Vp=x, I=x, Fg=x, C=f32, N=f32, M=f32, Hout=x, Cn=f32, Nn=f32,
                                         Mn=f32, K="i32", V="i32", **sc),
                 {k: v for k, v in heuristics.step_config(K, V).items() if k in ("BK", "BV")},
                 heuristics.step_config(K, V)),
    }
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    target, ok = GPUTarget("cuda", 90, 32), True
    for name, (fn, sig, const, lc) in kernels.items():
        full = dict(sig, **{k: "constexpr" for k in const})
        try:
            kern = triton.compile(ASTSource(fn, full, const), target=target, options=launch(lc))
        except Exception as e:  # noqa: BLE001 - report every kernel, then fail
            print(f"{name}: FAILED {type(e).__name__}: {str(e)[:2000]}")
            ok = False
            continue
        usage = ""
        if "cubin" in kern.asm and os.path.exists(cuobjdump):
            with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
                fh.write(kern.asm["cubin"])
                fh.flush()
                out = subprocess.run([cuobjdump, "--dump-resource-usage", fh.name], capture_output=True, text=True)
                usage = " ".join(w for ln in out.stdout.splitlines() if "REG:" in ln for w in ln.split()[:2])
        print(f"{name}: ok cubin={'cubin' in kern.asm} shared={kern.metadata.shared} {usage}")
        ok &= "cubin" in kern.asm
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0] if args else "bf16", *(int(a) for a in args[1:4])))
