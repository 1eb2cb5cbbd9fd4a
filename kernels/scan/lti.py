"""The Triton backend's time-invariant path: Δ of shape (d,), B and C given by ``B_bias`` and ``C_bias`` only (S4D).

The scan is then a causal convolution per channel, computed in chunks of ``T`` steps as matrix products
(``kernels/scan/triton_lti.py``). The small per-channel operators — the first T taps of the kernel, the maps from a
chunk's inputs to its end state and from a chunk's entering state to its outputs, the chunk decay Ā^T — are built
by one Triton program per channel, with a written-out backward to Δ, A, B_bias and C_bias (``_Operators``); Δ
itself (softplus, dt_bias) and the state after the last step are torch ops that autograd differentiates. The
Triton function ``_LTIScan`` owns everything of the sequence's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import triton

from kernels.scan.autograd import carve, column_sections, interpreting, same_layout, time_major, total_numel
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


class _Operators(torch.autograd.Function):
    """(Δ (d,), A, B̃ = B_bias, C̃ = C_bias (d, n), all of A's dtype) -> the chunked convolution's operators for chunks
    of T steps, the last one of r, as the kernels take them (float32, complex ones as (…, 2) pairs): Toepᵀ (d, T, T),
    W (d, T, n) = Ā^{T−1−k} B̄, V (d, n, T) = C Ā^{t+1}, P = Ā^T (d, n) and Ā^r (d, n); C = κ C̃ and
    Toepᵀ[k, t] = K[t − k] with K[m] = Re Σ_n C B̄ Ā^m.

    One Triton program per channel builds them (``triton_lti._operators_kernel``) and one computes ∂Δ, ∂A, ∂B̃, ∂C̃
    from their gradients: the same operators in torch ops took ~60 launches forward and ~100 backward (autograd's
    complex formulas, conjugate copies included), whose host time set s4d-fp32's speed."""

    @staticmethod
    def forward(ctx, delta, A, B_bias, C_bias, zoh, T, r):
        from kernels.scan.triton_lti import launch_operators

        d, n = A.shape
        complex_ = A.is_complex()
        pair = (2,) if complex_ else ()
        inputs = [_as_pairs(t) for t in (delta, A, B_bias, C_bias)]
        shapes = ((d, T, T), (d, T, n, *pair), (d, n, T, *pair), (d, n, *pair), (d, n, *pair))
        outputs = carve(torch.empty(total_numel(*shapes), device=A.device, dtype=torch.float32), *shapes)
        launch_operators(*inputs, outputs, n, r, T, complex_, zoh)
        ctx.save_for_backward(*inputs)
        ctx.sizes = (n, r, T, complex_, zoh)
        ctx.set_materialize_grads(False)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        from kernels.scan.triton_lti import launch_operators_backward

        delta, A, B_bias, C_bias = ctx.saved_tensors
        n, r, T, complex_, zoh = ctx.sizes
        d = delta.shape[0]
        pair = (2,) if complex_ else ()
        shapes = ((d, n, *pair), (d, n, *pair), (d, n, *pair), (d,))  # pairs first: their offsets stay even
        *g_coefficients, g_delta = carve(torch.empty(total_numel(*shapes), device=A.device, dtype=torch.float32),
                                         *shapes)  # fmt: skip
        grads = [None if g is None else g.contiguous() for g in grads]
        launch_operators_backward(delta, A, B_bias, C_bias, grads, (g_delta, *g_coefficients), n, r, T, complex_, zoh)
        return g_delta, *(_from_pairs(g, complex_) for g in g_coefficients), None, None, None


def _as_pairs(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(x).contiguous() if x.is_complex() else x.float().contiguous()


def _from_pairs(x: torch.Tensor, complex_: bool) -> torch.Tensor:
    return torch.view_as_complex(x.contiguous()) if complex_ else x


class _LTIScan(torch.autograd.Function):
    """(u, z, Toepᵀ, W, V, P, D, h0) -> (y (b, L, d), state entering the last chunk (b, d, n)); the gate z (or
    None) is laid out like u; the operators are ``_Operators``' float32 tensors, complex ones as (…, 2) pairs."""

    @staticmethod
    def forward(ctx, u, z, toep_t, W, V, P, D, h0, cfg):
        from kernels.scan.triton_lti import launch_lti_forward

        b, L, d = u.shape
        n = P.shape[1]
        is_complex = P.dim() == 3  # (d, n, 2) pairs
        pair = (2,) if is_complex else ()
        n_chunks = -(-L // cfg.tile)
        n_groups = -(-n_chunks // cfg.group)
        f32 = dict(device=u.device, dtype=torch.float32)
        ck = torch.empty(b, d, n_groups, n, *pair, **f32)
        ck[:, :, 0] = 0 if h0 is None else _as_pairs(h0)
        e_last = torch.empty(b, d, n, *pair, **f32)
        y = torch.empty_like(u)
        y_pre = None if z is None else torch.empty_like(u, dtype=torch.float32)  # before the gate, for ∂z
        D32 = None if D is None else D.float().contiguous()
        launch_lti_forward(u, y, z, y_pre, toep_t, W, V, P, D32, ck, e_last, n, n_chunks, n_groups, cfg, is_complex)
        ctx.save_for_backward(u, z, y_pre, toep_t, W, V, P, D32, ck)
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
        # one (⌈b / bwd_batch⌉, PW) buffer of per-program partial sums, a section per operator: one sum reduces all
        sections = ((d, T, T), (d, T, n, *pair), (d, n, T, *pair), (d, n, *pair), None if D_dtype is None else (d,))
        parts = torch.empty(-(-b // cfg.bwd_batch), total_numel(*sections), **f32)
        dh0 = torch.empty(b, d, n, *pair, **f32)
        launch_lti_backward(u, dy, du, z, y_pre, dz, toep_t, W, V, P, D32, ck, de_last,
                            column_sections(parts, sections),
                            dh0, n, n_chunks, n_groups, cfg, is_complex)  # fmt: skip
        d_toep, dW, dV, dP, dD = carve(parts.sum(0), *sections)
        return (
            du, dz, d_toep, dW, dV, dP,
            None if D_dtype is None else dD.to(D_dtype),
            None if h0_dtype is None else _from_pairs(dh0, is_complex).to(h0_dtype),
            None,
        )  # fmt: skip


def scan_lti(args: ScanArgs, cfg: LTIConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The time-invariant scan: ``(y (b, L, d), last_state (b, d, n))``, the contract's semantics."""
    b, L, d, n, _ = args.sizes
    dt = args.dt if args.dt_bias is None else args.dt + args.dt_bias
    delta = F.softplus(dt.float()) if args.dt_softplus else dt.float()
    n_chunks = -(-L // cfg.tile)
    r = L - (n_chunks - 1) * cfg.tile  # steps in the last chunk
    dtype = torch.complex64 if args.is_complex else torch.float32
    toep_t, W, V, P, P_r = _Operators.apply(delta, args.A.to(dtype), args.B_bias.to(dtype), args.C_bias.to(dtype),
                                            args.discretization == "zoh", cfg.tile, r)  # fmt: skip
    u = same_layout(args.u, args.u.is_cuda or time_major(args.u))
    z = None if args.z is None else same_layout(args.z, time_major(u))
    y, e_last = _LTIScan.apply(u, z, toep_t, W, V, P, args.D, args.initial_state, cfg)
    # the state after the last step: the last chunk's r steps (W's last r rows, Ā^{r−1−k} B̄) applied to the state
    # entering it
    tail = args.u[:, L - r :].to(dtype)  # (b, r, d)
    W, P_r = _from_pairs(W, args.is_complex), _from_pairs(P_r, args.is_complex)
    last = torch.bmm(tail.permute(2, 0, 1), W[:, cfg.tile - r :]).transpose(0, 1) + P_r * e_last
    state_dtype = args.A.dtype if args.is_complex else torch.float32
    return y, last.to(state_dtype)
