"""Shared test settings: deterministic seeds and a small thread count so the suite is repeatable."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
