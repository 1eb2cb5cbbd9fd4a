"""The Triton scan on a CUDA GPU against float64, where the interpreter cannot go: real tiles (256 steps for 16-bit
inputs, the backward's lane-shuffle flip), long sequences, and the backward split into 1, 2, 4 … chunks.

Skipped without a GPU (CI has none): run ``python -m pytest tests/kernels/test_triton_gpu.py`` on one. The
reference is the torch backend in float64 (itself checked against the sequential reference in
``test_scan_torch.py``); inputs are Mamba's (``benchmarks.gpu_bench.make_inputs``), u, dt, z time-major.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# bf16 inputs: every gradient measured at ≤ 2.4e-3 (norm-wise) against float64 on the H200
TOLERANCE = 1e-2

# (b, d, L) and backward tiles per chunk (None: the default split); 256-step tiles
SPLITS = [
    ((2, 512, 4096), [None, 16, 8, 4, 2]),
    ((2, 512, 16384), [None, 64, 32, 16]),
    ((8, 1536, 2048), [None, 8, 4, 2]),
]


def _outputs(t, opts, scan):
    """y and the gradient of every floating input for a fixed random upstream gradient."""
    from kernels.scan.contract import check_scan_args

    t = {k: v.detach().requires_grad_(v.is_floating_point() or v.is_complex()) for k, v in t.items()}
    args = check_scan_args(t["u"], t["dt"], t["A"], t.get("B"), t.get("C"), t.get("B_bias"), t.get("C_bias"),
                           t.get("D"), t.get("z"), t.get("dt_bias"), True, opts["discretization"], None)  # fmt: skip
    y, _ = scan(args)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(y.device)
    names = [k for k, v in t.items() if v.requires_grad]
    grads = torch.autograd.grad((y.double() * gy).sum(), [t[k] for k in names])
    return {"y": y, **{f"d{k}": g for k, g in zip(names, grads, strict=True)}}


@pytest.mark.parametrize(
    "sizes, bwd_tiles_per_chunk",
    [pytest.param(s, k, id=f"b{s[0]}-d{s[1]}-L{s[2]}-bwd{k or 'default'}") for s, ks in SPLITS for k in ks],
)
def test_every_backward_split_matches_float64(sizes, bwd_tiles_per_chunk):
    from benchmarks.gpu_bench import make_inputs, time_major_inputs
    from kernels.scan import autograd, torch_chunked

    b, d, L = sizes
    t, opts = make_inputs(b, d, L, 16, False, 1, torch.bfloat16, "mamba", "cuda")
    t = time_major_inputs(t)
    exact = _outputs({k: v.double() for k, v in t.items()}, opts, torch_chunked.scan_torch)
    cfg = autograd.launch_config(b, L, d, 16, 1, t["u"].device, itemsize=2, bwd_tiles_per_chunk=bwd_tiles_per_chunk)
    out = _outputs(t, opts, lambda args: autograd.scan_with_config(args, cfg))
    errors = {k: ((out[k].double() - r).norm() / r.norm()).item() for k, r in exact.items()}
    bad = {k: f"{e:.1e}" for k, e in errors.items() if not e < TOLERANCE}
    assert not bad, f"{cfg.bwd_n_chunks} backward chunks of {cfg.bwd_tiles_per_chunk} tiles: {bad}"


@pytest.mark.parametrize("gated", [False, True], ids=["no-gate", "silu-gate"])
def test_time_invariant_path_matches_float64(gated):
    """The s4d path's chunked convolution on tensor cores (tf32x3), with and without the gate fused in its kernels."""
    from benchmarks.gpu_bench import make_inputs, time_major_inputs
    from kernels.scan import lti, torch_chunked

    b, d, L, n = 4, 64, 1000, 64  # L not a multiple of the 32-step chunk
    t, opts = make_inputs(b, d, L, n, True, 1, torch.float32, "s4d", "cuda")
    if gated:
        t["z"] = torch.randn(b, L, d, generator=torch.Generator().manual_seed(2)).cuda()
    t = time_major_inputs(t)
    exact = _outputs({k: v.to(torch.complex128 if v.is_complex() else torch.float64) for k, v in t.items()}, opts,
                     torch_chunked.scan_torch)  # fmt: skip
    out = _outputs(t, opts, lambda args: lti.scan_lti(args, lti.lti_config(n, args.u.device)))
    errors = {k: ((out[k].to(r.dtype) - r).norm() / r.norm()).item() for k, r in exact.items()}
    bad = {k: f"{e:.1e}" for k, e in errors.items() if not e < 1e-4}  # measured: ≤ 2.6e-5 at s4d-fp32
    assert not bad, bad
