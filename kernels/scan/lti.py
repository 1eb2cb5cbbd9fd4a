"""The Triton backend's time-invariant path: Δ of shape (d,), B and C given by ``B_bias`` and ``C_bias`` only (S4D).

The scan is then a causal convolution per channel, computed in chunks of ``T`` steps as matrix products
(``kernels/scan/triton_lti.py``). The small per-channel operators — the first T taps of the kernel, the maps from a
chunk's inputs to its end state and from a chunk's entering state to its outputs, the chunk decay Ā^T — are built
here with differentiable torch ops on (d, T, n) tensors, so autograd carries their gradients to Δ, A, B_bias,
C_bias and dt_bias; the Triton function owns everything of the sequence's size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import triton

from kernels.scan.autograd import interpreting, same_layout, time_major
from kernels.scan.contract import ScanArgs


@dataclass(frozen=True)
class LTIConfig:
    """Chunks of ``tile`` steps, ``group`` chunks per tile of the recurrence, states padded to ``block_n``;
    ``fwd_batch`` / ``bwd_batch`` batch rows per program; ``precision`` is ``tl.dot``'s input precision
    (``"ieee"``: float32 products; ``"tf32x3"``: three tensor-core passes, about as accurate)."""

    tile: int
    group: int
    block_n: int
    fwd_batch: int
    bwd_batch: int
    num_warps: int
    bwd_num_warps: int
    precision: str


def lti_applies(args: ScanArgs) -> bool:
    """True when the scan is time-invariant: Δ (d,), no selective B or C."""
    return args.time_invariant_dt and args.B is None and args.C is None


def lti_config(n: int, device: torch.device, **overrides) -> LTIConfig:
    """GPU defaults measured on an H200 (benchmarks/README.md; the backward's 8 batch rows per program: s4d-fp32
    fwd+bwd 3882 µs against 3972 at 4 and 4128 at 2); the smallest tiles ``tl.dot`` takes under the interpreter."""
    block_n = max(16, triton.next_power_of_2(n))
    if interpreting() or device.type != "cuda":
        base = dict(tile=16, group=16, fwd_batch=1, bwd_batch=2, num_warps=1, bwd_num_warps=1, precision="ieee")
    else:
        base = dict(tile=32, group=16, fwd_batch=1, bwd_batch=8, num_warps=4, bwd_num_warps=8, precision="tf32x3")
    return LTIConfig(block_n=block_n, **{**base, **overrides})


@dataclass
class Operators:
    """Per-channel operators of the chunked convolution (float32 / complex64)."""

    toep_t: torch.Tensor  # (d, T, T): [c, k, t] = K[c, t − k] for t ≥ k, else 0
    W: torch.Tensor  # (d, T, n): input k of a chunk -> its end state, Ā^{T−1−k} B̄
    V: torch.Tensor  # (d, n, T): entering state -> output t, κ C̃ Ā^{t+1}
    P: torch.Tensor  # (d, n): Ā^T
    powers: torch.Tensor  # (d, T + 1, n): Ā^m
    B_bar: torch.Tensor  # (d, n)


@functools.cache
def _toeplitz_index(T: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For a [k, t] tile: the lag t − k (clamped at 0) and 1.0 where t ≥ k, else 0.0 (cached: built once)."""
    lag = torch.arange(T, device=device)
    lag = lag[None, :] - lag[:, None]
    return lag.clamp(min=0), (lag >= 0).float()


def operators(delta, A, B_bias, C_bias, zoh: bool, T: int) -> Operators:
    """Build the operators from Δ (d,), A, B̃ = B_bias, C̃ = C_bias (d, n); differentiable in all of them. About 20
    small tensor ops: on a GPU their launches are part of the time-invariant path's cost."""
    complex_ = A.is_complex()
    dtype = torch.complex64 if complex_ else torch.float32
    A = A.to(dtype)
    a = delta.float()[:, None] * A
    steps = torch.arange(T + 1, device=A.device, dtype=torch.float32)
    powers = torch.exp(steps[None, :, None] * a[:, None, :])  # (d, T + 1, n)
    B_bar = (torch.expm1(a) / A if zoh else delta.float()[:, None].to(dtype)) * B_bias.to(dtype)
    kappa = 2.0 if complex_ else 1.0
    C = kappa * C_bias.to(dtype)
    taps = torch.einsum("dmn,dn->dm", powers[:, :T], C * B_bar)
    lag, causal = _toeplitz_index(T, A.device)
    toep_t = (taps.real if complex_ else taps)[:, lag] * causal
    W = powers[:, :T].flip(1) * B_bar[:, None]
    V = (C[:, None] * powers[:, 1:]).transpose(1, 2)
    return Operators(toep_t, W, V, powers[:, T], powers, B_bar)


def _as_pairs(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(x).contiguous() if x.is_complex() else x.float().contiguous()


def _from_pairs(x: torch.Tensor, complex_: bool) -> torch.Tensor:
    return torch.view_as_complex(x.contiguous()) if complex_ else x


class _LTIScan(torch.autograd.Function):
    """(u, z, Toepᵀ, W, V, P, D, h0) -> (y (b, L, d), state entering the last chunk (b, d, n)); the gate z (or
    None) is laid out like u."""

    @staticmethod
    def forward(ctx, u, z, toep_t, W, V, P, D, h0, cfg):
        from kernels.scan.triton_lti import launch_lti_forward

        b, L, d = u.shape
        n = P.shape[1]
        is_complex = P.is_complex()
        pair = (2,) if is_complex else ()
        n_chunks = -(-L // cfg.tile)
        n_groups = -(-n_chunks // cfg.group)
        f32 = dict(device=u.device, dtype=torch.float32)
        ck = torch.empty(b, d, n_groups, n, *pair, **f32)
        ck[:, :, 0] = 0 if h0 is None else _as_pairs(h0)
        e_last = torch.empty(b, d, n, *pair, **f32)
        y = torch.empty_like(u)
        y_pre = None if z is None else torch.empty_like(u, dtype=torch.float32)  # before the gate, for ∂z
        ops = [_as_pairs(t) for t in (toep_t, W, V, P)]
        D32 = None if D is None else D.float().contiguous()
        launch_lti_forward(u, y, z, y_pre, *ops, D32, ck, e_last, n, n_chunks, n_groups, cfg, is_complex)
        ctx.save_for_backward(u, z, y_pre, *ops, D32, ck)
        dtypes = [None if t is None else t.dtype for t in (D, h0)]
        ctx.settings = (n, n_chunks, n_groups, cfg, is_complex, *dtypes)
        return y, _from_pairs(e_last, is_complex)

    @staticmethod
    def backward(ctx, dy, de_last):
        from kernels.scan.triton_lti import launch_lti_backward

        u, z, y_pre, toep_t, W, V, P, D32, ck = ctx.saved_tensors
        n, n_chunks, n_groups, cfg, is_complex, D_dtype, h0_dtype = ctx.settings
        b, L, d = u.shape
        T = cfg.tile
        pair = (2,) if is_complex else ()
        f32 = dict(device=u.device, dtype=torch.float32)
        dy = same_layout(dy, time_major(u))
        du = torch.empty_like(dy, dtype=u.dtype)
        dz = None if z is None else torch.empty_like(dy, dtype=z.dtype)
        de_last = torch.zeros(b, d, n, *pair, **f32) if de_last is None else _as_pairs(de_last)
        n_parts = -(-b // cfg.bwd_batch)
        parts = (
            torch.empty(n_parts, d, T, T, **f32),
            torch.empty(n_parts, d, T, n, *pair, **f32),
            torch.empty(n_parts, d, n, T, *pair, **f32),
            torch.empty(n_parts, d, n, *pair, **f32),
            None if D_dtype is None else torch.empty(n_parts, d, **f32),
        )
        dh0 = torch.empty(b, d, n, *pair, **f32)
        launch_lti_backward(u, dy, du, z, y_pre, dz, toep_t, W, V, P, D32, ck, de_last, parts, dh0, n, n_chunks,
                            n_groups, cfg, is_complex)  # fmt: skip
        d_toep, dW, dV, dP, dD = (None if t is None else t.sum(0) for t in parts)
        return (
            du, dz, d_toep, _from_pairs(dW, is_complex), _from_pairs(dV, is_complex), _from_pairs(dP, is_complex),
            None if D_dtype is None else dD.to(D_dtype),
            None if h0_dtype is None else _from_pairs(dh0, is_complex).to(h0_dtype),
            None,
        )  # fmt: skip


def scan_lti(args: ScanArgs, cfg: LTIConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The time-invariant scan: ``(y (b, L, d), last_state (b, d, n))``, the contract's semantics."""
    b, L, d, n, _ = args.sizes
    dt = args.dt if args.dt_bias is None else args.dt + args.dt_bias
    delta = F.softplus(dt.float()) if args.dt_softplus else dt.float()
    ops = operators(delta, args.A, args.B_bias, args.C_bias, args.discretization == "zoh", cfg.tile)
    u = same_layout(args.u, args.u.is_cuda or time_major(args.u))
    z = None if args.z is None else same_layout(args.z, time_major(u))
    y, e_last = _LTIScan.apply(u, z, ops.toep_t, ops.W, ops.V, ops.P, args.D, args.initial_state, cfg)
    # the state after the last step: the last chunk's r steps applied to the state entering it
    start = (-(-L // cfg.tile) - 1) * cfg.tile
    r = L - start
    tail = args.u[:, start:].float().to(ops.W.dtype)  # (b, r, d)
    to_end = ops.powers[:, :r].flip(1) * ops.B_bar[:, None]  # (d, r, n): Ā^{r−1−k} B̄
    last = torch.einsum("brd,drn->bdn", tail, to_end) + ops.powers[:, r] * e_last
    state_dtype = args.A.dtype if args.is_complex else torch.float32
    return y, last.to(state_dtype)
