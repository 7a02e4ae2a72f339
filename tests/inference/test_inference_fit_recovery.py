"""The runtime model fitted to the harness's work counts recovers alpha, beta, eps and eps_b from simulated timings.

The timings are simulated with known constants from the same FLOP and byte counts the harness writes for a grid of
lab shapes, so a noiseless fit must return the constants to 1e-6 relative; with 3 % log-normal noise, to a few per
cent. This is the fit the chapter's lab half applies to live CPU measurements.
"""

import numpy as np
import pandas as pd
import pytest

from xlstm_lab.accounting import prefill_flops
from xlstm_lab.chapters.inference_measured import fit_measured
from xlstm_lab.inference import mean_step_bytes, model_config

ALPHA, BETA, EPS, EPS_B = 3.0e10, 2.0e10, 4.0e-4, 3.0e-5  # FLOP/s, B/s, s, s per sequence
PROMPTS, BATCHES, STEPS = (32, 128, 512, 2048), (1, 4, 8), 8


def _simulated(family, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for size in ("tiny", "mini", "small"):
        cfg = model_config(family, size, context_length=4096)
        for t in PROMPTS:
            for b in BATCHES:
                f = prefill_flops(cfg, t, b)
                by = mean_step_bytes(cfg, t, STEPS, b, 4)
                rows.append({"family": family, "size": size, "prompt_tokens": t, "batch": b, "flops_prefill": f,
                             "bytes_step": by,
                             "ttft_s": (f / ALPHA + EPS) * np.exp(noise * rng.standard_normal()),
                             "step_s": (by / BETA + EPS + b * EPS_B) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_noiseless_recovery_to_1e6(family):
    df = _simulated(family)
    ttft = fit_measured(df, "ttft", family)
    stp = fit_measured(df, "step", family)
    assert ttft.status == "ok" and stp.status == "ok"
    for got, want in ((ttft.alpha_eff, ALPHA), (ttft.eps, EPS), (stp.beta_eff, BETA), (stp.eps, EPS),
                      (stp.eps_b, EPS_B)):
        assert abs(got / want - 1) < 1e-6, (got, want)


def test_noisy_recovery_within_a_few_percent():
    df = _simulated("llama", noise=0.03, seed=1)
    ttft = fit_measured(df, "ttft", "llama")
    stp = fit_measured(df, "step", "llama")
    assert abs(ttft.alpha_eff / ALPHA - 1) < 0.05
    assert abs(stp.beta_eff / BETA - 1) < 0.10


def test_fit_refuses_a_family_without_rows():
    df = _simulated("llama")
    with pytest.raises(ValueError, match="no measured rows for family 'xlstm'"):
        fit_measured(df, "ttft", "xlstm")
