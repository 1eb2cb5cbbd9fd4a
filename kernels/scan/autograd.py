"""The Triton backend: host-side preparation, launch configuration and the ``torch.autograd.Function``.

The forward keeps only the state at every tile start (``T`` steps apart) — O(b·d·n·L/T) memory — and the
backward recomputes everything else from those checkpoints (``kernels/scan/triton_bwd.py``).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import torch

from kernels.scan.contract import ScanArgs


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@dataclass(frozen=True)
class LaunchConfig:
    """Tiling of one scan: ``block_r`` channels per program (``bwd_block_r`` in the backward, whose tiles hold more
    live values), tiles of ``tile`` steps, ``tiles_per_chunk`` tiles per program (the sequence is split into
    ``n_chunks`` chunks run in parallel and combined; the backward's own split is ``bwd_tiles_per_chunk`` /
    ``bwd_n_chunks``), ``num_warps`` / ``bwd_num_warps`` warps per program."""

    block_r: int
    tile: int
    tiles_per_chunk: int
    n_tiles: int
    n_chunks: int
    num_warps: int
    bwd_block_r: int
    bwd_num_warps: int
    unroll: int = 1  # states per statically unrolled group (divides n): their loads are issued together
    bwd_unroll: int = 1
    time_major: bool = False  # copy row-major u, dt, z into (b, d, L) memory first (the scan runs along time)
    maxnreg: int | None = None  # registers per thread, GPU only: more programs per SM, maybe spills (0: no cap)
    bwd_maxnreg: int | None = None
    bwd_stages: int = 1  # software-pipelining stages of the backward's loop over states (1: none)
    stages: int = 1  # the same for the forward's loop over groups of states
    bwd_tiles_per_chunk: int = 0  # launch_config sets it (its own split on the GPU, else the forward's)

    @property
    def bwd_n_chunks(self) -> int:
        return -(-self.n_tiles // self.bwd_tiles_per_chunk)


# On the GPU, row-major (b, L, d) inputs are first copied into (b, d, L) memory: tiles then have time on the fast
# axis, so each thread scans a run of consecutive steps (see benchmarks/README.md for the measured difference).
TIME_MAJOR_ON_GPU = True


def _largest_pow2_divisor(p: int, cap: int) -> int:
    r = 1
    while r * 2 <= cap and p % (r * 2) == 0:
        r *= 2
    return r


def _tiles_per_chunk(n_tiles: int, programs: int, wanted: int) -> int:
    """Tiles per chunk so that ``programs`` per chunk times the chunks reach ``wanted`` (at most one tile each)."""
    return -(-n_tiles // max(1, min(n_tiles, -(-wanted // programs))))


def launch_config(b: int, L: int, d: int, n: int, h: int, device: torch.device, *, is_complex: bool = False,
                  itemsize: int = 4, block_r=None, tile=None, tiles_per_chunk=None, num_warps=None, bwd_block_r=None,
                  bwd_num_warps=None, unroll=None, bwd_unroll=None, maxnreg=None, bwd_maxnreg=None,
                  bwd_stages=None, stages=None, bwd_tiles_per_chunk=None) -> LaunchConfig:  # fmt: skip
    """Pick the tiling. A program's channels share one block of B/C, so ``block_r`` divides d / h (a power of two);
    chunks are added until there are enough programs to fill the GPU. Small tiles under the interpreter.

    GPU defaults are the fastest measured on an H200 (benchmarks/README.md). Programs of one warp, tiles of
    T = 512 / itemsize steps (256 for 16-bit inputs, 128 for float32: one 16-byte load per thread and run, the
    layout the backward's lane-shuffle flip needs). Forward: R = 2 channels for real A while that leaves ≥ 8
    programs per SM, capped at 128 registers for 16-bit inputs (mamba130m-bf16 430 µs against 444 for R = 4 on 4
    warps, n64-bf16 884 against 1083, mamba130m-fp32 at T = 128 528 against 781), its states unrolled 4 at a time
    for 16-bit inputs (B and C in bf16: mamba130m-bf16 339 against 357 unrolled 2, n64-bf16 828 against
    855-862) and 2 for float32; else R = 1 with up to 16 states unrolled and no cap (long-bf16, 1024 channels:
    357 µs in one pass against 724 for R = 4 on 4 warps in 2 chunks); complex A R = 1, not unrolled (complex-bf16
    837 against 925, b2s6-bf16 476 against 504). Backward: R = 2 for real A and R = 1 for complex A (whose tile
    holds twice the values), its loop over states software-pipelined in 3 stages (mamba130m-bf16 forward+backward:
    1 stage 2622 µs, 2 stages 2377, 3 stages 2148); its own split into chunks, until there are 4 programs per SM
    (long-bf16: 2 chunks)."""
    p = d // h
    if interpreting() or device.type != "cuda":
        block_r = block_r or _largest_pow2_divisor(p, 4)
        tile, tiles_per_chunk = tile or 8, tiles_per_chunk or 2
        num_warps = bwd_num_warps = 1
        bwd_block_r = bwd_block_r or block_r
        unroll, bwd_unroll = unroll or 1, bwd_unroll or 1
        bwd_stages = 1
    else:
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        two = not is_complex and b * d // 2 >= 8 * sms  # enough programs at two channels each
        block_r = block_r or _largest_pow2_divisor(p, 2 if two else 1)
        bwd_block_r = bwd_block_r or _largest_pow2_divisor(p, 1 if is_complex else 2)
        tile = tile or 512 // itemsize
        num_warps = num_warps or 1
        bwd_num_warps = bwd_num_warps or 1
        unroll = unroll or (1 if is_complex else _largest_pow2_divisor(n, 16 if block_r == 1 else 8 // itemsize))
        if maxnreg is None and not is_complex and itemsize < 4 and block_r > 1:
            maxnreg = 128
        bwd_unroll = bwd_unroll or 1
        bwd_stages = bwd_stages or 3
        n_tiles = -(-L // tile)
        if tiles_per_chunk is None:
            tiles_per_chunk = _tiles_per_chunk(n_tiles, b * (d // block_r), 2 * sms)
        if bwd_tiles_per_chunk is None:
            bwd_tiles_per_chunk = _tiles_per_chunk(n_tiles, b * (d // bwd_block_r), 4 * sms)
    n_tiles = -(-L // tile)
    tiles_per_chunk = min(tiles_per_chunk, n_tiles)
    n_chunks = -(-n_tiles // tiles_per_chunk)
    bwd_tiles_per_chunk = min(bwd_tiles_per_chunk or tiles_per_chunk, n_tiles)
    if n % unroll or n % bwd_unroll:
        raise ValueError(f"launch_config: unroll={unroll} and bwd_unroll={bwd_unroll} must divide n={n}")
    return LaunchConfig(block_r, tile, tiles_per_chunk, n_tiles, n_chunks, num_warps, bwd_block_r, bwd_num_warps,
                        unroll, bwd_unroll, time_major=TIME_MAJOR_ON_GPU, maxnreg=maxnreg,
                        bwd_maxnreg=bwd_maxnreg, bwd_stages=bwd_stages, stages=stages or 1,
                        bwd_tiles_per_chunk=bwd_tiles_per_chunk)  # fmt: skip


@dataclass
class Prepared:
    """Kernel-ready arguments: contiguous, complex as ``view_as_real`` float32 pairs, B and C as (b, h, n, L); real
    ones keep their dtype."""

    u: torch.Tensor
    dt: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor | None
    C: torch.Tensor | None
    B_bias: torch.Tensor | None
    C_bias: torch.Tensor | None
    D: torch.Tensor | None
    z: torch.Tensor | None
    dt_bias: torch.Tensor | None
    b: int
    L: int
    d: int
    n: int
    h: int
    flags: dict


def _pairs(x: torch.Tensor | None, complex_: bool) -> torch.Tensor | None:
    """Small per-channel tensor, complex ones as (…, 2) float32 pairs; a real one keeps its dtype (the kernels
    convert as they load: no cast kernels to launch)."""
    if x is None:
        return None
    return torch.view_as_real(x.to(torch.complex64)).contiguous() if complex_ else x.contiguous()


def _time_major(x: torch.Tensor | None) -> torch.Tensor | None:
    """(b, L, h, n) -> (b, h, n, L[, 2]), so that one state's row over time is contiguous. A real B or C keeps its
    dtype (the kernels convert as they load): every program re-reads its block's rows, and 16-bit halves the L2
    bytes of those re-reads (H200, forward+backward: n64-bf16 3894 µs against 4304 with float32 copies,
    complex-bf16 3098 against 3325, long-bf16 1830-2037 against 2027-2211)."""
    if x is None:
        return None
    if x.is_complex():
        return torch.view_as_real(x.to(torch.complex64)).permute(0, 2, 3, 1, 4).contiguous()
    return x.permute(0, 2, 3, 1).contiguous()


def time_major(u: torch.Tensor) -> bool:
    """True when u (b, L, d) is a transposed view of a contiguous (b, d, L) tensor (mamba_ssm's layout)."""
    b, L, d = u.shape
    return L > 1 and u.stride() == (L * d, 1, L)


def same_layout(x: torch.Tensor, time_major_: bool) -> torch.Tensor:
    """x (b, L, d) laid out like u: contiguous, or time-contiguous (b, d, L) memory; the kernels take either."""
    if not time_major_:
        return x.contiguous()
    return x if time_major(x) else x.transpose(1, 2).contiguous().transpose(1, 2)


def prepare(u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, h, dt_softplus, zoh, force_time_major) -> Prepared:
    b, L, d = u.shape
    layout = force_time_major or time_major(u)
    n = A.shape[1]
    is_complex = A.is_complex()
    flags = dict(
        IS_COMPLEX=is_complex,
        B_COMPLEX=B is not None and B.is_complex(),
        C_COMPLEX=C is not None and C.is_complex(),
        BB_COMPLEX=B_bias is not None and B_bias.is_complex(),
        CB_COMPLEX=C_bias is not None and C_bias.is_complex(),
        HAS_B=B is not None,
        HAS_C=C is not None,
        HAS_BB=B_bias is not None,
        HAS_CB=C_bias is not None,
        HAS_D=D is not None,
        HAS_Z=z is not None,
        HAS_DTB=dt_bias is not None,
        DT_SOFTPLUS=dt_softplus,
        DT_INVARIANT=dt.dim() == 1,
        ZOH=zoh,
        FAST=not interpreting(),
    )
    return Prepared(
        u=same_layout(u, layout),
        dt=dt.contiguous() if dt.dim() == 1 else same_layout(dt, layout),
        A=_pairs(A, is_complex),
        B=_time_major(B),
        C=_time_major(C),
        B_bias=_pairs(B_bias, B_bias is not None and B_bias.is_complex()),
        C_bias=_pairs(C_bias, C_bias is not None and C_bias.is_complex()),
        D=_pairs(D, False),
        z=None if z is None else same_layout(z, layout),
        dt_bias=_pairs(dt_bias, False),
        b=b,
        L=L,
        d=d,
        n=n,
        h=h,
        flags=flags,
    )


def _state_pairs(state: torch.Tensor, complex_: bool) -> torch.Tensor:
    return torch.view_as_real(state.to(torch.complex64)) if complex_ else state.float()


def _as_state(pairs: torch.Tensor, complex_: bool) -> torch.Tensor:
    return torch.view_as_complex(pairs) if complex_ else pairs


@dataclass
class Grads:
    """Buffers the backward kernels write (see ``triton_bwd.launch_backward``): the gradients; the per-tile partials
    of the per-channel ones, column sections of one (b, NT, PW) float32 tensor ``parts``; scratch
    (``adj``, the adjoint entering each tile; ``sumdt``, Σ Δ per chunk)."""

    du: torch.Tensor
    ddt: torch.Tensor
    dz: torch.Tensor
    dB: torch.Tensor
    dC: torch.Tensor
    dA_part: torch.Tensor
    dBb_part: torch.Tensor
    dCb_part: torch.Tensor
    dD_part: torch.Tensor
    ddt_part: torch.Tensor
    dh0: torch.Tensor
    parts: torch.Tensor
    adj: torch.Tensor
    sumdt: torch.Tensor


def carve(flat: torch.Tensor, *shapes) -> list[torch.Tensor | None]:
    """Consecutive views of the 1-D tensor ``flat`` with the given shapes (None: no view). The backward passes take
    their buffers as views of few allocations: every allocation, zero fill, sum and cast is a launch, and their host
    time set long-bf16's and s4d-fp32's forward+backward speed."""
    present = [s for s in shapes if s is not None]
    pieces = iter(flat.split_with_sizes([math.prod(s) for s in present] + [flat.numel() - total_numel(*present)]))
    return [None if s is None else next(pieces).view(s) for s in shapes]


def column_sections(parts: torch.Tensor, sections) -> list[torch.Tensor | None]:
    """Views of ``parts`` (…, PW) from the start of each section along its last axis, the sections laid out one
    after another with the given shapes (None: absent, no view): the pointers a kernel writing each section of
    every row takes, with the row width PW beside them."""
    return [None if s is None else parts[..., total_numel(*sections[:i]) :] for i, s in enumerate(sections)]


def total_numel(*shapes) -> int:
    """Elements in tensors of the given shapes (None: none)."""
    return sum(math.prod(s) for s in shapes if s is not None)


def _cast(t: torch.Tensor | None, like) -> torch.Tensor | None:
    """A float32 (…[, 2]) result to the original argument's dtype; ``like`` = (dtype, is_complex, dim) or None."""
    if t is None or like is None:
        return None
    dtype, cplx, dim = like
    if cplx:
        return torch.view_as_complex(t.contiguous()).to(dtype)
    return (t[..., 0] if t.dim() > dim else t).to(dtype)  # a real bias next to a complex A: Re part


def _cast_pieces(flat: torch.Tensor, shapes: list, likes: list) -> list[torch.Tensor | None]:
    """The consecutive float32 pieces of ``flat`` (views of ``shapes``), each cast to its argument's dtype
    (``likes``, as in :func:`_cast`): one cast of them all when every piece is a whole real tensor of one dtype."""
    present = [(s, like) for s, like in zip(shapes, likes, strict=True) if s is not None]
    dtypes = {like[0] for _, like in present}
    if len(dtypes) == 1 and all(not like[1] and len(s) == like[2] for s, like in present):
        return carve(flat.to(dtypes.pop()), *shapes)
    return [_cast(v, like) for v, like in zip(carve(flat, *shapes), likes, strict=True)]


def _forward(u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, initial_state, h, dt_softplus, zoh, cfg):
    """Prepare the arguments and run the forward kernels: ``(prepared, y (b, L, d), last_state, checkpoints)``,
    the last state in the contract's dtype."""
    from kernels.scan.triton_fwd import launch_forward

    x = prepare(u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, h, dt_softplus, zoh, cfg.time_major and u.is_cuda)
    is_complex = x.flags["IS_COMPLEX"]
    pair = (2,) if is_complex else ()
    f32 = dict(device=u.device, dtype=torch.float32)
    b, d, n = x.b, x.d, x.n
    y = torch.empty_like(x.u)
    ckpt = torch.empty(b, cfg.n_tiles, d, n, *pair, **f32)
    if initial_state is None:
        chunk = torch.zeros(b, cfg.n_chunks, d, n, *pair, **f32)
    else:
        chunk = torch.empty(b, cfg.n_chunks, d, n, *pair, **f32)
        chunk[:, 0] = _state_pairs(initial_state, is_complex)
    last = torch.empty(b, d, n, *pair, **f32)
    launch_forward(x, cfg, y, ckpt, chunk, last)
    state_dtype = A.dtype if is_complex else torch.float32
    return x, y, _as_state(last, is_complex).to(state_dtype), ckpt


class _TritonScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, initial_state, h, dt_softplus, zoh, cfg):
        x, y, last, ckpt = _forward(u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, initial_state, h, dt_softplus,
                                    zoh, cfg)  # fmt: skip
        # keep the prepared tensors (already laid out for the kernels) and the originals' dtypes
        names = ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z", "dt_bias")
        ctx.save_for_backward(*(getattr(x, k) for k in names), ckpt)
        originals = (u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, initial_state)
        ctx.likes = [None if t is None else (t.dtype, t.is_complex(), t.dim()) for t in originals]
        ctx.settings = (x.b, x.L, x.d, x.n, h, x.flags, cfg)
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None, not as zeros to launch
        return y, last

    @staticmethod
    def backward(ctx, dy, dlast):
        from kernels.scan.triton_bwd import launch_backward

        *saved, ckpt = ctx.saved_tensors
        b, L, d, n, h, flags, cfg = ctx.settings
        x = Prepared(*saved, b=b, L=L, d=d, n=n, h=h, flags=flags)
        names = ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z", "dt_bias", "h0")
        likes = dict(zip(names, ctx.likes, strict=True))
        is_complex = flags["IS_COMPLEX"]
        pair = (2,) if is_complex else ()
        f32 = dict(device=x.u.device, dtype=torch.float32)
        dy = torch.zeros_like(x.u) if dy is None else same_layout(dy, time_major(x.u))

        # zeroed: dB and dC (accumulated by atomics, (b, h, n, L[, 2])), then the chunk adjoints
        sel = [None if likes[k] is None else (b, h, n, L, *((2,) if likes[k][1] else ())) for k in ("B", "C")]
        chunk_shape = (b, cfg.bwd_n_chunks, d, n, *pair)
        zeroed = torch.zeros(total_numel(*sel, chunk_shape), **f32)
        dB, dC, chunk = carve(zeroed, *sel, chunk_shape)
        if dlast is not None:
            chunk[:, -1] = _state_pairs(dlast, is_complex)
        # not initialised: the per-tile partials (A, B_bias, C_bias per state, D and Δ per channel), dh0, scratch
        per_state = (d, n, *pair)
        sections = [None if likes[k] is None else per_state for k in ("A", "B_bias", "C_bias")]
        sections += [None if likes["D"] is None else (d,), (d,)]
        width = total_numel(*sections)
        scratch_shapes = ((b, cfg.n_tiles, width), (b, *per_state), ckpt.shape, (b, cfg.bwd_n_chunks, d))
        parts, dh0, adj, sumdt = carve(torch.empty(total_numel(*scratch_shapes), **f32), *scratch_shapes)
        dA_p, dBb_p, dCb_p, dD_p, ddt_p = column_sections(parts, sections)
        g = Grads(du=torch.empty_like(x.u), ddt=torch.empty_like(x.dt) if x.dt.dim() == 3 else None,
                  dz=None if x.z is None else torch.empty_like(x.z), dB=dB, dC=dC, dA_part=dA_p, dBb_part=dBb_p,
                  dCb_part=dCb_p, dD_part=dD_p, ddt_part=ddt_p, dh0=dh0, parts=parts, adj=adj,
                  sumdt=sumdt)  # fmt: skip
        launch_backward(x, cfg, dy, ckpt, chunk, g)

        # the per-channel gradients: one sum over (b, tiles) of all partials (Δ's, the last, feeds dt_bias and a
        # time-invariant dt)
        totals = parts.sum((0, 1))
        dtb = likes["dt_bias"]
        grad_A, grad_Bb, grad_Cb, grad_D, grad_dtb = _cast_pieces(
            totals, sections[:-1] + [dtb and (d,)], [likes[k] for k in ("A", "B_bias", "C_bias", "D", "dt_bias")]
        )
        grad_dt = g.ddt if x.dt.dim() == 3 else totals[-d:].to(likes["dt"][0])
        grad_B, grad_C = (None if t is None else t.movedim(3, 1)
                          for t in _cast_pieces(zeroed, sel, [likes["B"], likes["C"]]))  # fmt: skip
        grad_h0 = None if likes["h0"] is None else _cast(dh0, likes["h0"])
        return (
            g.du, grad_dt, grad_A, grad_B, grad_C, grad_Bb, grad_Cb, grad_D, g.dz, grad_dtb, grad_h0,
            None, None, None, None,
        )  # fmt: skip


def scan_with_config(args: ScanArgs, cfg: LaunchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the Triton scan with an explicit tiling (tests use this to reach every code path). Without gradients
    to record, the forward runs outside autograd: no ``Function`` to apply, nothing saved (host time decides the
    forward's speed at long-bf16: 400 µs per call on the host against 330 on the GPU)."""
    tensors = tuple(args.tensors().values())
    settings = (args.n_blocks, args.dt_softplus, args.discretization == "zoh", cfg)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return _TritonScan.apply(*tensors, *settings)
    _, y, last, _ = _forward(*tensors, *settings)
    return y, last


def scan_triton(args: ScanArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``triton`` backend of :func:`kernels.selective_scan`: ``(y (b, L, d), last_state (b, d, n))``."""
    b, L, d, n, h = args.sizes
    if args.u.device.type != "cuda" and not interpreting():
        raise RuntimeError(
            "selective_scan: backend 'triton' needs CUDA tensors (or TRITON_INTERPRET=1 to run Triton's CPU "
            f"interpreter); got tensors on {args.u.device}. Use backend='torch' or 'auto' on the CPU."
        )
    from kernels.scan.lti import lti_applies, lti_config, scan_lti

    if lti_applies(args):
        return scan_lti(args, lti_config(n, args.u.device))
    cfg = _default_config(b, L, d, n, h, args.u.device, args.is_complex, args.u.element_size(), interpreting())
    return scan_with_config(args, cfg)


@functools.lru_cache(maxsize=256)
def _default_config(b, L, d, n, h, device, is_complex, itemsize, interpreting_) -> LaunchConfig:
    """``launch_config``'s defaults, computed once per shape (``interpreting_`` keys the interpreter's tiling)."""
    return launch_config(b, L, d, n, h, device, is_complex=is_complex, itemsize=itemsize)
