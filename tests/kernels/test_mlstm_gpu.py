"""The compiled kernels on a real GPU (not the interpreter) against float64: run only where CUDA is present.

The rest of tests/kernels runs Triton through the CPU interpreter, whose bf16 rounding is emulated; this test runs
the correctness section of ``benchmarks/bench_mlstm_gpu.py`` in a process without TRITON_INTERPRET, so the bf16
tensor-core path itself is checked: every gradient convention and dtype within the tolerances of
``mlstm_testlib.TOL``, the decode step, and the bf16 path without the hi/lo split within 3x of them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlstm_testlib import TOL

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_mlstm_gpu.py"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_kernels_match_the_float64_reference_on_the_gpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, str(BENCH), "--sections", "check", "--no-xl", "--out", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    rows = json.loads(next(tmp_path.glob("*.json")).read_text())["rows"]
    checks = [r for r in rows if r.get("section") == "check"]
    assert len(checks) >= 8 and all(r["passed"] for r in checks if "not gating" not in r["what"])
    bf16 = TOL[torch.bfloat16]
    for r in (r for r in checks if "not gating" in r["what"]):
        assert r["h"] < 3 * bf16["value"] and max(r[g] for g in ("dq", "dk", "dv", "di", "df")) < 3 * bf16["grad"]
