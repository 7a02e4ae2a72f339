"""``xlstm-lab bench inference`` writes one CSV row per grid point; bad input exits 2 with one line."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xlstm_lab.cli import main

REQUIRED = ["family", "size", "N", "prompt_tokens", "batch", "ttft_s", "step_s", "peak_bytes", "device"]
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_inference_gpu.py"


def test_cli_writes_the_csv(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    code = main(["bench", "inference", "--families", "xlstm,llama", "--sizes", "tiny", "--prompts", "8,32",
                 "--batch", "1,2", "--device", "cpu", "--repeats", "2", "--steps", "2", "--csv", str(out)])
    assert code == 0
    df = pd.read_csv(out)
    assert set(REQUIRED) <= set(df.columns)
    assert len(df) == 2 * 1 * 2 * 2
    assert set(zip(df.family, df.prompt_tokens, df.batch)) == {(f, p, b) for f in ("xlstm", "llama")
                                                               for p in (8, 32) for b in (1, 2)}
    assert (df.ttft_s > 0).all() and (df.step_s > 0).all()
    assert (df.ttft_min_s <= df.ttft_s).all() and (df.ttft_s <= df.ttft_max_s).all()
    assert (df.device == "cpu").all() and (df["size"] == "tiny").all()
    assert (df.state_bytes == df.state_bytes_predicted).all()
    assert (df.peak_bytes == df.weight_bytes + df.state_bytes).all()
    llama = df[df.family == "llama"].set_index(["prompt_tokens", "batch"])["state_bytes"]
    assert llama[32, 2] > llama[8, 2] > llama[8, 1]  # the cache grows with the context and the batch
    assert f"wrote 8 rows to {out}" in capsys.readouterr().out


@pytest.mark.parametrize("args,words", [
    (["--prompts", ""], "--prompts is empty"),
    (["--batch", ","], "--batch is empty"),
    (["--sizes", " "], "--sizes is empty"),
    (["--families", "gpt"], "unknown family 'gpt'"),
    (["--sizes", "huge"], "unknown size 'huge'"),
    (["--prompts", "600", "--context", "512"], "longer than the context of 512"),
    (["--prompts", "0"], "whole numbers >= 1"),
    (["--prompts", "1.5"], "whole numbers"),
    (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, words):
    code = main(["bench", "inference", "--sizes", "tiny", "--prompts", "8", "--batch", "1", *args,
                 "--csv", str(tmp_path / "x.csv"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "x.csv").exists()


def test_gpu_script_smoke_runs_on_cpu(tmp_path):
    run = subprocess.run([sys.executable, str(BENCH), "--smoke", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    csv = next(tmp_path.glob("inference_gpu_*_smoke.csv"))
    df = pd.read_csv(csv)
    assert len(df) == 8 and set(REQUIRED) <= set(df.columns)
    meta = __import__("json").loads(next(tmp_path.glob("inference_gpu_*_smoke.json")).read_text())
    assert meta["smoke"] is True and meta["roofline"]["peak_flops"] > 0 and meta["commit"]
    assert {"torch", "python", "device", "threads"} <= set(meta["provenance"])
