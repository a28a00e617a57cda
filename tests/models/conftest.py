"""One torch thread: the test machine is shared and oversubscribed threads spin-wait."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
