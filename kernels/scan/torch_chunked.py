"""The fast CPU backend: the scan vectorised over chunks of the sequence.

The sequence is cut into windows of ``W`` steps whose ``(b, W, d, n)`` volume is bounded; each window is cut
into ``K`` chunks of ``T`` steps. Inside a window all ``K`` chunks are scanned at once from a zero state (a
Python loop over the ``T`` positions, each step one op on ``(b, K, d, n)``), the ``K`` chunk-boundary states
are chained (a loop over ``K``, each step one op on ``(b, d, n)``), and each chunk's boundary state is added
back multiplied by its cumulative decay. The scan only ever multiplies by decays ``|exp(Δ·A)| <= 1`` (for
``Re(A) <= 0``), so large ``Δ·|Re A|`` cannot overflow. Each window runs under ``torch.utils.checkpoint``:
the backward pass keeps only the windows' initial states ``(b, d, n)`` and recomputes each window.
Derivations and the stability argument: ``kernels/scan/README.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from kernels.scan.contract import ScanArgs
from kernels.scan.reference import step_size

# Elements of the (b, W, d, n) volume of one window: bounds the memory of every intermediate.
WINDOW_VOLUME = 1 << 19


def plan(b: int, L: int, d: int, n: int) -> tuple[int, int]:
    """Window length ``W`` and chunk length ``T`` (``W`` a multiple of ``T``) for a ``(b, L, d, n)`` scan."""
    W = max(1, min(L, WINDOW_VOLUME // max(1, b * d * n)))
    T = max(1, math.isqrt(W))
    return T * math.ceil(W / T), T


def scan_torch(args: ScanArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked scan; returns ``y`` (b, L, d) in u's dtype and the last state (b, d, n) in the compute dtype."""
    b, L, d, n, h = args.sizes
    p = d // h
    real = torch.float64 if args.u.dtype == torch.float64 else torch.float32
    state_dtype = (torch.complex128 if real == torch.float64 else torch.complex64) if args.is_complex else real

    def blocks(x):  # (..., d[, n]) -> (..., h, p[, n])
        return None if x is None else x.to(x.dtype if x.is_complex() else real).unflatten(x.dim() - 1, (h, p))

    def per_channel(x):  # (d, n) -> (h, p, n)
        return None if x is None else x.to(x.dtype if x.is_complex() else real).unflatten(0, (h, p))

    u = args.u.to(real)
    delta = step_size(args, real)
    A = per_channel(args.A.to(state_dtype))
    zoh = args.discretization == "zoh"
    consts = dict(A=A, B_bias=per_channel(args.B_bias), C_bias=per_channel(args.C_bias), zoh=zoh)
    state = (
        torch.zeros(b, h, p, n, dtype=state_dtype, device=u.device)
        if args.initial_state is None
        else args.initial_state.to(state_dtype).unflatten(1, (h, p))
    )
    W, T = plan(b, L, d, n)
    differentiable = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in args.tensors().values())
    y = torch.empty(b, L, d, dtype=real, device=u.device)
    for start in range(0, L, W):
        window = slice(start, min(start + W, L))
        inputs = (
            state,
            blocks(u[:, window]),
            blocks(delta if args.time_invariant_dt else delta[:, window]),
            None if args.B is None else args.B[:, window].to(args.B.dtype if args.B.is_complex() else real),
            None if args.C is None else args.C[:, window].to(args.C.dtype if args.C.is_complex() else real),
        )
        if differentiable:
            y_w, state = checkpoint(_scan_window, *inputs, T=T, **consts, use_reentrant=False)
        else:
            y_w, state = _scan_window(*inputs, T=T, **consts)
        y[:, window] = y_w.flatten(2)
    if args.D is not None:
        y = y + args.D.to(real) * u
    if args.z is not None:
        y = y * F.silu(args.z.to(real))
    return y.to(args.u.dtype), state.flatten(1, 2)


def _discretize(delta, u, B, A, B_bias, zoh):
    """Ā = exp(Δ·A) and B̄·u, both broadcastable to (b, W, h, p, n).

    delta: (b, W, h, p) or (h, p); u: (b, W, h, p); B: (b, W, h, n) or None; A, B_bias: (h, p, n).
    """
    delta = delta[..., None]  # (b, W, h, p, 1) or (h, p, 1)
    if A.is_complex():
        r, theta = delta * A.real, delta * A.imag
        if zoh:  # Ā − 1 = expm1(Δ·A) without cancellation: e^r·cos θ − 1 = expm1(r) − 2·sin²(θ/2)·e^r
            em1 = torch.expm1(r)
            e = em1 + 1
            re_m1 = em1 - 2 * torch.sin(theta / 2).square() * e
            im = e * torch.sin(theta)
            a, a_m1 = torch.complex(re_m1 + 1, im), torch.complex(re_m1, im)
        else:
            e = torch.exp(r)
            a = torch.complex(e * torch.cos(theta), e * torch.sin(theta))
    elif zoh:
        a_m1 = torch.expm1(delta * A)
        a = a_m1 + 1
    else:
        a = torch.exp(delta * A)
    B_tilde = B_bias if B is None else B[:, :, :, None, :] if B_bias is None else B[:, :, :, None, :] + B_bias
    if zoh:
        x = a_m1 * A.reciprocal() * (B_tilde * u[..., None])
    else:
        x = B_tilde * (delta * u[..., None])
    return a, x


def _scan_window(state, u, delta, B, C, *, A, B_bias, C_bias, zoh, T):
    """One window of W steps: state (b, h, p, n), u (b, W, h, p) -> y (b, W, h, p), last state (b, h, p, n)."""
    b, W, h, p = u.shape
    K = math.ceil(W / T)
    pad = K * T - W  # steps appended at the end: they change neither y[:W] nor the state taken at W − 1
    if pad:
        u = F.pad(u, (0, 0, 0, 0, 0, pad))
        delta = delta if delta.dim() == 2 else F.pad(delta, (0, 0, 0, 0, 0, pad))
        B = None if B is None else F.pad(B, (0, 0, 0, 0, 0, pad))
        C = None if C is None else F.pad(C, (0, 0, 0, 0, 0, pad))
    a, x = _discretize(delta, u, B, A, B_bias, zoh)
    a = a.reshape(-1, K, T, *a.shape[-3:]) if a.dim() == 5 else a[None, None, None]  # (b|1, K|1, T|1, h, p, n)
    x = x.unflatten(1, (K, T))  # (b, K, T, h, p, n)

    # Local scans of the K chunks from zero, and the cumulative decays P[t] = Ā[t]···Ā[0] inside each chunk.
    # (unbind, not indexing: its backward is one stack instead of T zero-filled full-size gradients)
    xs, as_ = x.unbind(2), a.unbind(2) if a.shape[2] > 1 else a[:, :, 0:1].expand(-1, -1, T, -1, -1, -1).unbind(2)
    local, decay = [xs[0]], [as_[0]]
    for t in range(1, T):
        local.append(torch.addcmul(xs[t], as_[t], local[-1]))
        decay.append(decay[-1] * as_[t])
    local, decay = torch.stack(local, 2), torch.stack(decay, 2)  # (b, K, T, h, p, n), (b|1, K|1, T, h, p, n)

    # Chain the chunk-boundary states: start[k + 1] = P_k[T − 1]·start[k] + local_k[T − 1].
    starts = [state]
    for k in range(K - 1):
        starts.append(torch.addcmul(local[:, k, T - 1], decay[:, k if decay.shape[1] > 1 else 0, T - 1], starts[-1]))
    states = torch.addcmul(local, decay, torch.stack(starts, 1)[:, :, None])  # (b, K, T, h, p, n)
    states = states.flatten(1, 2)

    if C is None:
        C_tilde = C_bias
    else:
        C = C[:, :, :, None, :]
        C_tilde = C if C_bias is None else C + C_bias
    if not states.is_complex():
        y = (states * C_tilde).sum(-1)
    elif C_tilde.is_complex():  # conjugate-pair convention: 2·Re(Σ C̃·h)
        y = 2 * (states * C_tilde).sum(-1).real
    else:
        y = 2 * (states.real * C_tilde).sum(-1)
    return y[:, :W], states[:, W - 1]
