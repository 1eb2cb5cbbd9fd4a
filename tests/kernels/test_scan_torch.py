"""The chunked torch backend against the float64 reference loop, over awkward shapes and every contract switch.

Forward output, last state and the gradient of every tensor argument (driven by random upstream gradients of
y and of the last state) are compared norm-wise, with an absolute floor. Windows are made small so that
several windows, several chunks per window and a padded last chunk all occur, and the main comparisons run
again on the step loop taken for many lanes (``scan_loop``); outputs allocated with ``torch.empty`` are
poisoned with NaN.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from kernels import selective_scan
from kernels.bench import ScanCase, float64
from kernels.scan import torch_chunked

# norm-wise relative error allowed, per input dtype, for outputs and gradients (float32 against float64 truth)
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5}
FLOOR = 1e-12  # absolute floor of the norm in the relative error

BASE = ScanCase(2, 63, 12, 5, h=3, B="both", C="both", D=True, z=True, initial_state=True)
SHAPES = [
    pytest.param(BASE, id=BASE.name),
    pytest.param(dataclasses.replace(BASE, L=1), id="L1"),
    pytest.param(dataclasses.replace(BASE, b=1, L=20, d=7, n=3, h=1), id="b1-L20-d7-n3-h1-complex-bias"),
    pytest.param(dataclasses.replace(BASE, L=41, d=10, h=2), id="b2-L41-d10-n5-h2-complex-bias"),
    pytest.param(dataclasses.replace(BASE, L=33, d=6, n=4, h=6), id="b2-L33-d6-n4-h6-complex-bias"),
    pytest.param(dataclasses.replace(BASE, complex_A=False, complex_B=False), id="b2-L63-d12-n5-h3-real-bias"),
]


def _switch(**changes) -> pytest.param:
    case = dataclasses.replace(BASE, **changes)
    return pytest.param(case, id="-".join(f"{k}={v}" for k, v in changes.items()))


# every switch of the contract flipped from BASE (BASE itself has them the other way)
SWITCHES = [
    _switch(complex_A=False, complex_B=False),
    _switch(complex_A=False, complex_B=False, discretization="euler"),
    _switch(complex_B=False),
    _switch(complex_C=True),
    _switch(discretization="euler"),
    _switch(discretization="euler", complex_B=False),
    _switch(B="selective"),
    _switch(B="bias"),
    _switch(C="selective"),
    _switch(C="bias"),
    _switch(B="bias", C="bias", dt="invariant", complex_C=True),
    _switch(dt="invariant"),
    _switch(D=False),
    _switch(z=False),
    _switch(dt_bias=False),
    _switch(dt_softplus=False),
    _switch(initial_state=False),
    _switch(return_last_state=False),
]


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """‖actual − expected‖ / max(‖expected‖, FLOOR), computed in float64."""
    expected = expected.detach().to(torch.complex128 if expected.is_complex() else torch.float64)
    diff = actual.detach().to(expected.dtype) - expected
    return (diff.norm() / expected.norm().clamp_min(FLOOR)).item()


def run_with_grads(inputs: dict, backend: str, upstream_y: torch.Tensor, upstream_state: torch.Tensor | None):
    """y, last state, and the gradients of every tensor argument (by name) under the given upstream gradients."""
    inputs = {k: v.detach().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    y, state = selective_scan(**inputs, backend=backend)
    names = [k for k, v in inputs.items() if isinstance(v, torch.Tensor)]
    outputs, upstream = [y], [upstream_y.to(y.dtype)]
    if state is not None:
        outputs.append(state)
        upstream.append(upstream_state.to(state.dtype))
    grads = torch.autograd.grad(outputs, [inputs[k] for k in names], upstream)
    return y, state, dict(zip(names, grads, strict=True))


def compare(case: ScanCase, dtype: torch.dtype, window_steps) -> dict[str, float]:
    """Errors of the torch backend (inputs in ``dtype``) against the float64 reference, per output and gradient."""
    window_steps(case.b, case.d, case.n, 20)  # windows of 20 steps, chunks of 4: L = 63 -> 20, 20, 20, 3 (padded)
    inputs = case.inputs(dtype)
    upstream_y = torch.randn(case.b, case.L, case.d, dtype=torch.float64)
    state_dtype = torch.complex128 if case.complex_A else torch.float64
    upstream_state = torch.randn(case.b, case.d, case.n, dtype=state_dtype)
    y, state, grads = run_with_grads(inputs, "torch", upstream_y, upstream_state)
    y_ref, state_ref, grads_ref = run_with_grads(float64(inputs), "reference", upstream_y, upstream_state)

    assert y.dtype == dtype and y.shape == (case.b, case.L, case.d)
    assert (state is None) == (not case.return_last_state)
    errors = {"y": rel_err(y, y_ref)}
    if state is not None:
        assert state.shape == (case.b, case.d, case.n) and state.is_complex() == case.complex_A
        errors["last_state"] = rel_err(state, state_ref)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        assert grad.shape == inputs[name].shape and grad.dtype == inputs[name].dtype, name
        errors[f"grad {name}"] = rel_err(grad, grads_ref[name])
    return errors


def assert_within(errors: dict[str, float], tolerance: float) -> None:
    bad = {k: f"{v:.2e}" for k, v in errors.items() if not v <= tolerance}
    assert not bad, f"relative errors above {tolerance:.0e}: {bad}"


@pytest.mark.parametrize("case", SHAPES + SWITCHES)
def test_matches_reference_float64(case, window_steps, scan_loop, poison_empty):
    assert_within(compare(case, torch.float64, window_steps), TOLERANCE[torch.float64])


@pytest.mark.parametrize("case", SHAPES[:2] + SWITCHES[:2])
def test_matches_reference_float32(case, window_steps, scan_loop, poison_empty):
    assert_within(compare(case, torch.float32, window_steps), TOLERANCE[torch.float32])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_compute_in_float32(dtype):
    """Half-precision inputs give a half-precision y equal to the float32 computation on the same rounded inputs."""
    case = dataclasses.replace(BASE, complex_A=False, complex_B=False)
    inputs = case.inputs(dtype)
    y, state = selective_scan(**inputs, backend="torch")
    as_float = {k: v.float() if isinstance(v, torch.Tensor) and not v.is_complex() else v for k, v in inputs.items()}
    y32, state32 = selective_scan(**as_float, backend="torch")
    assert y.dtype == dtype and state.dtype == torch.float32
    assert torch.equal(y, y32.to(dtype)) and torch.equal(state, state32)


def test_one_window_equals_many(window_steps, monkeypatch):
    """The window and chunk sizes, and the step loop instead of chunks, change the rounding only, not the result."""
    inputs = BASE.inputs(torch.float64)
    window_steps(BASE.b, BASE.d, BASE.n, 7)
    y_small, s_small = selective_scan(**inputs, backend="torch")
    window_steps(BASE.b, BASE.d, BASE.n, 10_000)
    y_one, s_one = selective_scan(**inputs, backend="torch")
    monkeypatch.setattr(torch_chunked, "STEP_LOOP_LANES", 1)
    y_steps, s_steps = selective_scan(**inputs, backend="torch")
    for y, s in ((y_small, s_small), (y_steps, s_steps)):
        assert rel_err(y, y_one) < 1e-12 and rel_err(s, s_one) < 1e-12


@pytest.mark.parametrize("complex_A", [True, False], ids=["complex", "real"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_steps_are_stable(complex_A, dtype, window_steps, scan_loop):
    """Δ·|Re A| up to ~10⁴ (Ā underflows to 0 within a step): finite and equal to the reference."""
    case = dataclasses.replace(BASE, complex_A=complex_A, complex_B=complex_A, L=50)
    window_steps(case.b, case.d, case.n, 16)
    inputs = case.inputs(dtype)
    inputs["dt"] = inputs["dt"] + torch.linspace(-5, 60, case.L, dtype=dtype)[None, :, None]  # Δ up to ~60
    A = inputs["A"]
    scale = torch.linspace(1, 64, case.n, dtype=dtype)  # S4D-Real's −(1 … n) range, and beyond
    inputs["A"] = torch.complex(A.real * scale, A.imag) if complex_A else A * scale
    upstream_y = torch.randn(case.b, case.L, case.d, dtype=torch.float64)
    upstream_state = float64({"s": torch.randn_like(inputs["initial_state"])})["s"]
    y, state, grads = run_with_grads(inputs, "torch", upstream_y, upstream_state)
    y_ref, state_ref, grads_ref = run_with_grads(float64(inputs), "reference", upstream_y, upstream_state)
    for name, x in {"y": y, "last_state": state, **grads}.items():
        assert torch.isfinite(torch.view_as_real(x) if x.is_complex() else x).all(), name
    errors = {"y": rel_err(y, y_ref), "last_state": rel_err(state, state_ref)}
    errors |= {f"grad {k}": rel_err(g, grads_ref[k]) for k, g in grads.items()}
    assert_within(errors, TOLERANCE[dtype])


@pytest.mark.parametrize("backend", ["reference", "torch"])
@pytest.mark.parametrize("complex_A", [True, False], ids=["complex", "real"])
def test_gradcheck(backend, complex_A, window_steps):
    """torch.autograd.gradcheck on a tiny float64 case with every tensor argument."""
    case = ScanCase(1, 7, 4, 2, h=2, complex_A=complex_A, complex_B=complex_A, B="both", C="both", z=True,
                    initial_state=True)  # fmt: skip
    window_steps(case.b, case.d, case.n, 4)  # two windows of two chunks
    inputs = case.inputs(torch.float64)
    names = [k for k, v in inputs.items() if isinstance(v, torch.Tensor)]

    def scan(*tensors):
        y, state = selective_scan(**(inputs | dict(zip(names, tensors, strict=True))), backend=backend)
        return y, state

    assert torch.autograd.gradcheck(scan, [inputs[k].detach().requires_grad_() for k in names])


def test_window_plan_bounds_the_volume():
    """A window's (b, W, d, n) volume stays within WINDOW_VOLUME (plus the rounding to whole chunks)."""
    for b, L, d, n in [(8, 1024, 128, 16), (1, 7, 3, 2), (64, 4096, 1024, 64), (2, 100_000, 16, 4)]:
        W, T = torch_chunked.plan(b, L, d, n)
        assert W % T == 0 and 1 <= T <= W
        assert b * (W - T + 1) * d * n <= max(torch_chunked.WINDOW_VOLUME, b * d * n)


@pytest.mark.parametrize("complex_A", [True, False], ids=["complex", "real"])
def test_small_steps_keep_float32_accuracy(complex_A):
    """Δ ~ 1e-4: zero-order hold's (exp(Δ·A) − 1)/A must not lose digits to cancellation in float32."""
    case = dataclasses.replace(BASE, complex_A=complex_A, complex_B=complex_A, dt_softplus=False, dt_bias=False)
    inputs = case.inputs(torch.float32)
    inputs["dt"] = torch.full_like(inputs["dt"], 1e-4)
    y, state = selective_scan(**inputs, backend="torch")
    y_ref, state_ref = selective_scan(**float64(inputs), backend="reference")
    assert_within({"y": rel_err(y, y_ref), "last_state": rel_err(state, state_ref)}, TOLERANCE[torch.float32])
