"""The divergence rule and the downsampled loss curve."""

import math

import pytest

from xlstm_lab.train import DIVERGENCE_MARGIN, DIVERGENCE_WINDOW, LossMonitor
from xlstm_lab.train.monitor import downsample


def _feed(losses, total=100):
    monitor = LossMonitor(total)
    for i, loss in enumerate(losses):
        if monitor.append(loss):
            return i, monitor.reason
    return None, None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_diverges_at_once(bad):
    step, reason = _feed([5.5, 5.0, bad, 4.0])
    assert step == 2 and "step 2" in reason


def test_window_mean_far_above_the_start_diverges():
    assert DIVERGENCE_WINDOW == 10 and DIVERGENCE_MARGIN == 1.0
    # start 5.5, then 7.0 (1.5 nats above): the first full window, steps 0-9, has mean (5.5 + 9 x 7) / 10 = 6.85
    step, reason = _feed([5.5] + [7.0] * 20)
    assert step == 9 and "more than 1 above" in reason
    # just under the margin: (5.5 + 9 x 6.6) / 10 = 6.49 at step 9, then 6.6 from step 10 on
    step, _ = _feed([5.5] + [6.6] * 20)
    assert step == 10


def test_single_spike_is_tolerated():
    losses = [5.5, 5.0, 4.5, 12.0] + [4.0] * 30  # one bad batch in warm-up
    assert _feed(losses) == (None, None)


def test_short_run_is_checked_at_its_last_step():
    assert _feed([5.5, 9.0, 9.0], total=3)[0] == 2
    assert _feed([5.5, 9.0, 9.0], total=4) == (None, None)


def test_healthy_decreasing_run():
    assert _feed([5.5 - 0.03 * i for i in range(100)]) == (None, None)


def test_downsample():
    losses = [float(i) for i in range(10)]
    assert downsample(losses, max_points=20) == tuple((i, float(i)) for i in range(10))
    assert downsample(losses, max_points=4) == ((2, 1.0), (5, 4.0), (8, 7.0), (9, 9.0))  # windows of 3
    assert downsample(losses, first_step=5, max_points=5)[-1] == (14, 8.5)
    nan_curve = downsample([1.0, math.nan, 2.0, 3.0], max_points=2)
    assert math.isnan(nan_curve[0][1]) and nan_curve[1] == (3, 2.5)
