"""The fast CPU backend: the scan vectorised over chunks of the sequence, with a hand-written backward pass.

The sequence is cut into windows of ``W`` steps whose ``(b, W, d, n)`` volume is bounded by
``WINDOW_VOLUME``; each window is cut into ``K`` chunks of ``T`` steps. Inside a window all ``K`` chunks are
scanned at once from a zero state (a loop over the ``T`` positions, one op on ``(b, K, d, n)`` each) for their
end states and decays, the chunk-boundary states are chained (a loop over ``K``, one op on ``(b, d, n)`` each),
and all chunks are scanned again from their incoming states. From ``STEP_LOOP_LANES`` lanes ``b·d·n`` on, one
op per step has enough work that the plain loop over the window's steps (``T = 1``) is faster. Only decays
``|exp(Δ·A)| <= 1`` (for ``Re A <= 0``) are ever multiplied, so a large ``Δ·|Re A|`` cannot overflow. The
backward pass keeps only each window's initial state, recomputes the window, and runs the adjoint recurrence,
itself a scan of the same kind, backwards in time.
Derivations, stability and complexity: ``kernels/scan/README.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kernels.scan.contract import ScanArgs
from kernels.scan.reference import step_size

# Elements of the (b, W, d, n) volume of one window: bounds the memory of every intermediate.
WINDOW_VOLUME = 1 << 18
# Lanes b·d·n from which the step loop (T = 1) beats the chunks: its W ops per window then cost less than the
# chunked sweeps' ~3 extra passes over the window (break-even ~4096 on 1 and 2 threads, kernels/scan/README.md).
STEP_LOOP_LANES = 1 << 12


def plan(b: int, L: int, d: int, n: int) -> tuple[int, int]:
    """Window length ``W`` and chunk length ``T`` (``W`` a multiple of ``T``) for a ``(b, L, d, n)`` scan.

    ``T ≈ √W`` balances the chunked sweeps' ops; ``T = 1``, the step loop, from ``STEP_LOOP_LANES`` lanes on.
    """
    lanes = b * d * n
    W = max(1, min(L, WINDOW_VOLUME // max(1, lanes)))
    T = 1 if lanes >= STEP_LOOP_LANES else max(1, math.isqrt(W))
    return T * math.ceil(W / T), T


def scan_torch(args: ScanArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked scan; returns ``y`` (b, L, d) in u's dtype and the last state (b, d, n) in the compute dtype."""
    b, L, d, n, h = args.sizes
    p = d // h
    real = torch.float64 if args.u.dtype == torch.float64 else torch.float32
    state_dtype = (torch.complex128 if real == torch.float64 else torch.complex64) if args.is_complex else real

    def compute(x, *split):  # cast to the compute dtype; split the channel axis d into (h, p)
        if x is None:
            return None
        x = x.to(x.dtype if x.is_complex() else real)
        return x.unflatten(split[0], (h, p)) if split else x

    u = compute(args.u)
    delta = step_size(args, real).unflatten(-1, (h, p))  # (b, L, h, p) or (h, p)
    initial = compute(args.initial_state, 1)
    if initial is None:
        initial = torch.zeros(b, h, p, n, dtype=state_dtype, device=u.device)
    y, last = _ChunkedScan.apply(
        u.unflatten(-1, (h, p)),
        delta,
        compute(args.A.to(state_dtype), 0),
        compute(args.B),
        compute(args.C),
        compute(args.B_bias, 0),
        compute(args.C_bias, 0),
        initial.to(state_dtype),
        args.discretization == "zoh",
    )
    y = y.flatten(2)
    if args.D is not None:
        y = y + args.D.to(real) * u
    if args.z is not None:
        y = y * F.silu(args.z.to(real))
    return y.to(args.u.dtype), last.flatten(1, 2)


class _ChunkedScan(torch.autograd.Function):
    """(u, Δ, A, B, C, B_bias, C_bias, h0) -> (Σ_n C̃·h (2·Re for complex), last state), window by window.

    u (b, L, h, p); Δ (b, L, h, p) or (h, p); A, B_bias, C_bias (h, p, n); B, C (b, L, h, n); h0 (b, h, p, n).
    Saves the inputs and one state (b, h, p, n) per window.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, B_bias, C_bias, h0, zoh):
        b, L, h, p = u.shape
        W, T = plan(b, L, h * p, A.shape[-1])
        y = torch.empty(b, L, h, p, dtype=u.dtype, device=u.device)
        starts, state = [], h0
        for start in range(0, L, W):
            w = slice(start, min(start + W, L))
            starts.append(state)
            y[:, w], state = _window_forward(state, *_window_inputs(w, u, delta, B, C), A, B_bias, C_bias, zoh, T)
        ctx.save_for_backward(u, delta, A, B, C, B_bias, C_bias, torch.stack(starts))
        ctx.zoh, ctx.W, ctx.T = zoh, W, T
        return y, state

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        u, delta, A, B, C, B_bias, C_bias, starts = ctx.saved_tensors
        b, L, h, p = u.shape
        W, T = ctx.W, ctx.T
        # Holomorphic adjoints δ = conj(PyTorch's gradient) throughout; conjugated back at the end.
        grads = {
            "u": torch.empty_like(u),
            "delta": torch.zeros_like(delta),
            "A": torch.zeros_like(A),
            "B": None if B is None else torch.empty_like(B),
            "C": None if C is None else torch.empty_like(C),
            "B_bias": None if B_bias is None else torch.zeros_like(B_bias),
            "C_bias": None if C_bias is None else torch.zeros_like(C_bias),
        }
        if grad_y is None:
            grad_y = torch.zeros_like(u)
        carry = torch.zeros_like(starts[0]) if grad_last is None else grad_last.conj()
        window_starts = list(range(0, L, W))
        for i in reversed(range(len(window_starts))):
            w = slice(window_starts[i], min(window_starts[i] + W, L))
            inputs = _window_inputs(w, u, delta, B, C)
            carry = _window_backward(
                starts[i], *inputs, A, B_bias, C_bias, ctx.zoh, T, grad_y[:, w], carry, _window_grads(grads, w)
            )
        for name, x in (("A", A), ("B", B), ("C", C), ("B_bias", B_bias), ("C_bias", C_bias)):
            if x is not None:
                grads[name] = grads[name].conj_physical() if x.is_complex() else grads[name].real
        g_h0 = carry.conj_physical() if carry.is_complex() else carry
        return (*grads.values(), g_h0, None)


def _window_inputs(w: slice, u, delta, B, C):
    """The window ``w`` of the time-dependent inputs (Δ unchanged when it is time-invariant)."""
    return (
        u[:, w],
        delta if delta.dim() == 2 else delta[:, w],
        None if B is None else B[:, w],
        None if C is None else C[:, w],
    )


def _window_grads(grads: dict, w: slice) -> dict:
    """Views on window ``w`` of the per-step gradients (u, Δ unless time-invariant, B, C); the others whole."""
    per_step = ("u", "B", "C") + (("delta",) if grads["delta"].dim() == 4 else ())
    return {k: v[:, w] if k in per_step and v is not None else v for k, v in grads.items()}


def _pad_time(x, steps: int):
    """Append ``steps`` zero steps to a (b, W, ...) tensor (None and (h, p) step sizes pass through)."""
    if x is None or steps == 0 or x.dim() == 2:
        return x
    return torch.cat([x, x.new_zeros(x.shape[0], steps, *x.shape[2:])], 1)


def _discretize(delta, u, B, A, B_bias, zoh):
    """Ā = exp(Δ·A), Ā − 1 (zoh; else None), the input weight b and x = B̄·u, broadcastable to (b, N, h, p, n).

    b is A⁻¹·B̃ for zoh (B̄ = (Ā − 1)·b) and B̃ for euler (B̄ = Δ·b); the backward pass reuses it.
    delta (b, N, h, p) or (h, p); u (b, N, h, p); B (b, N, h, n) or None; A, B_bias (h, p, n).
    """
    delta, u = delta[..., None], u[..., None]
    a_m1 = None
    if A.is_complex():  # (real and imaginary parts as separate contiguous tensors: strided views are slow)
        r, theta = delta * A.real.contiguous(), delta * A.imag.contiguous()
        if zoh:  # Ā − 1 without cancellation: e^r·cos θ − 1 = expm1(r) − 2·sin²(θ/2)·e^r, in place
            em1 = r.expm1_()
            e = em1 + 1
            im = torch.sin(theta).mul_(e)
            a_m1 = torch.complex(em1.addcmul_(theta.mul_(0.5).sin_().square_(), e, value=-2), im)
            a = a_m1 + 1
        else:
            e = r.exp_()
            a = torch.complex(torch.cos(theta).mul_(e), theta.sin_().mul_(e))
    elif zoh:
        a_m1 = torch.expm1(delta * A)
        a = a_m1 + 1
    else:
        a = torch.exp(delta * A)
    if zoh:  # b = A⁻¹·B̃ with A⁻¹·B_bias folded into one (h, p, n) tensor
        A_inv = A.reciprocal()
        weight = _tilde(B, None if B_bias is None else A_inv * B_bias, scale=A_inv)
        x = a_m1 * weight
        x = x.mul_(u) if x.dim() == u.dim() else x * u  # (a time-invariant Δ without B gives (h, p, n))
    else:
        weight = _tilde(B, B_bias)
        x = weight * (delta * u)
    return a, a_m1, weight, x


def _tilde(X, X_bias, scale=None):
    """B̃ = B[block of c] + B_bias[c] (or scale·B[block of c] + B_bias[c]), broadcastable to (b, N, h, p, n).

    X (b, N, h, n) or None; X_bias, scale (h, p, n) or None.
    """
    if X is None:
        return X_bias
    X = X[:, :, :, None, :]
    if scale is not None:
        return X * scale if X_bias is None else torch.addcmul(X_bias, X, scale)
    return X if X_bias is None else X + X_bias


def _scan(a, x, init, T: int, out, reverse: bool = False):
    """All states of h[t] = a[t]·h[t ∓ 1] + x[t] (reverse: h[t] = a[t]·h[t + 1] + x[t]) into ``out``; the last one.

    a: (b|1, N|1, h, p, n) or (h, p, n); x, out: (b, N, h, p, n) with N a multiple of T (out may be x);
    init: (b, h, p, n), the state before the first step in scan order.
    T = 1: the step loop, one op on (b, h, p, n) per step. Otherwise two sweeps over the K chunks of T steps at
    once: the first keeps only each chunk's end state from zero and its total decay (nothing of the window's size
    is written), the chain gives each chunk's incoming state, the second scans every chunk from it into ``out``.
    """
    b, N = x.shape[:2]
    K, rest = N // T, x.shape[2:]
    if T == 1:
        a_t = (a,) * N if a.dim() == 3 else a.unbind(1)
        x_t, out_t, state = x.unbind(1), out.unbind(1), init
        for t in range(N - 1, -1, -1) if reverse else range(N):
            state = torch.addcmul(x_t[t], a_t[t], state, out=out_t[t])
        return state
    a = a.view(-1, 1, 1, *rest) if a.dim() == 3 else a.view(a.shape[0], K, T, *rest)
    # position t of every chunk at once: (b, K, h, p, n) views, taken once
    a_t, x_t = a.unbind(2), x.view(b, K, T, *rest).unbind(2)
    a_t = a_t * T if len(a_t) == 1 else a_t
    order = range(T - 1, -1, -1) if reverse else range(T)
    end, decay = x_t[order[0]].clone(), a_t[order[0]].clone()  # chunk end state from zero, Π Ā over the chunk
    for t in order[1:]:
        torch.addcmul(x_t[t], a_t[t], end, out=end)
        decay.mul_(a_t[t])
    incoming = torch.empty(b, K, *rest, dtype=out.dtype, device=out.device)  # state entering each chunk
    state = init
    for k in range(K - 1, -1, -1) if reverse else range(K):
        incoming[:, k] = state
        state = torch.addcmul(end[:, k], decay[:, k if decay.shape[1] > 1 else 0], state)
    prev, out_t = incoming, out.view(b, K, T, *rest).unbind(2)
    for t in order:
        torch.addcmul(x_t[t], a_t[t], prev, out=out_t[t])
        prev = out_t[t]
    return state


def _window_forward(state, u, delta, B, C, A, B_bias, C_bias, zoh, T):
    """One window of W steps: y (b, W, h, p) and the state after step W − 1, from the state before it."""
    b, W = u.shape[:2]
    N = T * math.ceil(W / T)
    a, _, _, x = _discretize(_pad_time(delta, N - W), _pad_time(u, N - W), _pad_time(B, N - W), A, B_bias, zoh)
    states = x if x.dtype == state.dtype else x.to(state.dtype)
    _scan(a, states, state, T, out=states)
    states = states[:, :W]
    return _readout(states, _tilde(C, C_bias)), states[:, W - 1]


def _readout(states, C_tilde):
    """Σ_n C̃·h over (b, W, h, p, n); 2·Re(·) for a complex state (the conjugate-pair convention)."""
    y = (states * C_tilde).sum(-1)
    return 2 * y.real if y.is_complex() else y


def _put(grads: dict, name: str, value, accumulate: bool = False) -> None:
    """Write (or add) an adjoint into ``grads[name]``, keeping its real part for a real argument."""
    target = grads[name]
    value = value if target.is_complex() else value.real
    target.add_(value) if accumulate else target.copy_(value)


def _sum_to(x, shape):
    """Sum the broadcast dimensions of x away, to ``shape``.

    One dimension at a time, last first: a sum over several dimensions of a strided window view (time sliced)
    takes a slow path in torch's CPU reduction, ~10× the time of the same sums done one by one.
    """
    lead = x.dim() - len(shape)
    for i in reversed(range(x.dim())):
        if i < lead or (shape[i - lead] == 1 and x.shape[i] != 1):
            x = x.sum(i, keepdim=True)
    return x.reshape(shape)


def _window_backward(start, u, delta, B, C, A, B_bias, C_bias, zoh, T, grad_y, carry, grads):
    """Adjoints of one window: writes/accumulates into ``grads`` (δ convention), returns δ(state before it).

    carry: δ of the state after step W − 1 from everything later. See the README for the recurrences.
    """
    b, W = u.shape[:2]
    N = T * math.ceil(W / T)
    kappa = 2.0 if start.is_complex() else 1.0
    # Recompute Ā at N + 1 steps (the adjoint recurrence uses Ā[t + 1]) and the states h[t] in place of x.
    pad = N + 1 - W
    a, a_m1, weight, h_now = _discretize(_pad_time(delta, pad), _pad_time(u, pad), _pad_time(B, pad), A, B_bias, zoh)
    h_now = h_now if h_now.dtype == start.dtype else h_now.to(start.dtype)
    invariant = a.dim() == 3
    _scan(a if invariant else a[:, :N], h_now[:, :N], start, T, out=h_now[:, :N])
    h_now, a_w = h_now[:, :W], (a if invariant else a[:, :W])

    # δh[t] = κ·ȳ[t]·C̃[t]; adjoint recurrence G[t] = δh[t] + Ā[t + 1]·G[t + 1], with G[W − 1] += carry.
    C_tilde = _tilde(C, C_bias)
    gy = kappa * grad_y
    G = torch.empty(b, N, *h_now.shape[2:], dtype=start.dtype, device=start.device)
    torch.mul(gy[..., None], C_tilde, out=G[:, :W])
    G[:, W:] = 0
    G[:, W - 1] += carry
    _scan(a if invariant else a[:, 1 : N + 1], G, torch.zeros_like(start), T, out=G, reverse=True)
    G = G[:, :W]
    carry = G[:, 0] * (a if invariant else a[:, 0])

    # y = κ·Re Σ_n C̃·h  ->  δC̃ = κ·ȳ·h (its real part for a real C̃, taken by _put after the sums)
    d_C_tilde = h_now * gy[..., None]
    if C is not None:
        _put(grads, "C", d_C_tilde.sum(3))
    if C_bias is not None:
        _put(grads, "C_bias", _sum_to(d_C_tilde, C_bias.shape), accumulate=True)

    # x = B̄·u with B̄ = (Ā − 1)·weight (zoh, weight = A⁻¹·B̃) or Δ·weight (euler, weight = B̃); δx = G.
    u_ = u[..., None]
    d_ = delta[..., None] if delta.dim() == 2 else delta[:, :W, ..., None]
    weight = weight[:, :W] if weight.dim() == 5 else weight
    if zoh:  # E = G·(Ā − 1):  δu = Re Σ_n E·weight;  δA −= A⁻¹·Σ_{b,t} E·weight·u;  δB̃ = A⁻¹·E·u
        A_inv = A.reciprocal()
        E = G * (a_m1 if invariant else a_m1[:, :W])
        p = E * weight
        _put(grads, "u", p.sum(-1))
        grads["A"].sub_(A_inv * _sum_to(p.mul_(u_), A.shape))  # δA⁻¹·(−A⁻²)
        d_B_tilde = E.mul_(u_)  # times A⁻¹ below (after the B_bias sum, which takes it outside)
        if B_bias is not None:
            _put(grads, "B_bias", A_inv * _sum_to(d_B_tilde, B_bias.shape), accumulate=True)
        if B is not None:
            _put(grads, "B", d_B_tilde.mul_(A_inv).sum(3))
        # δ(Δ·A) = (δĀ + δ(Ā − 1))·Ā = G·(h[t − 1] + v)·Ā with v = weight·u, and Ā·h[t − 1] = h[t] − (Ā − 1)·v,
        # so δ(Δ·A) = G·(h[t] + v): no shifted states, no product with Ā
        v = weight.mul_(u_) if B is not None else weight * u_
        d_dA = v.add_(h_now).mul_(G)
    else:  # δB̃ = G·Δu;  δ(Δu) = Re Σ_n G·B̃
        d_B_tilde = G * (d_ * u_)
        q = (G * weight).sum(-1).real
        grads["u"].copy_(q * d_[..., 0])
        grads["delta"] += _sum_to(q * u, grads["delta"].shape)
        if B is not None:
            _put(grads, "B", d_B_tilde.sum(3))
        if B_bias is not None:
            _put(grads, "B_bias", _sum_to(d_B_tilde, B_bias.shape), accumulate=True)
        h_prev = torch.empty_like(G)  # δ(Δ·A) = δĀ·Ā = G·h[t − 1]·Ā
        h_prev[:, 1:] = h_now[:, :-1]
        h_prev[:, 0] = start
        d_dA = h_prev.mul_(G).mul_(a_w)
    grads["delta"] += _sum_to((d_dA * A).sum(-1).real, grads["delta"].shape)
    grads["A"].add_(_sum_to(d_dA.mul_(d_), A.shape))
    return carry
