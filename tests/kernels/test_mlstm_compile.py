"""Every Triton kernel variant the launchers can launch compiles for an H100 (sm_90) with the real compiler."""

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path


def test_every_kernel_variant_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("aot_compile_mlstm.py")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ": ok " in ln]
    n = int(re.search(r"^(\d+) variants$", out.stdout, re.M).group(1))
    assert len(lines) == n and n >= 50, out.stdout
    assert all("cubin=True" in ln and "UPCAST=False" in ln for ln in lines if "UPCAST" in ln)  # the real bf16 path
    for split, exact, dlast in itertools.product((True, False), repeat=3):
        # the detached mode and the backward without a last-state gradient have their own variants
        want = f"_dstates_kernel[UPCAST=False,SPLIT={split},EXACT={exact},HAS_DLAST={dlast}](x=bf16,gates=bf16)"
        assert any(ln.startswith(want + ":") for ln in lines), want
    for flag in ("HAS_INIT=True", "HAS_INIT=False", "HAS_EXTRA=True", "HAS_EXTRA=False"):
        assert any(flag in ln for ln in lines), flag
    for dt in ("bf16", "fp16", "fp32"):
        assert any(ln.startswith("_step_kernel") and f"x={dt}" in ln for ln in lines), dt
        assert any(ln.startswith("_grads_kernel") and f"x={dt}" in ln for ln in lines), dt
    assert any(ln.startswith("_grads_kernel") and "x=bf16,gates=fp32" in ln for ln in lines)
