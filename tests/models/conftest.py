"""Model tests run on one intra-op thread: tiny tensors gain nothing from more, and on a busy machine
OpenMP barriers on every small op make multi-threaded runs many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
