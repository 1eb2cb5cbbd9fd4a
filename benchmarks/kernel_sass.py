"""Compile a Triton scan kernel for a GPU architecture without a GPU and count what it became:
``python -m benchmarks.kernel_sass fwd --block-r 4 --tile 256 --warps 4 --unroll 8 [--complex] [--arch 90]``.

Prints registers, stack (spills), shared memory, the number of layout conversions left in the Triton GPU IR (each
one a shared-memory or shuffle round trip), the SASS instruction count and its most frequent opcodes; writes the
IR and SASS to ``--out``. Comparing two variants' counts (for example ``--unroll 2`` and ``--unroll 4``, whose
difference is one state of the loop body) costs no device time; timings still come from ``benchmarks.gpu_bench``.
Use the Triton version the GPU machine runs (``pip install --target DIR triton==3.6.0`` and put DIR first on
``PYTHONPATH``): layouts and lowering differ between versions. The flags are those of Mamba's call (selective
real B and C, D, z, dt_bias, softplus, Euler; ``--complex``: complex A), inputs in bf16.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from kernels.scan import triton_bwd, triton_fwd

# in --dtype: the (b, L, d) tensors and B, C; the rest (A, D, biases, state) float32
LOW_PRECISION = {"p_u", "p_dt", "p_z", "p_y", "p_dout", "p_du", "p_ddt", "p_dz", "p_B", "p_C"}
DIVISIBLE = {"L", "D", "N", "stride_d"}  # integers the launcher's sizes make multiples of 16


def compile_scan_kernel(kernel: str, block_r: int, tile: int, warps: int, unroll: int, complex_a: bool, n: int,
                        arch: int, lane_v: int = 8, stages: int = 3, local: bool = False,
                        maxnreg: int = 0, dtype: str = "bf16", masked: bool = False):  # fmt: skip
    """The compiled ``_fwd_kernel`` / ``_bwd_kernel`` (pass 2 of one chunk, or with ``local`` pass 1 of two chunks;
    time-major inputs) for ``sm_<arch>``; ``masked``: the path for L not a multiple of the tile."""
    fn = triton_fwd._fwd_kernel if kernel == "fwd" else triton_bwd._bwd_kernel
    flags = dict(IS_COMPLEX=complex_a, B_COMPLEX=False, C_COMPLEX=False, BB_COMPLEX=False, CB_COMPLEX=False,
                 HAS_B=True, HAS_C=True, HAS_BB=False, HAS_CB=False, HAS_D=True, HAS_Z=True, HAS_DTB=True,
                 DT_SOFTPLUS=True, DT_INVARIANT=False, ZOH=False, FAST=True)  # fmt: skip
    constants = dict(stride_l=1, H=1, NC=2 if local else 1, K=8, BLOCK_R=block_r, T=tile, EVEN=not masked,
                     BLOCK_N=triton.next_power_of_2(n), LOCAL=local, UNROLL=unroll, **flags)  # fmt: skip
    if kernel == "bwd":
        constants.update(LANE_V=lane_v, NEXT_V=triton_bwd.next_vector(lane_v, tile))
    constants["STAGES"] = stages

    def kind(name):
        if name in constants:
            return "constexpr"
        if name.startswith("p_"):
            return f"*{dtype}" if name in LOW_PRECISION else "*fp32"
        return "i32"

    signature = {name: kind(name) for name in fn.arg_names}
    attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
             if name not in constants and (name.startswith("p_") or name in DIVISIBLE)}  # fmt: skip
    constexprs = {(fn.arg_names.index(k),): v for k, v in constants.items()}
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
    options = dict(num_warps=warps, **({"maxnreg": maxnreg} if maxnreg else {}))
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)


def shuffle_layouts(ttgir: str) -> list[dict | str]:
    """The layout of every tensor ``_flip_time``'s lane shuffle runs on in a compiled kernel's TTGIR: a dict of the
    blocked layout's fields (``sizePerThread``, ``threadsPerWarp``, ``warpsPerCTA``, ``order``), or the layout's
    text where it is not a blocked one. The shuffle reverses the lanes of axis −2, so it is right only where that
    axis alone spans the 32 lanes and each thread holds the last axis whole."""
    blocked = {
        name: {field: [int(v) for v in vals.split(",")] for field, vals in re.findall(r"(\w+) = \[([\d, ]+)\]", body)}
        for name, body in re.findall(r"^(#blocked\d*) = #ttg\.blocked<\{(.*)\}>", ttgir, re.M)
    }  # fmt: skip
    found = re.findall(r'"shfl\.sync\.bfly\.b32 \$0, \$1, 31,.*?-> tensor<[^,]*, (#[\w.]+)>', ttgir)
    return [blocked.get(name, name) for name in found]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernel", choices=["fwd", "bwd"])
    parser.add_argument("--block-r", type=int, default=4)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--warps", type=int, default=4)
    parser.add_argument("--unroll", type=int, default=1)
    parser.add_argument("--n", type=int, default=16, help="state size")
    parser.add_argument("--complex", action="store_true", help="complex A")
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--lane-v", type=int, default=8, help="backward's flip: steps per thread, 0 = tl.flip")
    parser.add_argument("--stages", type=int, default=3, help="pipelining stages of the loop over states")
    parser.add_argument("--maxnreg", type=int, default=0, help="register cap per thread (0: none)")
    parser.add_argument("--local", action="store_true", help="pass 1 of a split sequence (chunk ends from zero)")
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16", help="u, dt, z, y and their grads")
    parser.add_argument("--masked", action="store_true", help="masked tiles (L not a multiple of the tile)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kernel_sass"))
    args = parser.parse_args(argv)
    compiled = compile_scan_kernel(args.kernel, args.block_r, args.tile, args.warps, args.unroll, args.complex,
                                   args.n, args.arch, args.lane_v, args.stages, args.local, args.maxnreg,
                                   args.dtype, args.masked)  # fmt: skip
    tag = (f"{args.kernel}{'_local' if args.local else ''}_R{args.block_r}_T{args.tile}_w{args.warps}_u{args.unroll}"
           f"{'_complex' if args.complex else ''}_{args.dtype}{'_masked' if args.masked else ''}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    cubin = args.out / f"{tag}.cubin"
    cubin.write_bytes(compiled.asm["cubin"])
    ir = compiled.asm["ttgir"]
    (args.out / f"{tag}.ttgir").write_text(ir)
    tools = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
    sass = subprocess.run([tools / "cuobjdump", "-sass", cubin], capture_output=True, text=True, check=True).stdout
    (args.out / f"{tag}.sass").write_text(sass)
    usage = subprocess.run([tools / "cuobjdump", "-res-usage", cubin], capture_output=True, text=True, check=True)
    ops = re.findall(r"^\s+/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)", sass, re.M)
    print(f"{tag} (triton {triton.__version__}, sm_{args.arch}): {usage.stdout.strip().splitlines()[-1].strip()}")
    print(f"  layout conversions {ir.count('ttg.convert_layout')}, SASS instructions {len(ops)}")
    print(f"  lane-shuffle layouts: {sorted({str(layout) for layout in shuffle_layouts(ir)}) or 'none'}")
    print("  " + ", ".join(f"{op} {count}" for op, count in Counter(ops).most_common(16)))


if __name__ == "__main__":
    main()
