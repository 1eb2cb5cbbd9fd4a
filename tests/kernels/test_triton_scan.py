"""The Triton scan against the float64 reference, in Triton's CPU interpreter, over every switch of the contract.

Forward output, last state and the gradient of every tensor argument (random upstream gradients) at awkward
shapes: L not a multiple of the tile, d not a power of two, h ∈ {1, 2, d}, several chunks and a single chunk.
Output buffers are poisoned with NaN, so an element a kernel forgets to write fails the comparison.
"""

from __future__ import annotations

import os

import pytest
import torch

# Triton reads TRITON_INTERPRET when a kernel is decorated (``triton.jit`` at import of the kernel modules), so
# it must be set before those modules are imported; kernels.scan.autograd imports them lazily.
os.environ["TRITON_INTERPRET"] = "1"
triton = pytest.importorskip("triton", reason="triton is not installed: the Triton scan cannot run here")

from kernels import selective_scan  # noqa: E402
from kernels.scan import autograd  # noqa: E402
from kernels.scan.contract import check_scan_args  # noqa: E402
from kernels.scan.reference import scan_reference  # noqa: E402
from kernels.scan.triton_bwd import _next_step  # noqa: E402
from kernels.scan.triton_fwd import _softplus  # noqa: E402

tl = triton.language

# every output buffer starts NaN-filled (tests/kernels/conftest.py), so an unwritten element fails
pytestmark = pytest.mark.usefixtures("poison_empty")

# relative error (max |out − ref| / max |ref|) allowed per input dtype
TOLERANCE = {torch.float32: 2e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2}


@pytest.fixture(autouse=True)
def _interpreted_kernels():
    """Fail loudly if the kernel modules were imported (by an earlier test) before TRITON_INTERPRET was set."""
    from triton.runtime.interpreter import InterpretedFunction

    from kernels.scan import triton_bwd, triton_fwd, triton_lti

    kernels = (triton_fwd._fwd_kernel, triton_fwd._combine_kernel, triton_bwd._bwd_kernel,
               triton_lti._lti_fwd_kernel, triton_lti._lti_bwd_kernel)  # fmt: skip
    for kernel in kernels:
        assert isinstance(kernel, InterpretedFunction), "kernels were imported before TRITON_INTERPRET=1 was set"


def make_inputs(b, L, d, n, h, dtype, *, complex_a, zoh, b_sel=True, c_sel=True, b_bias=False, c_bias=False,
                bias_complex=False, sel_complex=False, D=True, z=True, dt_bias=True, softplus=True,
                invariant_dt=False, initial=True):  # fmt: skip
    """Random scan arguments (float64 masters; the test casts them), and the contract's keyword settings."""
    cplx = torch.complex128
    A = -(0.5 + torch.rand(d, n, dtype=torch.float64))
    if complex_a:
        A = torch.complex(A, 3 * torch.randn(d, n, dtype=torch.float64))
    sel_dtype = cplx if sel_complex else torch.float64
    bias_dtype = cplx if bias_complex else torch.float64
    dt_shape = (d,) if invariant_dt else (b, L, d)
    raw_dt = torch.randn(*dt_shape, dtype=torch.float64) * 0.5
    tensors = dict(
        u=torch.randn(b, L, d, dtype=torch.float64),
        dt=raw_dt if softplus else raw_dt.abs() * 0.3 + 0.05,
        A=A,
        B=torch.randn(b, L, h, n, dtype=sel_dtype) if b_sel else None,
        C=torch.randn(b, L, h, n, dtype=sel_dtype) if c_sel else None,
        B_bias=torch.randn(d, n, dtype=bias_dtype) if b_bias else None,
        C_bias=torch.randn(d, n, dtype=bias_dtype) if c_bias else None,
        D=torch.randn(d, dtype=torch.float64) if D else None,
        z=torch.randn(b, L, d, dtype=torch.float64) if z else None,
        dt_bias=0.1 * torch.randn(d, dtype=torch.float64) if dt_bias else None,
        initial_state=torch.randn(b, d, n, dtype=A.dtype) if initial else None,
    )
    options = dict(dt_softplus=softplus, discretization="zoh" if zoh else "euler")
    return tensors, options


def cast(x, dtype):
    """Inputs in ``dtype``; small per-channel parameters and the state stay float32 (complex64)."""
    if x.is_complex():
        return x.to(torch.complex128 if dtype == torch.float64 else torch.complex64)
    return x.to(dtype)


def time_major(x):
    """The same values in (b, d, L) memory, seen as (b, L, d): mamba_ssm's layout."""
    return x.transpose(1, 2).contiguous().transpose(1, 2) if x.dim() == 3 else x


def scan_args(leaves, options):
    """The validated ScanArgs of a dict of scan tensors (absent ones missing or None) and the keyword settings."""
    names = ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z", "dt_bias")
    return check_scan_args(*(leaves.get(k) for k in names), options["dt_softplus"], options["discretization"],
                           leaves.get("initial_state"))  # fmt: skip


def run(tensors, options, dtype, scan, layout=lambda x: x):
    """Forward, then backward with fixed random upstream gradients; returns (y, last, {name: grad})."""
    leaves = {k: layout(cast(v, dtype)).requires_grad_(True) for k, v in tensors.items() if v is not None}
    y, last = scan(scan_args(leaves, options))
    gen = torch.Generator().manual_seed(1)
    gy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    glast = torch.randn(last.shape, generator=gen, dtype=torch.complex128 if last.is_complex() else torch.float64)
    loss = (y.double() * gy).sum() + (last.to(glast.dtype) * glast.conj()).real.sum()
    loss.backward()
    return y, last, {k: v.grad for k, v in leaves.items()}


def rel_err(out, ref):
    return ((out.to(ref.dtype) - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()


def check_against_reference(tensors, options, dtype, scan, layout=lambda x: x):
    tol = TOLERANCE[dtype]
    # the reference sees the same rounded inputs as the kernel, in float64
    rounded = {k: None if v is None else cast(cast(v, dtype), torch.float64) for k, v in tensors.items()}
    y, last, grads = run(tensors, options, dtype, scan, layout)
    y_ref, last_ref, grads_ref = run(rounded, options, torch.float64, scan_reference)
    assert rel_err(y, y_ref) < tol, f"y: {rel_err(y, y_ref):.2e}"
    assert rel_err(last, last_ref) < tol, f"last_state: {rel_err(last, last_ref):.2e}"
    for name, ref in grads_ref.items():
        assert grads[name] is not None, f"no gradient for {name}"
        assert grads[name].dtype == cast(tensors[name], dtype).dtype, f"d{name} dtype {grads[name].dtype}"
        err = rel_err(grads[name], ref)
        assert err < tol, f"d{name}: relative error {err:.2e} over {tol:.0e}"


def tiled(tile, tiles_per_chunk, **overrides):
    """A scan function with an explicit tiling (tile steps, tiles per chunk, and other ``launch_config`` keywords:
    channels per backward program, states per unrolled group)."""

    def scan(args):
        b, L, d, n, h = args.sizes
        cfg = autograd.launch_config(b, L, d, n, h, args.u.device, tile=tile, tiles_per_chunk=tiles_per_chunk,
                                     **overrides)  # fmt: skip
        return autograd.scan_with_config(args, cfg)

    return scan


CASES = [
    pytest.param((2, 19, 6, 3, 1), dict(complex_a=False, zoh=False), id="b2-L19-d6-n3-h1-real-euler-all"),
    pytest.param(
        (1, 21, 6, 4, 2),
        dict(complex_a=False, zoh=True, D=False, z=False, dt_bias=False, softplus=False, initial=False),
        id="b1-L21-d6-n4-h2-real-zoh-bare",
    ),
    pytest.param(
        (2, 13, 6, 3, 6),
        dict(complex_a=True, zoh=False, b_bias=True, c_bias=True, bias_complex=True),
        id="b2-L13-d6-n3-h6-complex-euler-complexbias",
    ),
    pytest.param(
        (2, 17, 4, 3, 2),
        dict(complex_a=True, zoh=True, sel_complex=True, b_bias=True, z=False),
        id="b2-L17-d4-n3-h2-complex-zoh-complexBC-realbias",
    ),
    pytest.param(
        (2, 18, 6, 4, 1),
        dict(
            complex_a=True,
            zoh=True,
            b_sel=False,
            c_sel=False,
            b_bias=True,
            c_bias=True,
            bias_complex=True,
            invariant_dt=True,
            z=False,
            dt_bias=False,
        ),  # fmt: skip
        id="b2-L18-d6-n4-s4d-invariant-dt-bias-only",
    ),
    pytest.param(
        (1, 15, 6, 5, 3),
        dict(complex_a=False, zoh=False, b_bias=True, c_bias=True, invariant_dt=True, softplus=False),
        id="b1-L15-d6-n5-h3-real-invariant-dt-bias",
    ),
    pytest.param((1, 1, 3, 2, 1), dict(complex_a=True, zoh=True), id="b1-L1-d3-n2-complex-zoh"),
]


@pytest.mark.parametrize("sizes, switches", CASES)
def test_matches_reference_fp32(sizes, switches):
    tensors, options = make_inputs(*sizes, torch.float32, **switches)
    check_against_reference(tensors, options, torch.float32, tiled(8, 2))


@pytest.mark.parametrize(
    "tile, tiles_per_chunk, overrides",
    [
        pytest.param(8, 1, {}, id="T8-one-tile-chunks"),
        pytest.param(16, 8, dict(bwd_block_r=1), id="T16-single-chunk-bwd-R1"),
        pytest.param(8, 2, dict(unroll=2, bwd_unroll=4), id="T8-states-unrolled-2-fwd-4-bwd"),
        pytest.param(8, 2, dict(unroll=2, stages=2, bwd_stages=2), id="T8-unrolled-2-pipelined-2-stages"),
        pytest.param(8, 8, dict(bwd_tiles_per_chunk=2), id="T8-forward-one-chunk-backward-three"),
        pytest.param(8, 1, dict(bwd_tiles_per_chunk=8), id="T8-forward-five-chunks-backward-one"),
    ],
)
def test_tilings_agree(tile, tiles_per_chunk, overrides):
    tensors, options = make_inputs(2, 37, 4, 4, 2, torch.float32, complex_a=True, zoh=False, b_bias=True)
    check_against_reference(tensors, options, torch.float32, tiled(tile, tiles_per_chunk, **overrides))


@triton.jit
def _shift_kernel(p_x, p_y, R: tl.constexpr, T: tl.constexpr, V: tl.constexpr):
    o = tl.arange(0, R)[:, None] * T + tl.arange(0, T)[None, :]
    tl.store(p_y + o, _next_step(tl.load(p_x + o), V))


@pytest.mark.parametrize("run", [1, 2, 4, 8])
def test_next_step_is_the_tile_one_step_on(run):
    """The backward's Ā one step ahead comes from ``_next_step`` (splits, joins and one gather per run of steps):
    x[:, t + 1] at every t but the last, for each run length, on a tile of two rows and 32 steps."""
    x = torch.randn(2, 32)
    y = torch.full_like(x, float("nan"))
    _shift_kernel[(1,)](x, y, R=2, T=32, V=run)
    assert torch.equal(y[:, :-1], x[:, 1:])


@triton.jit
def _softplus_kernel(p_x, p_y, N: tl.constexpr):
    o = tl.arange(0, N)
    tl.store(p_y + o, _softplus(tl.load(p_x + o), False))


def test_softplus_is_accurate_in_relative_terms():
    """Δ = softplus(dt + dt_bias) in float32 against float64, from deep in the tail (tiny Δ, where an absolute
    error in log1p would show) through the identity above 20: as close as float32 rounding of x allows."""
    x = torch.cat([torch.linspace(-30.0, 25.0, 1023), torch.tensor([-7.0])])
    y = torch.empty_like(x)
    _softplus_kernel[(1,)](x, y, N=1024)
    exact = torch.nn.functional.softplus(x.double())
    assert ((y.double() - exact).abs() / exact).max() < 4e-6


@pytest.mark.parametrize("complex_a", [False, True], ids=["real", "complex"])
def test_full_tiles(complex_a):
    """L a multiple of the tile (4 full tiles in 2 chunks, no padded step), time-major, real and complex A: the
    kernels take their unmasked path (``EVEN``)."""
    tensors, options = make_inputs(2, 32, 4, 3, 2, torch.float32, complex_a=complex_a, zoh=True, b_bias=True)
    check_against_reference(tensors, options, torch.float32, tiled(8, 2), layout=time_major)


def test_time_major_inputs():
    """u, dt, z (b, L, d) as transposed views of (b, d, L) memory take the kernels' strided path."""
    tensors, options = make_inputs(2, 19, 4, 3, 1, torch.float32, complex_a=False, zoh=False)
    check_against_reference(tensors, options, torch.float32, tiled(8, 2), layout=time_major)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_low_precision_inputs(dtype, monkeypatch):
    """16-bit inputs; real B and C reach the kernels in their own dtype (converted as loaded), not float32 copies."""
    seen = []
    convert = autograd._time_major
    monkeypatch.setattr(autograd, "_time_major", lambda x: seen.append(convert(x)) or seen[-1])
    tensors, options = make_inputs(2, 19, 8, 3, 2, dtype, complex_a=dtype == torch.float16, zoh=True)
    check_against_reference(tensors, options, dtype, tiled(8, 2))
    assert {t.dtype for t in seen} == {dtype}


def test_public_entry_point_uses_triton():
    tensors, options = make_inputs(1, 9, 4, 2, 1, torch.float32, complex_a=False, zoh=False)
    t = {k: v.float() for k, v in tensors.items() if v is not None}
    y, last = selective_scan(t.pop("u"), t.pop("dt"), t.pop("A"), t.pop("B"), t.pop("C"), **t, **options,
                             return_last_state=True, backend="triton")  # fmt: skip
    tensors = {k: v.float() for k, v in tensors.items() if v is not None}
    y_ref, last_ref = selective_scan(
        tensors.pop("u"), tensors.pop("dt"), tensors.pop("A"), tensors.pop("B"), tensors.pop("C"), **tensors,
        **options, return_last_state=True, backend="reference",
    )  # fmt: skip
    assert rel_err(y, y_ref.double()) < 1e-5 and rel_err(last, last_ref.double()) < 1e-5


@pytest.mark.parametrize("used", ["y", "last_state"])
def test_gradient_through_one_output(used):
    """A loss on one output only: the other output's gradient reaches the backward as None (not materialised as
    zeros) and counts as zero; several chunks in both directions."""
    tensors, options = make_inputs(2, 37, 4, 3, 2, torch.float32, complex_a=True, zoh=True)

    def gradients(dtype, scan):
        leaves = {k: cast(v, dtype).requires_grad_(True) for k, v in tensors.items() if v is not None}
        y, last = scan(scan_args(leaves, options))
        out = y if used == "y" else torch.view_as_real(last)
        loss = (out.double() * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view(out.shape)).sum()
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True, materialize_grads=True)
        return dict(zip(leaves, grads, strict=True))  # C, D, z do not reach last_state: zero gradients

    grads = gradients(torch.float32, tiled(8, 2, bwd_tiles_per_chunk=1))
    for name, ref in gradients(torch.float64, scan_reference).items():
        err = rel_err(grads[name], ref) if ref.abs().max() > 0 else grads[name].abs().max().item()
        assert err < TOLERANCE[torch.float32], f"d{name}: {err:.2e}"


@pytest.mark.parametrize("complex_a", [False, True], ids=["real", "complex"])
def test_forward_without_gradients_runs_outside_autograd(complex_a, monkeypatch):
    """Under ``no_grad`` the forward skips the autograd Function (less host time per call) and still matches the
    reference: several chunks, an initial state, zero-order hold."""
    tensors, options = make_inputs(2, 37, 6, 3, 2, torch.float32, complex_a=complex_a, zoh=True)
    leaves = {k: cast(v, torch.float32).requires_grad_(True) for k, v in tensors.items() if v is not None}
    monkeypatch.setattr(autograd._TritonScan, "apply", lambda *a: pytest.fail("autograd Function applied"))
    with torch.no_grad():
        args = scan_args(leaves, options)
        y, last = autograd.scan_with_config(args, autograd.launch_config(2, 37, 6, 3, 2, args.u.device, tile=8,
                                                                         tiles_per_chunk=2))  # fmt: skip
    assert y.grad_fn is None and last.grad_fn is None
    rounded = {k: cast(v, torch.float64) for k, v in leaves.items()}
    y_ref, last_ref, _ = run(rounded, options, torch.float64, scan_reference)
    assert rel_err(y, y_ref) < TOLERANCE[torch.float32] and rel_err(last, last_ref) < TOLERANCE[torch.float32]


def test_cpu_tensors_without_interpreter_raise(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    tensors, options = make_inputs(1, 4, 2, 2, 1, torch.float32, complex_a=False, zoh=False)
    args = check_scan_args(*(tensors[k] for k in ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z")),
                           tensors["dt_bias"], True, "euler", tensors["initial_state"])  # fmt: skip
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        autograd.scan_triton(args)


# The time-invariant path (Δ (d,), B and C bias-only): chunked convolution by matrix products, kernels/scan/lti.py.
LTI = dict(b_sel=False, c_sel=False, b_bias=True, c_bias=True, invariant_dt=True)


def lti(**overrides):
    """The time-invariant scan with ``lti_config`` keyword overrides (tile, group, batch rows per program)."""
    from kernels.scan.lti import lti_config, scan_lti

    return lambda args: scan_lti(args, lti_config(args.sizes[3], args.u.device, **overrides))


@pytest.mark.parametrize(
    "sizes, switches, overrides",
    [
        pytest.param((3, 37, 3, 4, 1), dict(complex_a=True, zoh=True, bias_complex=True), {},
                     id="b3-L37-complex-zoh-all-switches"),
        pytest.param((2, 29, 2, 5, 1), dict(complex_a=False, zoh=False, softplus=False, initial=False), {},
                     id="b2-L29-real-euler-no-softplus"),
        pytest.param((2, 16, 2, 17, 1), dict(complex_a=True, zoh=False, D=False, z=False, dt_bias=False), {},
                     id="b2-L16-n17-one-chunk-states-padded-to-32"),
        pytest.param((3, 300, 2, 3, 1), dict(complex_a=True, zoh=True, z=False), dict(bwd_batch=2),
                     id="b3-L300-two-groups-batch-rows-2-per-program"),
        pytest.param((1, 5, 2, 2, 1), dict(complex_a=False, zoh=True), {}, id="b1-L5-shorter-than-a-chunk"),
    ],
)  # fmt: skip
def test_time_invariant_path_matches_reference(sizes, switches, overrides):
    tensors, options = make_inputs(*sizes, torch.float32, **switches, **LTI)
    check_against_reference(tensors, options, torch.float32, lti(**overrides))


def test_time_invariant_path_low_precision_time_major():
    tensors, options = make_inputs(2, 41, 3, 4, 1, torch.bfloat16, complex_a=True, zoh=True, **LTI)
    check_against_reference(tensors, options, torch.bfloat16, lti(), layout=time_major)


def test_time_invariant_path_is_taken():
    """The backend sends bias-only, time-invariant scans to the convolution path and the others to the scan."""
    from kernels.scan.lti import lti_applies

    for switches, expected in [(LTI, True), (dict(LTI, invariant_dt=False), False), (dict(LTI, c_sel=True), False)]:
        tensors, options = make_inputs(1, 4, 2, 2, 1, torch.float32, complex_a=True, zoh=True, **switches)
        args = check_scan_args(*(tensors[k] for k in ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z")),
                               tensors["dt_bias"], True, "zoh", tensors["initial_state"])  # fmt: skip
        assert lti_applies(args) is expected


def _operators_float64(delta, A, B_bias, C_bias, zoh, T, r):
    """The time-invariant path's operators by their definitions (kernels/scan/README.md), in torch ops that
    autograd differentiates: (Toepᵀ, W, V, P, Ā^r), complex ones as complex tensors."""
    powers = torch.exp(torch.arange(T + 1, dtype=torch.float64)[None, :, None] * (delta[:, None] * A)[:, None, :])
    B_bar = (torch.expm1(delta[:, None] * A) / A if zoh else delta[:, None]) * B_bias
    C = (2.0 if A.is_complex() else 1.0) * C_bias
    taps = torch.einsum("dmn,dn->dm", powers[:, :T], C * B_bar)
    taps = taps.real if A.is_complex() else taps
    lag = torch.arange(T)[None, :] - torch.arange(T)[:, None]  # [k, t] = t − k
    toep_t = torch.where(lag >= 0, taps[:, lag.clamp(min=0)], 0.0)
    W = torch.stack([powers[:, T - 1 - k] * B_bar for k in range(T)], 1)
    V = torch.stack([C * powers[:, t + 1] for t in range(T)], 2)
    return toep_t, W, V, powers[:, T], powers[:, r]


@pytest.mark.parametrize("complex_a", [True, False], ids=["complex", "real"])
@pytest.mark.parametrize("zoh", [True, False], ids=["zoh", "euler"])
@pytest.mark.parametrize("used", [(0, 1, 2, 3, 4), (0, 1)], ids=["all-outputs", "toep-and-W-only"])
def test_time_invariant_operators_match_float64(complex_a, zoh, used):
    """The operators' Triton kernels (``lti._Operators``, forward and backward) against their definitions in float64,
    with n not a power of two, the last chunk shorter than the others (r < T) and outputs left out of the loss (their
    gradients None)."""
    from kernels.scan.lti import _Operators

    g = torch.Generator().manual_seed(3)
    d, n, T, r = 3, 5, 8, 3

    def randn(*shape):
        x = torch.randn(*shape, 2, generator=g, dtype=torch.float64)
        return torch.view_as_complex(x) if complex_a else x[..., 0]

    A = -torch.exp(0.5 * torch.randn(d, n, generator=g, dtype=torch.float64))
    A = torch.complex(A, 3.0 * torch.randn(d, n, generator=g, dtype=torch.float64)) if complex_a else A
    inputs = [0.05 + 0.2 * torch.rand(d, generator=g, dtype=torch.float64), A, randn(d, n), randn(d, n)]
    exact = _operators_float64(*inputs, zoh, T, r)
    upstream = [randn(*t.shape) if t.is_complex() else torch.randn(t.shape, generator=g, dtype=torch.float64)
                for t in exact]  # fmt: skip

    def outputs_and_grads(inputs, ops, convert):
        inputs = [t.detach().requires_grad_() for t in inputs]
        outs = [convert(i, o) for i, o in enumerate(ops(*inputs, zoh, T, r))]
        loss = sum((outs[i] * upstream[i].conj()).real.sum() for i in used)
        return outs, torch.autograd.grad(loss, inputs)

    exact, exact_grads = outputs_and_grads(inputs, _operators_float64, lambda i, o: o)
    single = [t.to(torch.complex64 if t.is_complex() else torch.float32) for t in inputs]

    def from_pairs(i, o):  # Toepᵀ is real; the others are (…, 2) pairs for complex A
        return o.double() if i == 0 or not complex_a else torch.view_as_complex(o).to(torch.complex128)

    ours, our_grads = outputs_and_grads(single, _Operators.apply, from_pairs)
    for name, a, e in zip(("toep", "W", "V", "P", "P_r", "dΔ", "dA", "dB", "dC"), [*ours, *our_grads],
                          [*exact, *exact_grads], strict=True):  # fmt: skip
        err = ((a.to(e.dtype) - e).norm() / e.norm()).item()
        assert err < 1e-5, f"{name}: {err:.1e}"
