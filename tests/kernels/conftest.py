"""Fixtures of the scan tests: NaN-poisoned ``torch.empty``, small windows and both loops of the chunked backend."""

from __future__ import annotations

import pytest
import torch

from kernels.scan import torch_chunked


@pytest.fixture
def poison_empty(monkeypatch):
    """``torch.empty`` / ``empty_like`` return NaN-filled tensors, so an output element never written fails loudly."""
    empty, empty_like = torch.empty, torch.empty_like

    def poisoned(make):
        def wrapper(*args, **kwargs):
            x = make(*args, **kwargs)
            return x.fill_(float("nan")) if x.is_floating_point() or x.is_complex() else x

        return wrapper

    monkeypatch.setattr(torch, "empty", poisoned(empty))
    monkeypatch.setattr(torch, "empty_like", poisoned(empty_like))


@pytest.fixture
def window_steps(monkeypatch):
    """``window_steps(b, d, n, W)`` makes the chunked backend use windows of about ``W`` steps at that size."""

    def set_window(b: int, d: int, n: int, W: int) -> None:
        monkeypatch.setattr(torch_chunked, "WINDOW_VOLUME", b * d * n * W)

    return set_window


@pytest.fixture(params=["chunks", "steps"])
def scan_loop(request, monkeypatch):
    """Runs the test with the chunked sweeps, then with the step loop the backend takes for many lanes (T = 1)."""
    if request.param == "steps":
        monkeypatch.setattr(torch_chunked, "STEP_LOOP_LANES", 1)
    return request.param
