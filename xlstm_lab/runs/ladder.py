"""Model shapes for sweeps: a one-dimensional ladder of small byte-vocabulary shapes and ``--sizes auto``.

``--sizes auto`` centres each budget's sizes on the compute-optimal N expected from the issue's measured
calibration (a prototype on a 2-core CPU: byte tokens, Shakespeare + KJV, ctx 256, d 16-64, 2 layers), which
found IsoFLOP optima at

    C = 3e11 FLOPs: N ~ 16k-20k;   C = 1e12: N ~ 28k-37k;   C = 3e12: N ~ 43k-92k.

A least-squares line through the geometric middles of those ranges in log-log space gives the power law

    N_opt(C) = 0.009692 * C ** 0.5451        (17.5k, 33.7k and 61.4k at the three budgets)

(N = all parameters, embeddings included, as ``accounting.count_params`` counts them). Chinchilla's
sqrt(C / 120) would put the optimum at 50k-160k there, far too big. Outside 3e11-3e12 the law is an extrapolation:
good enough to centre a ladder, which then spans a factor 2 per step around it; the fitted parabolas say where
the optimum really is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xlstm_lab.accounting.params import count_params
from xlstm_lab.models.config import FAMILIES, ModelConfig, UnknownFamilyError, default_d_ff
from xlstm_lab.models.shapes import BYTE_VOCAB_SIZE

__all__ = ["CALIBRATION", "N_OPT_COEF", "N_OPT_EXPONENT", "n_opt", "ladder_shapes", "shape_near", "pick_sizes",
           "shape_label"]

CALIBRATION: tuple[tuple[float, float, float], ...] = ((3e11, 16e3, 20e3), (1e12, 28e3, 37e3), (3e12, 43e3, 92e3))
"""(budget C in FLOPs, lowest and highest N of the measured IsoFLOP optimum range) at ctx 256, byte vocabulary."""
N_OPT_COEF = 0.009692
N_OPT_EXPONENT = 0.5451
"""N_opt(C) = N_OPT_COEF * C ** N_OPT_EXPONENT: the log-log least-squares line through :data:`CALIBRATION`."""

# (d_model, n_layers): depth grows with width and never falls. One layer below d = 16 (tiny shapes, so that a
# budget of 1e10 FLOPs still finds five sizes), two layers for d = 16-128 (the calibration's shapes), then
# d / 64 layers as in the named lab shapes (models.shapes) and the paper's 160M (768 x 12).
_DIMS: tuple[tuple[int, int], ...] = (
    (6, 1), (8, 1), (10, 1), (12, 1), (14, 1), (16, 2), (20, 2), (24, 2), (32, 2), (40, 2), (48, 2), (64, 2),
    (80, 2), (96, 2), (128, 2), (160, 3), (192, 3), (224, 3), (256, 4), (288, 4), (320, 5), (384, 6), (448, 7),
    (512, 8), (576, 9), (640, 10), (768, 12), (896, 14), (1024, 16),
)


def n_opt(budget_flops: float) -> float:
    """Expected compute-optimal N (all parameters) at a training budget in FLOPs (see the module docstring)."""
    return N_OPT_COEF * float(budget_flops) ** N_OPT_EXPONENT


def _heads(family: str, d: int) -> int:
    """xLSTM: 1 head below d = 16, 2 up to d = 64, then 4 (the lab shapes); Llama: head dim 16 / 32 / 64 by width
    (one head below d = 32)."""
    if family == "xlstm":
        return 1 if d < 16 else (2 if d <= 64 else 4)
    head_dim = 16 if d < 128 else (32 if d < 256 else 64)
    return max(1, d // head_dim)


def shape_label(config: ModelConfig) -> str:
    """A short name of a shape, e.g. ``xlstm-d32-l2-h2``."""
    return f"{config.family}-d{config.d_model}-l{config.n_layers}-h{config.n_heads}"


def ladder_shapes(family: str, context_length: int, vocab_size: int = BYTE_VOCAB_SIZE) -> list[ModelConfig]:
    """The ladder of one family at one context, smallest N first.

    Every shape is a valid ModelConfig: d divisible by the heads, the xLSTM's query/key width d/2 divisible by
    the heads, an even Llama head dim; d_ff = the paper's 2.667 d rounded up to a multiple of 16 (as the named
    lab shapes; the paper's multiple of 64 would inflate tiny feed-forward layers).

    Raises:
        UnknownFamilyError: ``family`` is not "xlstm" or "llama".
    """
    if family not in FAMILIES:
        raise UnknownFamilyError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    shapes = [ModelConfig(family, vocab_size, d, layers, _heads(family, d), default_d_ff(family, d, multiple_of=16),
                          context_length) for d, layers in _DIMS]
    return sorted(shapes, key=count_params)


def shape_near(family: str, n_params: float, context_length: int) -> ModelConfig:
    """The ladder shape whose N is nearest (in log N) to ``n_params``."""
    if not (n_params > 0 and math.isfinite(n_params)):
        raise ValueError(f"a size must be a positive number of parameters, got {n_params!r}")
    return min(ladder_shapes(family, context_length), key=lambda c: abs(math.log(count_params(c) / n_params)))


def pick_sizes(candidates: Sequence[ModelConfig], target_n: float, n: int = 5, step: float = 2.0) -> list[ModelConfig]:
    """Pick ``n`` distinct shapes from ``candidates`` around ``target_n``, smallest first.

    The wanted sizes are ``target_n * step ** j`` for j = -(n-1)/2 ... (n-1)/2; each takes the nearest candidate
    (in log N) above the one picked before. When the target sits near an end of the candidates (the smallest
    shapes at 1e10 FLOPs), the picks slide inwards so that ``n`` shapes are still returned; fewer only when
    there are fewer candidates.

    Args:
        candidates: shapes that can be planned at the budget (any order).
        target_n: the expected optimum N.
        n: number of shapes wanted (>= 1).
        step: ratio of neighbouring wanted sizes (> 1).
    """
    if n < 1 or not step > 1.0:
        raise ValueError(f"pick_sizes needs n >= 1 and step > 1, got n={n}, step={step}")
    pool = sorted(candidates, key=count_params)
    logs = [math.log(count_params(c)) for c in pool]
    if len(pool) <= n:
        return pool
    chosen: list[int] = []
    for j in range(n):
        want = math.log(target_n) + (j - (n - 1) / 2) * math.log(step)
        lo = chosen[-1] + 1 if chosen else 0
        hi = len(pool) - (n - j)  # leave room for the picks still to come
        chosen.append(min(range(lo, hi + 1), key=lambda i: abs(logs[i] - want)))
    return [pool[i] for i in chosen]
