"""The scan contract's argument errors and the backend dispatch.

Every documented ``ValueError`` is checked by its message: the argument's name and the expected shape or
choices. ``backend="auto"`` picks the chunked torch backend on CPU, and a backend that cannot run raises
instead of falling back.
"""

from __future__ import annotations

import pytest
import torch

import kernels.scan
from kernels import selective_scan
from kernels.bench import ScanCase
from kernels.scan import torch_chunked

CASE = ScanCase(2, 5, 6, 3, h=3, B="both", C="selective")


def good() -> dict:
    return CASE.inputs(torch.float32)


def with_(**changes) -> dict:
    return good() | changes


BAD = [
    pytest.param(with_(B=torch.randn(2, 5, 4, 3, dtype=torch.complex64)), ["'B'", "d % h == 0", "(b, L, h, n)"],
                 id="d-not-divisible-by-h"),
    pytest.param(with_(u=torch.randn(2, 5)), ["'u'", "(b, L, d)"], id="u-rank"),
    pytest.param(with_(B=torch.randn(2, 5, 3, dtype=torch.complex64)), ["'B'", "rank 4", "(b, L, h, n)"],
                 id="B-rank"),
    pytest.param(with_(C=torch.randn(2, 5, 3, 4)), ["'C'", "(b, L, h, n) = (2, 5, 3, 3)"], id="C-shape"),
    pytest.param(with_(A=torch.randn(6)), ["'A'", "(d, n)"], id="A-rank"),
    pytest.param(with_(dt=torch.randn(2, 5)), ["'dt'", "(b, L, d)", "(d,)"], id="dt-rank"),
    pytest.param(with_(B_bias=torch.randn(6, 4, dtype=torch.complex64)), ["'B_bias'", "(d, n) = (6, 3)"],
                 id="B_bias-shape"),
    pytest.param(with_(D=torch.randn(5)), ["'D'", "(d,) = (6,)"], id="D-shape"),
    pytest.param(with_(z=torch.randn(2, 5, 7)), ["'z'", "(b, L, d) = (2, 5, 6)"], id="z-shape"),
    pytest.param(with_(initial_state=torch.randn(2, 6, 3)), ["'initial_state'", "complex"], id="real-state-complex-A"),
    pytest.param(with_(initial_state=torch.randn(2, 6, 4, dtype=torch.complex64)),
                 ["'initial_state'", "(b, d, n) = (2, 6, 3)"], id="initial_state-shape"),
    pytest.param(with_(A=torch.randn(6, 3)), ["'B'", "complex", "A is real"], id="complex-B-real-A"),
    pytest.param(with_(D=torch.randn(6, dtype=torch.float64)), ["'D'", "float64", "torch.float32"], id="dtype"),
    pytest.param(with_(D=torch.randn(6, device="meta")), ["'D'", "meta", "device of u"], id="device"),
    pytest.param(with_(B=None, B_bias=None), ["B (b, L, h, n)", "B_bias (d, n)", "both are None"], id="no-B"),
    pytest.param(with_(C=None, C_bias=None), ["C (b, L, h, n)", "C_bias (d, n)", "both are None"], id="no-C"),
    pytest.param(with_(discretization="bilinear"), ["discretization='bilinear'", "euler", "zoh"], id="discretization"),
    pytest.param(good() | {"backend": "cuda"}, ["backend='cuda'", "reference", "torch", "triton"], id="backend"),
]  # fmt: skip


@pytest.mark.parametrize(("inputs", "fragments"), BAD)
def test_bad_arguments_raise(inputs, fragments):
    with pytest.raises(ValueError) as error:
        selective_scan(**inputs)
    message = str(error.value)
    assert all(fragment in message for fragment in fragments), message


def test_valid_arguments_run():
    """The baseline of the error cases is itself valid, so each error above comes from its one change."""
    y, state = selective_scan(**good(), backend="torch")
    assert y.shape == (2, 5, 6) and state.shape == (2, 6, 3)


def test_auto_picks_torch_on_cpu(monkeypatch):
    calls = []
    scan = torch_chunked.scan_torch
    monkeypatch.setattr(torch_chunked, "scan_torch", lambda args: calls.append(args) or scan(args))
    assert kernels.scan.resolve_backend("auto", torch.device("cpu")) == "torch"
    selective_scan(**good(), backend="auto")
    assert len(calls) == 1


def test_backend_that_cannot_run_raises(monkeypatch):
    """A requested backend whose module cannot be imported raises; the scan is not run by another backend."""
    monkeypatch.setitem(kernels.scan._IMPLEMENTATIONS, "torch", "kernels.scan.no_such_module:scan")
    with pytest.raises(RuntimeError, match="backend 'torch' cannot run here"):
        selective_scan(**good(), backend="torch")
    with pytest.raises(RuntimeError, match="cannot run here"):
        selective_scan(**good(), backend="auto")  # auto on CPU means torch: no silent fall back to the reference


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_poisoned_empty_is_caught(backend, poison_empty):
    """The NaN-poisoning fixture is live (torch.empty returns NaN) and both backends write every output element."""
    assert torch.isnan(torch.empty(3)).all()
    y, state = selective_scan(**good(), backend=backend)
    assert torch.isfinite(y).all() and torch.isfinite(torch.view_as_real(state)).all()
