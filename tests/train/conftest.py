"""One intra-op thread for the trainer tests: the models are tiny (overhead-bound, as fast on one thread), and
two threads fighting other processes for two cores were measured to slow a 30-step run from 0.5 s to 7-12 s."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
