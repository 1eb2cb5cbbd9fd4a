"""One forward+backward of the Triton scan at a bench shape, for ``ncu`` to profile:
``ncu -k regex:_bwd_kernel python -m benchmarks.gpu_profile mamba130m-bf16``."""

from __future__ import annotations

import sys

import torch

from benchmarks.gpu_bench import SHAPES, call, make_inputs


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mamba130m-bf16"
    _, b, d, L, n, complex_a, h, dtype, kind = next(s for s in SHAPES if s[0] == name)
    t, opts = make_inputs(b, d, L, n, complex_a, h, dtype, kind, "cuda")
    t = {k: v.transpose(1, 2).contiguous().transpose(1, 2) if v.dim() == 3 else v for k, v in t.items()}
    for _ in range(2):
        y, _, leaves = call(t, opts, "triton", grad=True)
        y.backward(torch.ones_like(y))
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
