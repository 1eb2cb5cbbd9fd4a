"""Benchmark of the selective-scan backends, side by side: ``python -m kernels.bench``.

For every shape of a named set and every backend, the median time of the forward pass (under ``no_grad``) and
of forward + backward (random upstream gradient, gradients to every tensor argument) over ``--repeats`` runs;
the runs of the backends are interleaved so that a change of machine load hits all of them alike. On the CPU
each run is one call timed with the host clock around it, after one warm-up round; on CUDA each run is a
``triton.testing.do_bench`` median (device events, L2 cleared between calls; its own warm-up), as in
``benchmarks/gpu_bench.py``. ``--layout`` says how u, dt, z are stored: ``row-major`` (b, L, d) memory or
``time-major`` (b, L, d) views of (b, d, L) memory, mamba_ssm's layout (the default on CUDA); the upstream
gradient is stored like each backend's own y. Each backend's output and gradients are compared with the float64
reference on the same values. Writes ``<device>_<backends>_vs_<baseline>.json`` (one record per shape and
backend, each naming its timer and layout, plus the environment; ``_<layout>`` is appended to the name for a
layout other than the device's default) and a markdown table of the same name.

Extending it: a new implementation or a peer (mamba_ssm's ``selective_scan_fn``, an FFT-convolution S4D)
is one :func:`register_runner` call with a ``supports`` predicate (peers run only the shapes they can
express; ``fft_s4d``, ``mamba_ssm`` and, for B2S6, ``mamba_ssm_materialised`` are registered; a runner that
computes another variant of a case, like mamba_ssm's Euler-only B, says so with ``computes=`` and is compared with
the reference run that way; ``peer=True`` makes every other backend of the shape compared with it, ``needs=``
says why it cannot run here — a requested peer that cannot is named with the reason and left out — and
``setup=`` is done once before a CUDA run, such as building mamba_ssm's extension); a new shape is a
:class:`ScanCase` in :data:`SHAPE_SETS` (``--shapes gpu`` is issue 4's table); further columns (a bandwidth floor,
say) are keys added to the records in :func:`measure`. The JSON and table are rewritten after every shape, so an
interrupted run keeps what it timed. ``benchmarks/gpu_bench.py`` is the one-call GPU check (floors, tiling
sweeps, mamba_ssm built from source).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from kernels import mamba_peer
from kernels.scan import selective_scan
from kernels.scan.autograd import same_layout

LAYOUTS = ("row-major", "time-major")
DEFAULT_LAYOUT = {"cpu": "row-major", "cuda": "time-major"}
TIMERS = {"cpu": "host clock median", "cuda": "do_bench median"}  # what ``measure`` uses on each device
DO_BENCH_MS = {"warmup": 25, "rep": 200}  # triton.testing.do_bench's warm-up and timed milliseconds, as gpu_bench


@dataclass(frozen=True)
class ScanCase:
    """One configuration of the scan contract: sizes and every switch; ``inputs()`` draws random arguments.

    ``B`` / ``C`` say which parts are given: ``"selective"`` (b, L, h, n), ``"bias"`` (d, n) or ``"both"``.
    ``complex_B`` / ``complex_C`` make those parts complex (only with ``complex_A``); ``dt`` is
    ``"selective"`` (b, L, d) or ``"invariant"`` (d,).
    """

    b: int
    L: int
    d: int
    n: int
    h: int = 1
    complex_A: bool = True
    complex_B: bool = True
    complex_C: bool = False
    B: str = "both"
    C: str = "selective"
    discretization: str = "zoh"
    dt: str = "selective"
    D: bool = True
    z: bool = False
    dt_bias: bool = True
    dt_softplus: bool = True
    initial_state: bool = False
    return_last_state: bool = True
    dtype: str = "float32"  # dtype of u, dt, z, B, C (torch attribute name); state and accumulation stay float32

    @property
    def name(self) -> str:
        """e.g. ``b2-L63-d12-n5-h3-complex-bias``: sizes, the kind of A, and whether B has a bias."""
        kind = "complex" if self.complex_A else "real"
        bias = "-bias" if self.B in ("bias", "both") else ""
        return f"b{self.b}-L{self.L}-d{self.d}-n{self.n}-h{self.h}-{kind}{bias}"

    def inputs(
        self, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0, layout: str = "row-major"
    ) -> dict:
        """Keyword arguments of :func:`selective_scan` (all but ``backend``), drawn from ``seed``.

        ``layout``: ``"row-major"`` or ``"time-major"``, where u, dt and z, the (b, L, d) arguments, are views of
        (b, d, L) memory; the values are the same either way.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
        g = torch.Generator().manual_seed(seed)
        b, L, d, n, h = self.b, self.L, self.d, self.n, self.h
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        real = torch.float64 if dtype == torch.float64 else torch.float32

        def randn(*shape, complex_=False):
            x = torch.randn(*shape, 2 if complex_ else 1, generator=g, dtype=real)
            return torch.view_as_complex(x).to(cdtype) / math.sqrt(2) if complex_ else x[..., 0].to(dtype)

        A_re = -torch.exp(0.5 * torch.randn(d, n, generator=g, dtype=real))  # about −(0.4 … 2.7)
        A = torch.complex(A_re, math.pi * torch.arange(n, dtype=real) + torch.randn(d, n, generator=g, dtype=real))
        if self.dt_softplus:  # Δ = softplus(dt + dt_bias) around 0.1
            dt = randn(*((d,) if self.dt == "invariant" else (b, L, d))) - 2
            dt_bias = 0.5 * randn(d)
        else:  # Δ = dt + dt_bias must stay positive
            dt = (0.1 * torch.rand(*((d,) if self.dt == "invariant" else (b, L, d)), generator=g) + 0.01).to(dtype)
            dt_bias = (0.01 * torch.rand(d, generator=g)).to(dtype)
        args = dict(
            u=randn(b, L, d),
            dt=dt,
            A=A.to(cdtype) if self.complex_A else A_re.to(dtype),
            B=randn(b, L, h, n, complex_=self.complex_B) if self.B in ("selective", "both") else None,
            C=randn(b, L, h, n, complex_=self.complex_C) if self.C in ("selective", "both") else None,
            B_bias=randn(d, n, complex_=self.complex_B) if self.B in ("bias", "both") else None,
            C_bias=randn(d, n, complex_=self.complex_C) if self.C in ("bias", "both") else None,
            D=randn(d) if self.D else None,
            z=randn(b, L, d) if self.z else None,
            dt_bias=dt_bias if self.dt_bias else None,
            dt_softplus=self.dt_softplus,
            discretization=self.discretization,
            initial_state=randn(b, d, n, complex_=self.complex_A) if self.initial_state else None,
            return_last_state=self.return_last_state,
        )
        args = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
        if layout == "time-major":
            steps = [k for k in ("u", "dt", "z") if args[k] is not None and args[k].dim() == 3]
            args |= {k: same_layout(args[k], True) for k in steps}
        return args


def float64(inputs: dict) -> dict:
    """The same arguments in float64 / complex128."""
    return {
        k: (v.to(torch.complex128) if v.is_complex() else v.double()) if isinstance(v, torch.Tensor) else v
        for k, v in inputs.items()
    }


# Named shape sets: the CPU set is the acceptance shape of the fast CPU backend plus S6 and S4D shapes.
SHAPE_SETS: dict[str, dict[str, ScanCase]] = {
    "cpu": {
        "b2s6": ScanCase(8, 1024, 128, 16, h=8, B="both", C="selective", discretization="zoh"),
        "s6": ScanCase(
            8,
            1024,
            128,
            16,
            h=1,
            complex_A=False,
            complex_B=False,
            B="selective",
            C="selective",
            discretization="euler",
            z=True,
        ),  # fmt: skip
        "s4d": ScanCase(8, 1024, 128, 32, complex_C=True, B="bias", C="bias", dt="invariant"),
    },
    # issue 4's GPU table (Mamba's usual call: D, z, dt_bias, softplus; B2S6 with B_bias; S4D time-invariant)
    "gpu": {
        f"{name}-{dtype}": ScanCase(
            b,
            L,
            d,
            n,
            h=h,
            complex_A=cplx,
            complex_B=False,
            complex_C=False,
            B=B,
            C=C,
            discretization=disc,
            dt=dt,
            z=z,
            dt_bias=dt == "selective",
            dtype=dtype,
        )
        for name, b, d, L, n, cplx, h, B, C, disc, dt, z, dtypes in [
            (
                "mamba130m",
                8,
                1536,
                2048,
                16,
                False,
                1,
                "selective",
                "selective",
                "euler",
                "selective",
                True,
                ("bfloat16", "float32"),
            ),
            ("long", 2, 512, 16384, 16, False, 1, "selective", "selective", "euler", "selective", True, ("bfloat16",)),
            ("n64", 8, 512, 4096, 64, False, 1, "selective", "selective", "euler", "selective", True, ("bfloat16",)),
            (
                "complex",
                8,
                1536,
                2048,
                16,
                True,
                1,
                "selective",
                "selective",
                "euler",
                "selective",
                True,
                ("bfloat16",),
            ),
            ("b2s6", 8, 512, 2048, 16, True, 8, "both", "selective", "zoh", "selective", True, ("bfloat16",)),
            ("s4d", 16, 256, 4096, 64, True, 1, "bias", "bias", "zoh", "invariant", False, ("float32",)),
        ]
        for dtype in dtypes
    },  # fmt: skip
    "smoke": {
        "b2s6": ScanCase(2, 40, 12, 4, h=3, B="both", C="selective", discretization="zoh"),
        "s6": ScanCase(2, 40, 12, 4, complex_A=False, complex_B=False, B="selective", discretization="euler", z=True),
    },
}


@dataclass(frozen=True)
class Runner:
    """A timed implementation: ``fn(inputs)`` returns the scan's ``y``; ``supports(case, device)`` filters shapes.

    ``computes``: switches of the contract the implementation overrides (``{"discretization": "euler"}`` for a
    peer that has no zero-order hold); its errors are measured against the float64 reference run with them.
    ``peer``: another library's implementation, which every other backend of a shape is compared with
    (``speedup[peer]``, the markdown's "vs peer" column); ``needs``: what is missing when it cannot run here
    (None: it can), said once per run.
    """

    fn: Callable[[dict], torch.Tensor]
    supports: Callable[[ScanCase, str], bool]
    computes: dict = dataclasses.field(default_factory=dict)
    peer: bool = False
    needs: Callable[[], str | None] = lambda: None
    setup: Callable[[], object] | None = None  # called once before a CUDA run that asks for it (e.g. a build)


RUNNERS: dict[str, Runner] = {}


def register_runner(
    name: str,
    supports: Callable[[ScanCase, str], bool] = lambda case, device: True,
    computes: dict | None = None,
    peer: bool = False,
    needs: Callable[[], str | None] = lambda: None,
    setup: Callable[[], object] | None = None,
):
    """Decorator: register ``fn(inputs) -> y`` as the benchmarked implementation ``name`` (fields of
    :class:`Runner`)."""

    def register(fn):
        RUNNERS[name] = Runner(fn, supports, dict(computes or {}), peer, needs, setup)
        return fn

    return register


def _backend_runner(backend: str):
    def run(inputs: dict) -> torch.Tensor:
        return selective_scan(**inputs, backend=backend)[0]

    return run


register_runner("reference")(_backend_runner("reference"))
register_runner("torch")(_backend_runner("torch"))
register_runner("triton", supports=lambda case, device: device == "cuda")(_backend_runner("triton"))


def _fft_s4d(inputs: dict) -> torch.Tensor:
    """Peer for time-invariant S4D: y = K * u by FFT, K[c, l] = 2 Re Σ_k C_k B̄_k exp(Δ A_k l) (zero-order hold)."""
    u, A = inputs["u"], inputs["A"]
    L = u.shape[1]
    dt = inputs["dt"] + (0 if inputs.get("dt_bias") is None else inputs["dt_bias"])
    delta = (torch.nn.functional.softplus(dt) if inputs["dt_softplus"] else dt).float()[:, None]
    Bbar = torch.expm1(delta * A) / A * inputs["B_bias"]
    K = 2 * torch.einsum("dn,dnl->dl", inputs["C_bias"] * Bbar, torch.exp(delta[..., None] * A[..., None] *
                         torch.arange(L, device=u.device))).real  # fmt: skip
    y = torch.fft.irfft(torch.fft.rfft(u.float().transpose(1, 2), n=2 * L) * torch.fft.rfft(K, n=2 * L), n=2 * L)
    y = y[..., :L].transpose(1, 2)
    return (y if inputs.get("D") is None else y + inputs["D"] * u).to(u.dtype)


register_runner(
    "fft_s4d",
    supports=lambda case, device: (
        case.dt == "invariant"
        and case.B == case.C == "bias"
        and case.complex_A
        and not case.z
        and case.discretization == "zoh"
        and not case.initial_state
    ),
    peer=True,
)(_fft_s4d)


def complex_pairs(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(…, L) real or complex -> (…, 2L) in ``dtype``, (re, im) per step: how mamba_ssm takes a variable B or C
    with complex A (``selective_scan_cuda`` checks dtype u's and shape (b, G, n, 2L)); a real x gets zero
    imaginary parts."""
    return torch.view_as_real(x.to(torch.promote_types(x.dtype, torch.complex64))).to(dtype).flatten(-2)


def materialise_b2s6(B: torch.Tensor, C: torch.Tensor, B_bias: torch.Tensor, dtype: torch.dtype):
    """B2S6's B and C as mamba_ssm's variable B, C with one group per channel (G = d), for complex A.

    B, C: (b, h, n, L), real or complex, shared by the d/h channels of each block (mamba_ssm's grouped layout);
    B_bias: (d, n), real or complex, added at every step. Returns B_eff, C_eff of shape (b, d, n, 2L) in
    ``dtype`` (u's): B_eff[b, c, :, t] = B[b, c // (d/h), :, t] + B_bias[c], C_eff likewise without a bias
    (a real C gets zero imaginary parts), each complex value stored as (re, im) pairs along the last axis.
    That is how mamba_ssm takes a variable B or C with complex A: ``selective_scan_cuda`` checks that its dtype
    is u's and its shape (b, G, n, 2L), and ``selective_scan_ref`` reads it as ``view_as_complex`` of
    "... (L two)"; C must have the same G as B (its shape check uses B's group count).
    """
    b, h, n, L = B.shape
    d = B_bias.shape[0]
    B_eff = B[:, :, None] + B_bias.view(h, d // h, n, 1)  # (b, h, d/h, n, L)
    C_eff = C[:, :, None].expand(b, h, d // h, n, L)
    return complex_pairs(B_eff.reshape(b, d, n, L), dtype), complex_pairs(C_eff.reshape(b, d, n, L), dtype)


def mamba_weights(B: torch.Tensor, C: torch.Tensor, B_bias: torch.Tensor | None, complex_A: bool, dtype: torch.dtype):
    """B, C (b, h, n, L) as mamba_ssm takes its variable B and C: with a B_bias (B2S6) built per channel
    (:func:`materialise_b2s6`), else with complex A as (re, im) pairs (:func:`complex_pairs`), else as they are."""
    if B_bias is not None:
        return materialise_b2s6(B, C, B_bias, dtype)
    if complex_A:
        return complex_pairs(B, dtype), complex_pairs(C, dtype)
    return B, C


def mamba_ssm(inputs: dict, selective_scan_fn=None) -> torch.Tensor:
    """Peer: mamba_ssm's ``selective_scan_fn`` (by default :func:`kernels.mamba_peer.selective_scan_fn`: the installed
    one, or one built from ``MAMBA_SELECTIVE_SCAN_SRC``; injectable, so tests can pass a pure-torch model of it) on
    the contract's ``inputs``: u, dt, z as (b, d, L) views, B and C through :func:`mamba_weights`, part of the timed
    work since a user of mamba_ssm has to do it. With B2S6's B_bias (registered as ``mamba_ssm_materialised``)
    it computes the contract with ``discretization="euler"`` whatever the case asks: mamba_ssm has no zero-order
    hold for B (B̄ = Δ·B), so it is a timing peer of the ZOH scan, compared for accuracy with the Euler reference.
    Returns y (b, L, d)."""
    if selective_scan_fn is None:
        selective_scan_fn = mamba_peer.selective_scan_fn()

    def float32(name):  # mamba_ssm takes A (float32 or complex64), D and delta_bias in single precision only
        x = inputs.get(name)
        return None if x is None else x.to(torch.complex64 if x.is_complex() else torch.float32)

    def channels_first(name):
        return None if inputs.get(name) is None else inputs[name].transpose(1, 2)

    B, C = mamba_weights(inputs["B"].permute(0, 2, 3, 1), inputs["C"].permute(0, 2, 3, 1), inputs.get("B_bias"),
                         inputs["A"].is_complex(), inputs["u"].dtype)  # fmt: skip
    y = selective_scan_fn(
        channels_first("u"), channels_first("dt"), float32("A"), B, C, D=float32("D"), z=channels_first("z"),
        delta_bias=float32("dt_bias"), delta_softplus=inputs["dt_softplus"],
    )  # fmt: skip
    return y.transpose(1, 2)


register_runner(
    "mamba_ssm",
    supports=lambda case, device: (
        device == "cuda"
        and case.B == case.C == "selective"
        and case.discretization == "euler"
        and case.dt == "selective"
        and not case.initial_state
        and mamba_peer.available()
    ),
    peer=True,
    needs=mamba_peer.missing,
    setup=mamba_peer.selective_scan_fn,
)(mamba_ssm)

register_runner(
    "mamba_ssm_materialised",
    supports=lambda case, device: (
        device == "cuda"
        and case.complex_A
        and case.B == "both"
        and case.C == "selective"
        and case.dt == "selective"
        and not case.initial_state
        and mamba_peer.available()
    ),
    computes={"discretization": "euler"},
    peer=True,
    needs=mamba_peer.missing,
    setup=mamba_peer.selective_scan_fn,
)(mamba_ssm)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_us(fn: Callable[[], object], device: str) -> float:
    """µs of one call by the host clock, the device synchronised before and after."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return (time.perf_counter() - start) * 1e6


def _do_bench_us(fn: Callable[[], object]) -> float:
    """Median µs of ``fn`` by ``triton.testing.do_bench`` (CUDA events; :data:`DO_BENCH_MS`)."""
    import triton.testing

    return 1e3 * triton.testing.do_bench(fn, **DO_BENCH_MS, return_mode="median")


def _differentiable(inputs: dict) -> tuple[dict, list[str]]:
    """A copy of ``inputs`` whose tensors require grad, and their names."""
    out, names = {}, []
    for k, v in inputs.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().requires_grad_()
            names.append(k)
        out[k] = v
    return out, names


def _rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.detach().to(expected.dtype), expected.detach()
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def measure(
    case: ScanCase,
    runners: list[str],
    device: str,
    repeats: int,
    warmup: int = 1,
    layout: str = "row-major",
    timer: str | None = None,
    once: frozenset[str] = frozenset(),
) -> list[dict]:
    """Time ``runners`` side by side on ``case`` and compare each with the float64 reference (run with the switches
    the runner overrides, :attr:`Runner.computes`); one record each. Runners in ``once`` are timed in the first
    repeat only (the torch backend takes seconds per call at GPU shapes; the kernels' medians take more repeats).

    ``timer`` (default :data:`TIMERS` of ``device``): ``"host clock median"``, the median of ``repeats`` single
    calls after ``warmup`` rounds, or ``"do_bench median"``, the median of ``repeats`` ``do_bench`` medians
    (``warmup`` unused: do_bench warms up itself). ``layout``: that of u, dt, z (:meth:`ScanCase.inputs`); the
    upstream gradient has the same values for every runner, stored like the runner's own y (as
    ``torch.randn_like(y)`` in gpu_bench).
    """
    timer = timer or TIMERS[device]
    if timer == "host clock median":
        rounds = warmup + repeats

        def time_us(fn):
            return _time_us(fn, device)
    elif timer == "do_bench median":
        rounds, warmup, time_us = repeats, 0, _do_bench_us
    else:
        raise ValueError(f"timer must be one of {sorted(set(TIMERS.values()))}, not {timer!r}")
    inputs = case.inputs(getattr(torch, case.dtype), device, layout=layout)
    grad_inputs, names = _differentiable(inputs)
    upstream = torch.randn(case.b, case.L, case.d, device=device, dtype=inputs["u"].dtype)
    upstreams = {}  # runner -> upstream's values in the memory layout of the runner's y

    exact = {}  # sorted overrides -> float64 reference y and gradients

    def reference(computes):
        key = tuple(sorted(computes.items()))
        if key not in exact:
            exact_inputs, _ = _differentiable(float64(inputs) | computes)
            y = RUNNERS["reference"].fn(exact_inputs)
            exact[key] = y, torch.autograd.grad(y, [exact_inputs[k] for k in names], upstream.double())
        return exact[key]

    def forward(name):
        def run():
            with torch.no_grad():
                RUNNERS[name].fn(inputs)

        return run

    def forward_backward(name):
        def run():
            y = RUNNERS[name].fn(grad_inputs)
            if name not in upstreams:
                upstreams[name] = torch.empty_like(y).copy_(upstream)  # empty_like keeps y's strides
            return y, torch.autograd.grad(y, [grad_inputs[k] for k in names], upstreams[name])

        return run

    times = {name: {"fwd": [], "fwd_bwd": []} for name in runners}
    records = []
    for name in runners:
        y, grads = forward_backward(name)()
        y_exact, grads_exact = reference(RUNNERS[name].computes)
        records.append(
            {
                "shape": case.name,
                "case": dataclasses.asdict(case),
                "backend": name,
                "dtype": case.dtype,
                "layout": layout,
                "timer": timer,
                "rel_err_y": _rel_err(y, y_exact),
                "rel_err_grad": max(_rel_err(g, e) for g, e in zip(grads, grads_exact, strict=True)),
                "rel_err_grads": {k: _rel_err(g, e) for k, g, e in zip(names, grads, grads_exact, strict=True)},
            }
            | ({"computes": RUNNERS[name].computes} if RUNNERS[name].computes else {})
        )
    for i in range(rounds):
        for name in runners:
            if name in once and i > warmup:
                continue
            fwd = time_us(forward(name))
            fwd_bwd = time_us(forward_backward(name))
            if i >= warmup:
                times[name]["fwd"].append(fwd)
                times[name]["fwd_bwd"].append(fwd_bwd)
    for record in records:
        t = times[record["backend"]]
        record |= {"fwd_us": statistics.median(t["fwd"]), "fwd_bwd_us": statistics.median(t["fwd_bwd"])}
        record["repeats"] = {"fwd_us": t["fwd"], "fwd_bwd_us": t["fwd_bwd"]}
    return records


def device_ceilings() -> dict:
    """Measured on the current CUDA device: copy bandwidth (bytes read + written per s, a 1 GiB device copy) and
    exp throughput (fp32 exponentials per s, a Triton kernel chaining 256 exps per element in registers)."""
    import triton
    import triton.language as tl

    @triton.jit
    def exps(p, REPS: tl.constexpr, BLOCK: tl.constexpr):
        o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(p + o)
        for _ in range(REPS):
            x = tl.exp(x) * 0.25 - 0.5
        tl.store(p + o, x)

    def median_us(fn):
        return 1e3 * triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")

    x = torch.empty(1 << 28, device="cuda")
    y = torch.empty_like(x)
    copy = 2 * x.numel() * 4 / (median_us(lambda: y.copy_(x)) * 1e-6)
    n, reps = 1 << 24, 256
    z = torch.rand(n, device="cuda")
    exp = n * reps / (median_us(lambda: exps[(n // 1024,)](z, REPS=reps, BLOCK=1024)) * 1e-6)
    return {"copy_bytes_per_s": copy, "exp_per_s": exp}


def floor_us(case: ScanCase, ceilings: dict) -> tuple[float, float]:
    """(forward, forward+backward) floor: max(bytes moved / copy bandwidth, exponentials / exp throughput).

    Bytes: every (b, L, ·) input read once and y written once; the backward reads them and dy again and writes
    each of their gradients. Exponentials: b·L·d·n (×3 for complex A: exp, cos, sin), twice for forward+backward,
    whose backward recomputes the transitions instead of storing (b, L, d, n)."""
    b, L, d, n, h = case.b, case.L, case.d, case.n, case.h
    es = torch.empty((), dtype=getattr(torch, case.dtype)).element_size()
    per_step = d * (2 + (case.dt == "selective") + case.z)  # u, y, dt, z
    per_step += sum(h * n * (2 if cplx else 1) for part, cplx in ((case.B, case.complex_B), (case.C, case.complex_C))
                    if part in ("selective", "both"))  # fmt: skip
    fwd_bytes = b * L * per_step * es
    bwd_bytes = fwd_bytes + b * L * (2 * (per_step - d) + 2 * d) * es  # inputs and dy read, their gradients written
    exps = b * L * d * n * (3 if case.complex_A else 1)
    fwd = max(fwd_bytes / ceilings["copy_bytes_per_s"], exps / ceilings["exp_per_s"])
    fwd_bwd = max(bwd_bytes / ceilings["copy_bytes_per_s"], 2 * exps / ceilings["exp_per_s"])
    return fwd * 1e6, fwd_bwd * 1e6


def add_speedups(records: list[dict], baseline: str) -> None:
    """``speedup[other]`` = other's time / this backend's time (> 1: faster than it), per shape, for ``other`` the
    baseline and every peer (:class:`Runner`'s ``peer``) timed on the same shape: the same named case (``name``,
    which tells dtypes apart where ``shape`` does not), or the same ``shape`` for unnamed records."""

    def case_of(record):
        return record.get("name", record["shape"])

    for r in records:
        for other in records:
            if case_of(other) != case_of(r):
                continue
            if other["backend"] == baseline or (other is not r and RUNNERS[other["backend"]].peer):
                r.setdefault("speedup", {})[other["backend"]] = {k: other[k] / r[k] for k in ("fwd_us", "fwd_bwd_us")}


def environment(device: str) -> dict:
    """Device name, versions, threads and the load average, recorded with every result."""

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
    return {
        "device": device,
        "device_name": name,
        "torch": torch.__version__,
        "triton": version("triton"),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def markdown(records: list[dict], env: dict, baseline: str) -> str:
    """A table: shape, backend, fwd and fwd+bwd µs, speedups over the baseline, errors vs float64."""
    timer = env.get("timer") or next((r["timer"] for r in records if "timer" in r), TIMERS[env["device"]])
    layout = env.get("layout") or next((r["layout"] for r in records if "layout" in r), "row-major")
    lines = [
        f"# Selective scan on {env['device']} ({env['device_name']}), {layout} inputs",
        "",
        f"torch {env['torch']}, triton {env['triton']}, {env['threads']} thread(s) of {env['cpu_count']} cores, load "
        f"average (1, 5, 15 min) before / after: {_loads(env.get('load_average'))} / "
        f"{_loads(env.get('load_average_after'))}. {_TIMER_TEXT.get(timer, timer)} Inputs "
        f"in each case's dtype (float32 unless named), {_LAYOUT_TEXT[layout]}; errors are norm-wise relative errors "
        "against the float64 reference (y; worst input gradient).",
        "",
        *(
            [
                "The CPU was shared with other processes during this run (load average above the number of "
                "cores): absolute times are inflated and noisy; the backends ran interleaved, so the ratios are "
                "fairer than the times.",
                "",
            ]
            if env["device"] == "cpu" and _shared(env)
            else []
        ),
        *(
            [f"Absent, so left out: {'; '.join(f'{k} ({v})' for k, v in env['absent'].items())}.", ""]
            if env.get("absent")
            else []
        ),
        f"| shape | backend | fwd µs | fwd+bwd µs | fwd speedup vs {baseline} | fwd+bwd speedup vs {baseline} "
        "| vs peer fwd / fwd+bwd | rel. err. y | rel. err. grad |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in records:
        s = r.get("speedup", {}).get(baseline, {})
        lines.append(
            f"| {r['name'] + ': ' if 'name' in r else ''}{r['shape']} | {r['backend']}{_computes(r)} "
            f"| {r['fwd_us']:.0f} | {r['fwd_bwd_us']:.0f} "
            f"| {s.get('fwd_us', float('nan')):.1f}× | {s.get('fwd_bwd_us', float('nan')):.1f}× | {_vs_peers(r)} "
            f"| {r['rel_err_y']:.1e} | {r['rel_err_grad']:.1e} |"
            + (
                f" {r['fwd_us'] / r['floor_fwd_us']:.1f} / {r['fwd_bwd_us'] / r['floor_fwd_bwd_us']:.1f} |"
                if "floor_fwd_us" in r
                else ""
            )  # fmt: skip
        )
    if any("floor_fwd_us" in r for r in records):  # GPU: distance to the floor (see floor_us)
        lines[lines.index(next(x for x in lines if x.startswith("| shape")))] += " × floor fwd / fwd+bwd |"
        lines[lines.index(next(x for x in lines if x.startswith("|---|")))] += "---:|"
    return "\n".join(lines) + "\n"


_TIMER_TEXT = {
    "host clock median": "Host clock around each synchronised call; median of the repeats after a warm-up round.",
    "do_bench median": f"Device time: median over the repeats of `triton.testing.do_bench` medians (warm-up "
    f"{DO_BENCH_MS['warmup']} ms, {DO_BENCH_MS['rep']} ms of timed calls, L2 cleared before each).",
}
_LAYOUT_TEXT = {
    "row-major": "u, dt, z in row-major (b, L, d) memory",
    "time-major": "u, dt, z as (b, L, d) views of (b, d, L) memory (time-major, mamba_ssm's layout)",
}


def _vs_peers(record: dict) -> str:
    """e.g. ``1.08× / 1.09× mamba_ssm``: this backend's speedup over each peer timed on the shape; — if none."""
    peers = [(k, v) for k, v in record.get("speedup", {}).items() if k in RUNNERS and RUNNERS[k].peer]
    return "; ".join(f"{v['fwd_us']:.2f}× / {v['fwd_bwd_us']:.2f}× {k}" for k, v in peers) or "—"


def _computes(record: dict) -> str:
    """`` (discretization=euler)`` for a runner that computes another variant of the case (``Runner.computes``)."""
    computes = record.get("computes")
    return f" ({', '.join(f'{k}={v}' for k, v in computes.items())})" if computes else ""


def _loads(load) -> str:
    return "n/a" if not load else ", ".join(f"{x:.1f}" for x in load)


def _shared(env: dict) -> bool:
    loads = [x[0] for x in (env.get("load_average"), env.get("load_average_after")) if x]
    return any(load > (env.get("cpu_count") or 1) for load in loads)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m kernels.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", nargs="+", default=["torch"], choices=sorted(RUNNERS), help="what to time")
    parser.add_argument("--baseline", default="reference", choices=sorted(RUNNERS), help="timed too; ratios vs it")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--shapes", default="cpu", choices=sorted(SHAPE_SETS), help="named shape set")
    parser.add_argument("--out", type=Path, default=Path("benchmarks"), help="folder for the JSON and markdown")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend (CPU: after one warm-up)")
    parser.add_argument(
        "--once",
        nargs="+",
        default=[],
        choices=sorted(RUNNERS),
        metavar="BACKEND",
        help="backends timed in one repeat only (e.g. the slow torch backend at --shapes gpu)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="memory of u, dt, z: time-major = (b, L, d) views of (b, d, L) memory (default: time-major on cuda, "
        "row-major on cpu)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    layout = args.layout or DEFAULT_LAYOUT[args.device]
    env = environment(args.device)
    env["layout"], env["timer"] = layout, TIMERS[args.device]
    if args.device == "cuda":
        env["do_bench_ms"] = DO_BENCH_MS
    ceilings = device_ceilings() if args.device == "cuda" else None
    env["ceilings"] = ceilings
    runners = [args.baseline, *(b for b in args.backend if b != args.baseline)]
    if args.device == "cuda":  # up-front work (building mamba_ssm's extension) before anything is timed
        for setup in dict.fromkeys(RUNNERS[r].setup for r in runners if RUNNERS[r].setup and not RUNNERS[r].needs()):
            setup()
    env["absent"] = {r: reason for r in runners if (reason := RUNNERS[r].needs())}
    for name, reason in env["absent"].items():
        print(f"{name}: absent, its rows are left out — {reason}", flush=True)
    stem = f"{args.device}_{'_'.join(b for b in runners if b != args.baseline)}_vs_{args.baseline}"
    stem += "" if layout == DEFAULT_LAYOUT[args.device] else f"_{layout}"
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    cases = SHAPE_SETS[args.shapes]
    for i, (shape, case) in enumerate(cases.items(), 1):
        usable = [r for r in runners if RUNNERS[r].supports(case, args.device)]
        for record in measure(case, usable, args.device, args.repeats, layout=layout, once=frozenset(args.once)):
            if ceilings:
                record["floor_fwd_us"], record["floor_fwd_bwd_us"] = floor_us(case, ceilings)
            records.append({"name": shape, **record})
            print(f"[{i}/{len(cases)}] {shape:8s} {record['backend']:10s} fwd {record['fwd_us']:12.0f} µs  "
                  f"fwd+bwd {record['fwd_bwd_us']:12.0f} µs  err {record['rel_err_y']:.1e}", flush=True)  # fmt: skip
        add_speedups(records, args.baseline)  # written after every shape: an interrupted run keeps what it timed
        env["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        (args.out / f"{stem}.json").write_text(json.dumps({"environment": env, "records": records}, indent=1) + "\n")
        (args.out / f"{stem}.md").write_text(markdown(records, env, args.baseline))
    print(f"wrote {args.out / stem}.json and .md")
    return records


if __name__ == "__main__":
    main()
