"""GPU check and benchmark of the Triton scan, in one run: ``python -m benchmarks.gpu_bench [--out DIR]``.

For every shape of issue 4's table: relative errors of the Triton backend against the float64 reference (forward,
last state, every gradient; on one batch row and at most 4096 steps, where the step loop stays affordable),
then median µs of forward and forward+backward for the Triton backend, the torch backend, and the peers that are
present (mamba_ssm's ``selective_scan_fn``; for B2S6 the same on B and C materialised per channel, with Euler B
since mamba_ssm has no zero-order hold; an FFT-convolution S4D for the time-invariant shape). Each shape's
floor is max(bytes moved / measured copy bandwidth, exponentials / measured exp throughput). Writes
``gpu_bench.json`` and ``gpu_bench.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from kernels import selective_scan
from kernels.bench import RUNNERS, device_ceilings, float64, floor_us, mamba_weights
from kernels.scan.autograd import same_layout

SHAPES = [
    # name, b, d, L, n, complex A, h, dtype, extra switches
    ("mamba130m-bf16", 8, 1536, 2048, 16, False, 1, torch.bfloat16, "mamba"),
    ("mamba130m-fp32", 8, 1536, 2048, 16, False, 1, torch.float32, "mamba"),
    ("long-bf16", 2, 512, 16384, 16, False, 1, torch.bfloat16, "mamba"),
    ("n64-bf16", 8, 512, 4096, 64, False, 1, torch.bfloat16, "mamba"),
    ("complex-bf16", 8, 1536, 2048, 16, True, 1, torch.bfloat16, "mamba"),
    ("b2s6-bf16", 8, 512, 2048, 16, True, 8, torch.bfloat16, "b2s6"),
    ("s4d-fp32", 16, 256, 4096, 64, True, 1, torch.float32, "s4d"),
]


def make_inputs(b, d, L, n, complex_a, h, dtype, kind, device, seed=0):
    """Scan arguments as the mixers pass them: Mamba (S4D-Real A, Δ in [1e-3, 1e-1]), B2S6, S4D."""
    g = torch.Generator(device="cpu").manual_seed(seed)

    def rnd(*shape, dt=dtype):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dt)

    k = torch.arange(1, n + 1, dtype=torch.float32).expand(d, n)
    A = (-k if not complex_a else torch.complex(-0.5 * torch.ones(d, n), math.pi * (k - 1))).to(device)
    step0 = torch.exp(torch.rand(d, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    dt_bias = (step0 + torch.log(-torch.expm1(-step0))).to(device)  # softplus⁻¹(Δ0)
    t = dict(u=rnd(b, L, d), A=A)
    if kind == "s4d":
        t.update(dt=dt_bias.clone(), B_bias=rnd(d, n, dt=torch.complex64), C_bias=rnd(d, n, dt=torch.complex64),
                 D=rnd(d, dt=torch.float32))  # fmt: skip
        opts = dict(discretization="zoh")
    else:
        t.update(dt=0.5 * rnd(b, L, d), B=rnd(b, L, h, n), C=rnd(b, L, h, n), D=rnd(d, dt=torch.float32),
                 z=rnd(b, L, d), dt_bias=dt_bias)  # fmt: skip
        opts = dict(discretization="euler")
        if kind == "b2s6":
            t["B_bias"] = 0.5 * rnd(d, n, dt=torch.complex64)
            opts = dict(discretization="zoh")
    return t, opts


def time_major_inputs(t):
    """``t`` with u, dt, z in mamba_ssm's layout: (b, d, L) memory, seen by the scan contract as (b, L, d) views."""
    return {k: same_layout(v, True) if v.dim() == 3 else v for k, v in t.items()}


def call(t, opts, backend, grad=False):
    t = {k: v.detach().requires_grad_(grad and (v.is_floating_point() or v.is_complex())) for k, v in t.items()}
    y, last = selective_scan(
        t["u"], t["dt"], t["A"], t.get("B"), t.get("C"), B_bias=t.get("B_bias"), C_bias=t.get("C_bias"),
        D=t.get("D"), z=t.get("z"), dt_bias=t.get("dt_bias"), return_last_state=True, backend=backend, **opts,
    )  # fmt: skip
    return y, last, t


def errors(shape):
    """‖out − ref‖ / ‖ref‖ of y, last state and every gradient, Triton vs float64 reference (1 row, L ≤ 4096);
    also returns those inputs and the reference y, to measure a peer's error on the same data."""
    name, b, d, L, n, complex_a, h, dtype, kind = shape
    t, opts = make_inputs(1, d, min(L, 4096), n, complex_a, h, dtype, kind, "cuda", seed=1)
    y, last, leaves = call(t, opts, "triton", grad=True)
    gy = torch.randn_like(y, dtype=torch.float32)
    (y.float() * gy).sum().backward()
    y64, last64, leaves64 = call(float64(t), opts, "reference", grad=True)
    (y64 * gy.double()).sum().backward()

    def rel(a, r):
        return ((a.to(r.dtype) - r).norm() / r.norm()).item()

    out = {"y": rel(y, y64), "last_state": rel(last, last64)}
    for key, v in leaves.items():
        if v.grad is not None:
            out["d" + key] = rel(v.grad, leaves64[key].grad)
    return out, t, y64


def bench(fn, ms=200, quick=False):
    """Median µs: ``triton.testing.do_bench``, or for slow code (``quick``) one warm-up and three timed runs."""
    import triton

    if not quick:
        return 1e3 * triton.testing.do_bench(fn, warmup=25, rep=ms, return_mode="median")
    times = []
    for i in range(4):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        if i:
            times.append(1e3 * start.elapsed_time(end))
    return sorted(times)[1]


def fwd_and_fwdbwd(make_call, quick=False):
    """Median µs of forward and forward+backward of ``make_call(grad) -> (y, leaves)``."""
    fwd = bench(lambda: make_call(False), quick=quick)
    gy = torch.randn_like(make_call(False)[0])

    def step():
        y, leaves = make_call(True)
        torch.autograd.grad(y, [v for v in leaves.values() if v.requires_grad], gy)

    return fwd, bench(step, quick=quick)


def mamba_peer():
    """mamba_ssm's ``selective_scan_fn`` if installed or buildable (``kernels/mamba_peer.py``), else None."""
    from kernels.mamba_peer import selective_scan_fn

    return selective_scan_fn()


def mamba_inputs(t):
    """The scan's inputs in mamba_ssm's own layouts: u, dt, z (b, d, L); B, C (b, h, n, L), all contiguous."""
    out = {k: v.transpose(1, 2).contiguous() if v.dim() == 3 else v for k, v in t.items()}
    out.update(B=t["B"].permute(0, 2, 3, 1).contiguous(), C=t["C"].permute(0, 2, 3, 1).contiguous())
    return out


def mamba_call(fn, t, grad):
    """mamba_ssm's ``fn`` on ``mamba_inputs(t)``; y (b, d, L) and the leaves. With a B_bias (B2S6), B and C are
    first built per channel (``kernels.bench.mamba_weights``, G = d) inside the call, so the materialisation
    and its backward (the sums back to B, C, B_bias) are timed with the scan; with complex A and no bias, B and C
    become (re, im) pairs there, also inside the call."""
    leaves = {k: v.detach().requires_grad_(grad) for k, v in t.items()}
    B, C = mamba_weights(leaves["B"], leaves["C"], leaves.get("B_bias"), leaves["A"].is_complex(), leaves["u"].dtype)
    y = fn(leaves["u"], leaves["dt"], leaves["A"], B, C, D=leaves["D"], z=leaves["z"], delta_bias=leaves["dt_bias"],
           delta_softplus=True)  # fmt: skip
    return y, leaves


def scan_case(shape):
    """The shape as a ``kernels.bench.ScanCase`` (for its floor)."""
    from kernels.bench import ScanCase

    name, b, d, L, n, complex_a, h, dtype, kind = shape
    parts = {"mamba": ("selective", "selective"), "b2s6": ("both", "selective"), "s4d": ("bias", "bias")}[kind]
    return ScanCase(b, L, d, n, h=h, complex_A=complex_a, complex_B=False, complex_C=False, B=parts[0], C=parts[1],
                    dt="invariant" if kind == "s4d" else "selective", z=kind != "s4d",
                    dtype=str(dtype).split(".")[-1])  # fmt: skip


def train_step_check():
    """4 residual B2S6 layers (d=512, L=2048, b=8, default config): one loss and backward with the Triton and the
    torch backends from the same weights, and with the torch backend in float64 as the referee; returns the losses,
    the largest relative gradient difference between the two float32 backends (and its parameter) and each one's
    largest relative gradient error against float64."""
    import zoo.mixers  # noqa: F401  (registers the mixers)
    from zoo.registry import get_mixer, make_config

    x = torch.randn(8, 2048, 512, device="cuda")
    target = torch.randn_like(x)
    result = {}
    for backend, dtype in (("triton", torch.float32), ("torch", torch.float32), ("torch64", torch.float64)):
        torch.manual_seed(0)
        layers = torch.nn.ModuleList(
            get_mixer("b2s6")(512, make_config("b2s6", scan_backend=backend.removesuffix("64"))) for _ in range(4)
        ).to("cuda", dtype)
        t0 = time.time()
        h = x.to(dtype)
        for layer in layers:
            h = h + layer(h)
        loss = F.mse_loss(h, target.to(dtype))
        loss.backward()
        torch.cuda.synchronize()
        result[backend] = (loss.item(), {k: p.grad.double() for k, p in layers.named_parameters()}, time.time() - t0)

    def worst(grads, reference):
        return max((((grads[k] - g).norm() / g.norm().clamp_min(1e-30)).item(), k) for k, g in reference.items())

    (loss_t, grads_t, sec_t), (loss_r, grads_r, sec_r), (loss_64, grads_64, _) = result.values()
    diff, param = worst(grads_t, grads_r)
    return dict(loss_triton=loss_t, loss_torch=loss_r, loss_float64=loss_64, max_rel_grad_diff=diff,
                max_rel_grad_diff_param=param, max_rel_grad_err_triton=worst(grads_t, grads_64)[0],
                max_rel_grad_err_torch=worst(grads_r, grads_64)[0], seconds_triton=sec_t,
                seconds_torch=sec_r)  # fmt: skip


def bench_shape(shape, peer, ceilings, with_torch):
    """One row of the table: errors, µs per backend (fwd, fwd+bwd), floor."""
    name, b, d, L, n, complex_a, h, dtype, kind = shape
    t0 = time.time()
    row = dict(shape=name, b=b, d=d, L=L, n=n, h=h, complex=complex_a, dtype=str(dtype).split(".")[-1])
    row["errors_vs_float64"], t_small, y_ref = errors(shape)
    t, opts = make_inputs(b, d, L, n, complex_a, h, dtype, kind, "cuda")
    t_tm = time_major_inputs(t)

    def ours(backend, inputs):
        def make(grad):
            y, _, leaves = call(inputs, opts, backend, grad)
            return y, leaves

        return make

    def fft(grad):
        leaves = {k: v.detach().requires_grad_(grad) for k, v in t.items()}
        y = RUNNERS["fft_s4d"].fn(dict(leaves, dt_softplus=True))  # kernels.bench's FFT-convolution peer
        return y, leaves

    row["triton_us"] = fwd_and_fwdbwd(ours("triton", t_tm))
    row["triton_rowmajor_us"] = fwd_and_fwdbwd(ours("triton", t))
    if with_torch:
        row["torch_us"] = fwd_and_fwdbwd(ours("torch", t), quick=True)
    if kind == "s4d":
        row["fft_us"] = fwd_and_fwdbwd(fft)
    if peer is not None and kind != "s4d":
        t_m = mamba_inputs(t)
        key = "mamba_materialised" if kind == "b2s6" else "mamba"
        row[f"{key}_us"] = fwd_and_fwdbwd(lambda grad: mamba_call(peer, t_m, grad))
        y_m = mamba_call(peer, mamba_inputs(t_small), False)[0].transpose(1, 2)
        y_peer_ref = y_ref
        if kind == "b2s6":  # mamba_ssm on B, C materialised per channel computes Euler, not ZOH
            y_peer_ref = call(float64(t_small), dict(opts, discretization="euler"), "reference")[0]
        row["errors_vs_float64"][f"{key}_y"] = ((y_m.double() - y_peer_ref).norm() / y_peer_ref.norm()).item()
    row["floor_us"] = floor_us(scan_case(shape), ceilings)
    row["seconds"] = time.time() - t0
    return row


def sweep(shape, configs):
    """µs (fwd, fwd+bwd) of the Triton scan per tiling (``launch_config`` keyword overrides; ``lti_config`` ones
    for the time-invariant s4d shape) on one shape, time-major inputs; each tiling's y and du are compared with the
    first tiling's (relative error)."""
    from kernels.scan import autograd, lti
    from kernels.scan.contract import check_scan_args

    name, b, d, L, n, complex_a, h, dtype, kind = shape
    t, opts = make_inputs(b, d, L, n, complex_a, h, dtype, kind, "cuda")
    t = time_major_inputs(t)
    gy = torch.randn(b, L, d, device="cuda", dtype=dtype)
    out, first = {}, None
    for overrides in configs:
        if kind == "s4d":
            cfg = lti.lti_config(n, t["u"].device, **overrides)
            key = "-".join(f"{k}{v}" for k, v in dataclasses.asdict(cfg).items())
            scan = functools.partial(lti.scan_lti, cfg=cfg)
        else:
            cfg = autograd.launch_config(b, L, d, n, h, t["u"].device, is_complex=complex_a,
                                         itemsize=t["u"].element_size(), **overrides)  # fmt: skip
            key = (f"R{cfg.block_r}-T{cfg.tile}-w{cfg.num_warps}-u{cfg.unroll}-chunks{cfg.n_chunks}-{cfg.bwd_n_chunks}"
                   f"-bwdR{cfg.bwd_block_r}-bwdw{cfg.bwd_num_warps}-bwdu{cfg.bwd_unroll}-reg{cfg.maxnreg}"
                   f"-bwdreg{cfg.bwd_maxnreg}-stages{cfg.stages}-bwdstages{cfg.bwd_stages}")  # fmt: skip
            scan = functools.partial(autograd.scan_with_config, cfg=cfg)

        def make(grad, scan=scan):
            leaves = {k: v.detach().requires_grad_(grad and (v.is_floating_point() or v.is_complex()))
                      for k, v in t.items()}  # fmt: skip
            args = check_scan_args(
                leaves["u"], leaves["dt"], leaves["A"], leaves.get("B"), leaves.get("C"), leaves.get("B_bias"),
                leaves.get("C_bias"), leaves.get("D"), leaves.get("z"), leaves.get("dt_bias"), True,
                opts["discretization"], None,
            )  # fmt: skip
            return scan(args)[0], leaves

        try:
            y, leaves = make(True)
            (du,) = torch.autograd.grad(y, [leaves["u"]], gy)
            first = first or (y.float(), du.float())
            diff = [((a.float() - r).norm() / r.norm()).item() for a, r in zip((y, du), first, strict=True)]
            out[key] = dict(zip(("fwd_us", "fwdbwd_us"), fwd_and_fwdbwd(make), strict=True), y_vs_first=diff[0],
                            du_vs_first=diff[1])  # fmt: skip
        except Exception as error:  # a tiling that does not compile or fit is reported, not fatal
            out[key] = repr(error)[:200]
        print(name, key, out[key], flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for gpu_bench.json and gpu_bench.md")
    parser.add_argument("--shapes", default="", help="comma-separated shape names (default: all)")
    parser.add_argument("--skip-torch", action="store_true", help="do not time the torch backend")
    parser.add_argument("--train-step", action="store_true", help="also check a 4-layer B2S6 training step")
    parser.add_argument("--sweep", default="", help="shape names whose Triton tilings to sweep first")
    parser.add_argument("--tilings", default="", help="JSON list of launch_config overrides for --sweep")
    args = parser.parse_args()
    import triton

    only = set(filter(None, args.shapes.split(",")))
    shapes = [s for s in SHAPES if not only or s[0] in only]
    gpu = torch.cuda.get_device_name()
    ceilings = device_ceilings()
    bw, exp_rate = ceilings["copy_bytes_per_s"], ceilings["exp_per_s"]
    print(f"{gpu}; copy {bw / 1e12:.2f} TB/s; exp {exp_rate / 1e12:.2f} T/s", flush=True)
    tilings = json.loads(args.tilings) if args.tilings else [{}, dict(unroll=1, bwd_unroll=1)]
    sweeps = {s[0]: sweep(s, tilings) for s in SHAPES if s[0] in set(args.sweep.split(","))}
    train = None
    if args.train_step:
        train = train_step_check()
        print("train step:", json.dumps(train), flush=True)
    peer = mamba_peer()
    from kernels.mamba_peer import missing

    print(f"mamba_ssm: {'present' if peer else 'absent — ' + str(missing())}", flush=True)
    rows = []
    for shape in shapes:
        row = bench_shape(shape, peer, ceilings, with_torch=not args.skip_torch)
        rows.append(row)
        print(json.dumps(row), flush=True)

    meta = dict(gpu=gpu, torch=torch.__version__, triton=triton.__version__, copy_TBps=bw / 1e12,
                exp_Tps=exp_rate / 1e12, mamba_ssm=peer is not None, train_step=train,
                sweeps=sweeps)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_bench.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    table = markdown(rows, meta)
    (out / "gpu_bench.md").write_text(table)
    print(table)


def markdown(rows, meta):
    def cell(row, key, i):
        return f"{row[key][i]:.0f}" if key in row else "—"

    def ratio(row, key):  # how many times faster ours is than ``key`` (fwd / fwd+bwd)
        if key not in row:
            return "—"
        return f"{row[key][0] / row['triton_us'][0]:.3g} / {row[key][1] / row['triton_us'][1]:.3g}"

    lines = [
        f"GPU: {meta['gpu']}, torch {meta['torch']}, triton {meta['triton']}; copy {meta['copy_TBps']:.2f} TB/s, "
        f"exp {meta['exp_Tps']:.2f} T/s; mamba_ssm {'present' if meta['mamba_ssm'] else 'absent'}.",
        "",
        "| shape | triton fwd µs | triton fwd+bwd µs | torch fwd / fwd+bwd µs | ×torch | peer fwd / fwd+bwd µs | "
        "×peer | floor fwd / fwd+bwd µs | ×floor fwd / fwd+bwd | rel err y, grads (peer y) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"mamba_us": "mamba", "mamba_materialised_us": "mamba, B/C per channel, Euler", "fft_us": "fft"}
    for r in rows:
        peer_key = next((key for key in labels if key in r), None)
        peer = f"{cell(r, peer_key, 0)} / {cell(r, peer_key, 1)} ({labels[peer_key]})" if peer_key else "—"
        err = r["errors_vs_float64"]
        grads = max(v for k, v in err.items() if k.startswith("d"))
        peer_y = peer_key and peer_key[:-3] + "_y"  # the materialised peer's error is against the Euler reference
        peer_err = f" ({err[peer_y]:.1e})" if peer_y in err else ""
        lines.append(
            f"| {r['shape']} | {r['triton_us'][0]:.0f} | {r['triton_us'][1]:.0f} | {cell(r, 'torch_us', 0)} / "
            f"{cell(r, 'torch_us', 1)} | {ratio(r, 'torch_us')} | {peer} | {ratio(r, peer_key) if peer_key else '—'} | "
            f"{r['floor_us'][0]:.0f} / {r['floor_us'][1]:.0f} | "
            f"{r['triton_us'][0] / r['floor_us'][0]:.1f} / {r['triton_us'][1] / r['floor_us'][1]:.1f} | "
            f"{err['y']:.1e}, {grads:.1e}{peer_err} |"
        )
    if any("mamba_materialised_us" in r for r in rows):
        lines += [
            "",
            "mamba, B/C per channel, Euler: mamba_ssm's `selective_scan_fn` on B + B_bias and C built per channel "
            "(G = d, materialisation timed) with Euler B (it has no zero-order hold), timed against the Triton "
            "scan's ZOH; its y error is against the float64 reference run with Euler on the same inputs.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
