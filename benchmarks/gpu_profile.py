"""One forward+backward of the Triton scan at a bench shape, for ``ncu`` to profile:
``ncu -k regex:_bwd_kernel python -m benchmarks.gpu_profile mamba130m-bf16``;
``python -m benchmarks.gpu_profile s4d-fp32 --kernel-times`` instead prints, from ``torch.profiler`` over 10
forward+backward calls, the GPU time per kernel and the wall time per call (their gap is host-side launch time)."""

from __future__ import annotations

import sys
import time

import torch

from benchmarks.gpu_bench import SHAPES, call, make_inputs, time_major_inputs


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mamba130m-bf16"
    _, b, d, L, n, complex_a, h, dtype, kind = next(s for s in SHAPES if s[0] == name)
    t, opts = make_inputs(b, d, L, n, complex_a, h, dtype, kind, "cuda")
    t = time_major_inputs(t)

    def step():
        y, _, leaves = call(t, opts, "triton", grad=True)
        y.backward(torch.ones_like(y))

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    if "--kernel-times" not in sys.argv:
        return
    calls = 10
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(calls):
            step()
        torch.cuda.synchronize()
        wall = (time.perf_counter() - start) / calls
    per_kernel = {}
    for event in prof.events():
        if event.device_time_total > 0 and event.device_type == torch.autograd.DeviceType.CUDA:
            per_kernel[event.name] = per_kernel.get(event.name, 0.0) + event.device_time_total / calls
    gpu = sum(per_kernel.values())
    print(f"{name}: fwd+bwd wall {wall * 1e6:.0f} µs per call (profiled), GPU kernels {gpu:.0f} µs")
    for kernel, us in sorted(per_kernel.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {us:8.1f} µs  {kernel[:100]}")


if __name__ == "__main__":
    main()
