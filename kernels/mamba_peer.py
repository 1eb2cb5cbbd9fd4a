"""mamba_ssm's CUDA selective scan as a benchmark peer (``kernels.bench``, ``benchmarks.gpu_bench``), built from
its sources for this GPU alone.

``selective_scan_fn()`` returns mamba_ssm's own ``selective_scan_fn`` when the package is installed, otherwise
compiles ``csrc/selective_scan/*.cu`` from the directory named by ``MAMBA_SELECTIVE_SCAN_SRC`` (the recipe is in
``benchmarks/README.md``) with ``torch.utils.cpp_extension.load`` for the current GPU's architecture, once per
process, and wraps it the way mamba_ssm's ``SelectiveScanFn`` does; None when neither is available. The build
leaves ``selective_scan_cuda.so`` in ``MAMBA_BUILD_DIR`` (default: a folder in the system's temporary directory);
naming that file with ``MAMBA_SELECTIVE_SCAN_SO`` loads it instead of building again (same GPU architecture and
torch).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import torch


def _build(src: Path):
    from torch.utils.cpp_extension import load

    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    flags = [
        "-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
        "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
        "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__", "--expt-relaxed-constexpr",
        "--expt-extended-lambda", "--use_fast_math", f"-gencode=arch=compute_{arch},code=sm_{arch}",
    ]  # fmt: skip
    sources = [str(src / "selective_scan.cpp")] + sorted(str(p) for p in src.glob("selective_scan_*.cu"))
    build = Path(os.environ.get("MAMBA_BUILD_DIR", Path(tempfile.gettempdir()) / "mamba_selective_scan_build"))
    build.mkdir(parents=True, exist_ok=True)
    return load(name="selective_scan_cuda", sources=sources, extra_cflags=["-O3", "-std=c++17"],
                extra_cuda_cflags=flags, extra_include_paths=[str(src)], build_directory=str(build))  # fmt: skip


def _installed() -> bool:
    return importlib.util.find_spec("mamba_ssm") is not None


def _sources() -> Path | None:
    src = os.environ.get("MAMBA_SELECTIVE_SCAN_SRC")
    return Path(src) if src and Path(src).is_dir() else None


def _built() -> Path | None:
    so = os.environ.get("MAMBA_SELECTIVE_SCAN_SO")
    return Path(so) if so and Path(so).is_file() else None


def _load_built(path: Path):
    """The extension module from an earlier build's ``selective_scan_cuda.so``."""
    spec = importlib.util.spec_from_file_location("selective_scan_cuda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_build_error: list[str] = []  # why building from the named sources failed, once tried


def missing() -> str | None:
    """Why :func:`selective_scan_fn` has nothing to return (None: mamba_ssm is installed, or its sources are named
    and have not failed to build)."""
    if _build_error:
        return f"building its selective scan from MAMBA_SELECTIVE_SCAN_SRC failed: {_build_error[0]}"
    if _installed() or _built() is not None or _sources() is not None:
        return None
    return ("not installed, MAMBA_SELECTIVE_SCAN_SO names no built extension and MAMBA_SELECTIVE_SCAN_SRC no folder "
            "of its csrc/selective_scan sources (recipe in benchmarks/README.md)")  # fmt: skip


def available() -> bool:
    """Whether :func:`selective_scan_fn` has something to return (see :func:`missing`)."""
    return missing() is None


@functools.cache
def selective_scan_fn():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as fn

        return fn
    except ImportError:
        pass
    if _built() is not None:
        return _wrap(_load_built(_built()))
    src = _sources()
    if src is None:
        return None
    print(f"mamba_ssm: building its selective scan from {src} for this GPU (a few minutes) ...", flush=True)
    start = time.perf_counter()
    try:
        ext = _build(src)
        print(f"mamba_ssm: built in {time.perf_counter() - start:.0f} s", flush=True)
    except Exception as error:  # a failed build leaves the peer out of the bench, and says why (missing())
        _build_error.append(f"{type(error).__name__}: {str(error).strip().splitlines()[-1][:300]}")
        return None
    return _wrap(ext)


def _wrap(ext):
    """``selective_scan_fn`` around the extension module ``ext`` (its ``fwd`` and ``bwd``)."""

    class SelectiveScan(torch.autograd.Function):
        """mamba_ssm's SelectiveScanFn: u, delta, z (b, d, L); A (d, n); B, C (b, G, n, L)."""

        @staticmethod
        def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
            out, x, *rest = ext.fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
            ctx.delta_softplus = delta_softplus
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x, out)
            return rest[0]

        @staticmethod
        def backward(ctx, dout):
            u, delta, A, B, C, D, z, delta_bias, x, out = ctx.saved_tensors
            du, ddelta, dA, dB, dC, dD, ddelta_bias, dz = ext.bwd(
                u, delta, A, B, C, D, z, delta_bias, dout.contiguous(), x, out, None, ctx.delta_softplus, False
            )
            return du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, None

    def fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
        contiguous = [t.contiguous() if t is not None and t.stride(-1) != 1 else t for t in (u, delta, B, C, z)]
        u, delta, B, C, z = contiguous
        return SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)

    return fn
