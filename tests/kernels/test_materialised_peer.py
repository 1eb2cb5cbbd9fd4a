"""The B2S6 peer ``mamba_ssm_materialised``: mamba_ssm's ``selective_scan_fn`` on B and C built per channel.

mamba_ssm is not installed here (its scan is CUDA only), so the peer gets :func:`mamba_oracle`, a pure-torch model
of ``selective_scan_fn``'s documented semantics, injected in its place. The oracle was checked once against
mamba_ssm 2.3.2.post1's own ``selective_scan_ref`` (real and complex A, G ∈ {1, 3, d}, every switch both ways):
relative difference ≤ 1.6e-7 in float32; in bfloat16 equal except with z, where ``selective_scan_ref`` takes
silu(z) in bfloat16 and the oracle (like the CUDA kernel) in float32.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks import gpu_bench
from kernels import bench, selective_scan


def mamba_oracle(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """mamba_ssm's ``selective_scan_fn``: u, delta, z (b, d, L); A (d, n); B, C (b, G, n, L), channel c reading
    group c // (d / G), with complex A (b, G, n, 2L) real (re, im) pairs per step; D, delta_bias (d,).
    Euler: h = exp(Δ·A)·h + Δ·B·u, y = Σ_n C·h (2·Re for complex A) + D·u, times silu(z). y (b, d, L) in u's dtype.
    """
    b, d, L = u.shape
    dtype = u.dtype
    u, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if A.is_complex():
        B, C = (torch.view_as_complex(x.float().unflatten(-1, (L, 2))) for x in (B, C))
    else:
        B, C = B.float(), C.float()
    B, C = (x.repeat_interleave(d // x.shape[1], dim=1) for x in (B, C))  # (b, d, n, L)
    state = torch.zeros(b, d, A.shape[1], dtype=A.dtype)
    ys = []
    for t in range(L):
        step = delta[..., t, None]
        state = torch.exp(step * A) * state + step * B[..., t] * u[..., t, None]
        y_t = (state * C[..., t]).sum(-1)
        ys.append(2 * y_t.real if y_t.is_complex() else y_t)
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.float()[:, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def _rel(a, r):
    return ((a - r).norm() / r.norm()).item()


CASES = [
    pytest.param(True, False, id="b2-L37-d12-n4-h3-complex-bias-realC"),
    pytest.param(False, False, id="b2-L37-d12-n4-h3-realB-realbias-realC"),
    pytest.param(True, True, id="b2-L37-d12-n4-h3-complex-bias-complexC"),
]


@pytest.mark.parametrize("complex_B, complex_C", CASES)
def test_peer_computes_the_euler_scan(complex_B, complex_C):
    """y and every input gradient of the peer equal the reference backend's with discretization="euler"."""
    case = bench.ScanCase(2, 37, 12, 4, h=3, complex_B=complex_B, complex_C=complex_C, B="both", C="selective",
                          discretization="zoh", z=True)  # fmt: skip
    inputs, names = bench._differentiable(case.inputs())
    y = bench.mamba_ssm(inputs, mamba_oracle)
    expected = selective_scan(**(inputs | {"discretization": "euler"}), backend="reference")[0]
    assert _rel(y, expected) < 1e-5
    zoh = selective_scan(**inputs, backend="reference")[0]
    assert _rel(y, zoh) > 1e-2  # it is not the zero-order hold the case asks for

    upstream = torch.randn_like(y)
    grads = torch.autograd.grad(y, [inputs[k] for k in names], upstream)
    grads_expected = torch.autograd.grad(expected, [inputs[k] for k in names], upstream)
    for name, g, e in zip(names, grads, grads_expected, strict=True):
        assert _rel(g, e) < 1e-5, name


@pytest.mark.parametrize("complex_a", [False, True], ids=["real", "complex"])
def test_mamba_peer_computes_the_scan(complex_a):
    """The plain peer ``mamba_ssm`` (Mamba's call: selective B, C, Euler, z): y and every gradient equal the
    reference's, with complex A too (B and C handed over as (re, im) pairs with zero imaginary parts)."""
    case = bench.ScanCase(2, 37, 12, 4, h=3, complex_A=complex_a, complex_B=False, B="selective", C="selective",
                          discretization="euler", z=True)  # fmt: skip
    inputs, names = bench._differentiable(case.inputs())
    y = bench.mamba_ssm(inputs, mamba_oracle)
    expected = selective_scan(**inputs, backend="reference")[0]
    assert _rel(y, expected) < 1e-5
    upstream = torch.randn_like(y)
    grads = torch.autograd.grad(y, [inputs[k] for k in names], upstream)
    grads_expected = torch.autograd.grad(expected, [inputs[k] for k in names], upstream)
    for name, g, e in zip(names, grads, grads_expected, strict=True):
        assert _rel(g, e) < 1e-5, name


def test_mamba_peer_registered_for_mambas_call(monkeypatch):
    """``mamba_ssm`` runs every GPU shape with selective B and C, real or complex A (not B2S6's bias, not S4D)."""
    monkeypatch.setattr(bench.mamba_peer, "available", lambda: True)
    runner = bench.RUNNERS["mamba_ssm"]
    supported = {name for name, case in bench.SHAPE_SETS["gpu"].items() if runner.supports(case, "cuda")}
    assert supported == {"mamba130m-bfloat16", "mamba130m-float32", "long-bfloat16", "n64-bfloat16",
                         "complex-bfloat16"}  # fmt: skip


def test_complex_pairs_interleave_real_and_imaginary_parts():
    x = torch.randn(2, 3, 5, dtype=torch.complex64)
    pairs = bench.complex_pairs(x, torch.float32)
    assert pairs.shape == (2, 3, 10)
    torch.testing.assert_close(pairs[..., 0::2], x.real)
    torch.testing.assert_close(pairs[..., 1::2], x.imag)
    real = bench.complex_pairs(x.real, torch.bfloat16)
    assert real.dtype == torch.bfloat16 and not real[..., 1::2].any()
    torch.testing.assert_close(real[..., 0::2], x.real.bfloat16())


def test_materialised_layout_is_mamba_ssms_complex_one():
    """B_eff, C_eff: (b, d, n, 2L) in u's dtype, (re, im) per step, G = d; C real gets zero imaginary parts."""
    b, L, d, n, h = 2, 5, 6, 3, 3
    B = torch.randn(b, h, n, L)
    C = torch.randn(b, h, n, L)
    B_bias = torch.randn(d, n, dtype=torch.complex64)
    B_eff, C_eff = bench.materialise_b2s6(B, C, B_bias, torch.bfloat16)
    assert B_eff.shape == C_eff.shape == (b, d, n, 2 * L) and B_eff.dtype == C_eff.dtype == torch.bfloat16
    for c in range(d):
        expected = B[:, c // (d // h)] + B_bias[c, :, None]
        torch.testing.assert_close(B_eff[:, c, :, 0::2].float(), expected.real.bfloat16().float())
        torch.testing.assert_close(B_eff[:, c, :, 1::2].float(), expected.imag.bfloat16().float())
        torch.testing.assert_close(C_eff[:, c, :, 0::2].float(), C[:, c // (d // h)].bfloat16().float())
    assert not C_eff[..., 1::2].any()


def test_registered_for_b2s6_cases_only(monkeypatch):
    """Supported where B is selective plus a bias, A complex, no initial state (on CUDA with mamba_ssm); Euler."""
    monkeypatch.setattr(bench.mamba_peer, "available", lambda: True)
    runner = bench.RUNNERS["mamba_ssm_materialised"]
    assert runner.computes == {"discretization": "euler"}
    supported = {name for name, case in bench.SHAPE_SETS["gpu"].items() if runner.supports(case, "cuda")}
    assert supported == {"b2s6-bfloat16"}
    b2s6 = bench.SHAPE_SETS["smoke"]["b2s6"]
    assert runner.supports(b2s6, "cuda") and not runner.supports(b2s6, "cpu")
    assert not runner.supports(bench.ScanCase(2, 5, 6, 3, h=3, B="both", initial_state=True), "cuda")
    assert not runner.supports(bench.ScanCase(2, 5, 6, 3, B="selective"), "cuda")


def test_measure_compares_the_peer_with_the_euler_reference(monkeypatch):
    """kernels.bench.measure: the peer's errors are against the float64 reference run with its ``computes``."""
    runner = bench.RUNNERS["mamba_ssm_materialised"]
    peer = bench.Runner(lambda x: bench.mamba_ssm(x, mamba_oracle), runner.supports, runner.computes)
    monkeypatch.setitem(bench.RUNNERS, "mamba_ssm_materialised", peer)
    records = bench.measure(bench.SHAPE_SETS["smoke"]["b2s6"], ["reference", "mamba_ssm_materialised"], "cpu", 1)
    ref, mat = records
    assert ref["rel_err_y"] < 1e-5 and "computes" not in ref
    assert mat["computes"] == {"discretization": "euler"}
    assert mat["rel_err_y"] < 1e-5 and mat["rel_err_grad"] < 1e-4
    env = {"device": "cpu", "device_name": "x", "torch": "t", "triton": None, "threads": 1, "cpu_count": 1}
    assert "| mamba_ssm_materialised (discretization=euler) |" in bench.markdown(records, env, "reference")


def test_gpu_bench_peer_call_and_table():
    """gpu_bench: mamba_call materialises B2S6 inputs (mamba_inputs' layout) and the table shows the peer."""
    t, opts = gpu_bench.make_inputs(2, 12, 37, 4, True, 3, torch.float32, "b2s6", "cpu")
    assert opts == {"discretization": "zoh"}
    y, leaves = gpu_bench.mamba_call(mamba_oracle, gpu_bench.mamba_inputs(t), grad=True)
    expected = gpu_bench.call(t, dict(opts, discretization="euler"), "reference")[0]
    assert _rel(y.transpose(1, 2), expected) < 1e-5
    (y * torch.randn_like(y)).sum().backward()
    assert all(leaves[k].grad is not None for k in ("B", "C", "B_bias"))

    t, opts = gpu_bench.make_inputs(2, 12, 37, 4, True, 1, torch.float32, "mamba", "cpu")  # complex A, real B, C
    y = gpu_bench.mamba_call(mamba_oracle, gpu_bench.mamba_inputs(t), grad=False)[0]
    assert _rel(y.transpose(1, 2), gpu_bench.call(t, opts, "reference")[0]) < 1e-5

    row = dict(shape="b2s6-bf16", triton_us=(100.0, 300.0), floor_us=(10.0, 20.0), mamba_materialised_us=(250.0, 900.0),
               errors_vs_float64=dict(y=1e-3, du=2e-3, mamba_materialised_y=4e-3))  # fmt: skip
    meta = dict(gpu="g", torch="t", triton="x", copy_TBps=4.0, exp_Tps=1.0, mamba_ssm=True)
    table = gpu_bench.markdown([row], meta)
    assert "250 / 900 (mamba, B/C per channel, Euler) | 2.5 / 3 |" in table
    assert "(4.0e-03) |" in table and "Euler" in table.splitlines()[-1]


def test_mamba_peer_available_from_named_sources(monkeypatch, tmp_path):
    """Without mamba_ssm installed the peer exists only where MAMBA_SELECTIVE_SCAN_SRC names a folder."""
    from kernels import mamba_peer

    monkeypatch.setattr(mamba_peer, "_installed", lambda: False)
    monkeypatch.delenv("MAMBA_SELECTIVE_SCAN_SRC", raising=False)
    monkeypatch.delenv("MAMBA_SELECTIVE_SCAN_SO", raising=False)
    assert not mamba_peer.available()
    monkeypatch.setenv("MAMBA_SELECTIVE_SCAN_SRC", str(tmp_path / "missing"))
    assert not mamba_peer.available()
    monkeypatch.setenv("MAMBA_SELECTIVE_SCAN_SRC", str(tmp_path))
    assert mamba_peer.available()


def test_mamba_peer_build_failure_is_said_not_raised(monkeypatch, tmp_path, capsys):
    """A failing build of the named sources leaves the peer out, with the reason, instead of ending the bench."""
    from kernels import mamba_peer

    def broken_build(src):
        raise RuntimeError("Error building extension 'selective_scan_cuda'\nnvcc: not found")

    monkeypatch.setattr(mamba_peer, "_installed", lambda: False)
    monkeypatch.setattr(mamba_peer, "_build", broken_build)
    monkeypatch.setattr(mamba_peer, "_build_error", [])
    monkeypatch.delenv("MAMBA_SELECTIVE_SCAN_SO", raising=False)
    monkeypatch.setenv("MAMBA_SELECTIVE_SCAN_SRC", str(tmp_path))
    mamba_peer.selective_scan_fn.cache_clear()
    try:
        assert mamba_peer.available()
        assert mamba_peer.selective_scan_fn() is None
        assert not mamba_peer.available()
        assert mamba_peer.missing() == ("building its selective scan from MAMBA_SELECTIVE_SCAN_SRC failed: "
                                        "RuntimeError: nvcc: not found")  # fmt: skip
        assert "building its selective scan from" in capsys.readouterr().out
    finally:
        mamba_peer.selective_scan_fn.cache_clear()


def test_mamba_peer_loads_an_earlier_build(monkeypatch, tmp_path):
    """MAMBA_SELECTIVE_SCAN_SO names a built extension: it is loaded (here a stand-in module with mamba_ssm's
    fwd signature) and wrapped, with no build and no sources."""
    from kernels import mamba_peer

    built = tmp_path / "selective_scan_cuda.py"
    built.write_text("def fwd(u, delta, A, B, C, D, z, delta_bias, softplus):\n    return u, None, 2 * u\n")
    monkeypatch.setattr(mamba_peer, "_installed", lambda: False)
    monkeypatch.setattr(mamba_peer, "_build", lambda src: pytest.fail("no build expected"))
    monkeypatch.delenv("MAMBA_SELECTIVE_SCAN_SRC", raising=False)
    monkeypatch.setenv("MAMBA_SELECTIVE_SCAN_SO", str(built))
    mamba_peer.selective_scan_fn.cache_clear()
    try:
        assert mamba_peer.available()
        u = torch.randn(2, 3, 5)
        y = mamba_peer.selective_scan_fn()(u, u, torch.randn(3, 4), u, u)
        torch.testing.assert_close(y, 2 * u)
    finally:
        mamba_peer.selective_scan_fn.cache_clear()
