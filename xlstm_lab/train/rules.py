"""Learning-rate and batch-size rules per model size, and the measurements behind them (torch-free).

Two measured regimes anchor the rules; between them they interpolate log-linearly in the width d_model.

*Lab scale (d <= 64; CPU budgets 3e11-1e12 FLOPs, byte tokens, Shakespeare + KJV, ctx 256).* Measured with this
trainer by ``benchmarks/calibrate_lr.py`` (results and data card in ``benchmarks/results/``, files
``calibrate_lr_20261125*.{json,csv}``): one shape per budget (d 32 at 3e11, d 48 at 1e12; 2 layers), both
families, peak lr 3e-3 to 4e-2 x batches of 2-32 sequences of 256 tokens, one seed, everything else at the
defaults. With 1024 tokens a step, peak lr 1e-2 was the best lr or within the 0.02-nat seed noise of it in all
four (family, budget) cells. Small batches won: at 3e11 and lr 1e-2, a 2048-token batch was 0.054 (xLSTM) and
0.083 (Llama) nats worse than the best cell of the grid, a 1024-token batch within 0.018 of it in every cell;
512 tokens was at most 0.018 better than 1024 (inside the noise) for twice the steps, which cost more wall time on
a CPU (per-step overhead dominates tiny models). Hence lr 1e-2 and 1024 tokens a step
(``tests/train/test_train_rules_data.py`` checks the rule's cell against the committed results). The best batch
grows with the budget (at 1e12, 2048 tokens is 0.022 and 0.003 nats from the best): re-run the script before
trusting the rule far above 1e12.

*Paper scale (d >= 512; ``anchors`` runs.csv, the xLSTM scaling-law runs).* Peak lr by width: Llama 3e-3 up
to d 1024, 1e-3 for d 1152-1792, 8e-4 from d 2048; xLSTM 3e-3 up to d 1024, 2e-3 for d 1152-2048, 1e-3 at
d 2304, 8e-4 from d 2560. Global batches of 2^20 tokens (Llama: 512 x 2048, 128 x 8192, 64 x 16384; xLSTM:
64 x 16384, and 2^21 tokens = 256 x 8192 at ctx 8192).

*Between (64 < d < 512)* nothing was measured: lr falls as d^-0.58 from 1e-2 to 3e-3 (the two anchors joined
log-linearly, close to the 1/d of muP-style width scaling), and tokens per step grow from 1024 at d <= 128
(the whole CPU ladder) to 2^20 at d 512 as d^5. Treat these as starting points for a sweep, not optima.
"""

from __future__ import annotations

import math

from xlstm_lab.models.config import ModelConfig

__all__ = ["LAB_LR", "LAB_TOKENS_PER_STEP", "PAPER_TOKENS_PER_STEP", "default_lr", "tokens_per_step",
           "default_batch_size"]

LAB_LR = 1e-2
"""Peak lr at d <= 64 (measured: ``benchmarks/results/calibrate_lr_20261125*``, both families)."""
LAB_TOKENS_PER_STEP = 1024
"""Tokens per optimizer step up to d = 128 (measured: within the seed noise of the best batch at 3e11 and 1e12)."""
PAPER_TOKENS_PER_STEP = 2**20
"""Tokens per optimizer step from d = 512 (the paper's runs)."""

# (smallest d_model of the band, peak lr) from the paper's runs.csv, per family; widths >= 512
_PAPER_LR = {
    "llama": ((512, 3e-3), (1152, 1e-3), (2048, 8e-4)),
    "xlstm": ((512, 3e-3), (1152, 2e-3), (2304, 1e-3), (2560, 8e-4)),
}
_LAB_D, _PAPER_D, _LAB_BATCH_D = 64, 512, 128


def _loglinear(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))


def default_lr(config: ModelConfig) -> float:
    """Peak AdamW learning rate for a model (see the module docstring for the measurements).

    Args:
        config: the model (family and d_model decide).

    Returns:
        1e-2 for d_model <= 64; the paper's lr for d_model >= 512 (by family and width band); log-linear in
        d_model in between (3e-3 at 512), rounded to 3 significant digits.
    """
    d = config.d_model
    if d <= _LAB_D:
        return LAB_LR
    if d < _PAPER_D:
        return float(f"{_loglinear(d, _LAB_D, LAB_LR, _PAPER_D, _PAPER_LR[config.family][0][1]):.3g}")
    lr = _PAPER_LR[config.family][0][1]
    for start, band_lr in _PAPER_LR[config.family]:
        if d >= start:
            lr = band_lr
    return lr


def tokens_per_step(config: ModelConfig) -> float:
    """Target tokens per optimizer step: 1024 up to d 128, 2^20 from d 512, log-linear in d between."""
    d = config.d_model
    if d <= _LAB_BATCH_D:
        return float(LAB_TOKENS_PER_STEP)
    if d >= _PAPER_D:
        return float(PAPER_TOKENS_PER_STEP)
    return _loglinear(d, _LAB_BATCH_D, LAB_TOKENS_PER_STEP, _PAPER_D, PAPER_TOKENS_PER_STEP)


def default_batch_size(config: ModelConfig) -> int:
    """Sequences per optimizer step: :func:`tokens_per_step` / context_length, rounded to a power of two, >= 1.

    A power of two splits evenly over 2, 4, 8 ... data-parallel ranks. At ctx 256 and d <= 128 this is 4
    sequences (1024 tokens); at ctx 2048 and d >= 512, 512 sequences (2^20 tokens).
    """
    rows = tokens_per_step(config) / config.context_length
    if rows <= 1:
        return 1
    return 2 ** round(math.log2(rows))
