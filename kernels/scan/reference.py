"""The reference backend: a readable step loop over time, the oracle for every other backend.

It follows the contract line by line (see ``kernels/scan/README.md``) and is differentiated by plain
autograd. Run it in float64 to get the ground truth the fast backends are tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.scan.contract import ScanArgs


def expand_blocks(x: torch.Tensor, d: int) -> torch.Tensor:
    """(..., h, n) -> (..., d, n): channel c reads block c // (d / h)."""
    *lead, h, n = x.shape
    return x.unsqueeze(-2).expand(*lead, h, d // h, n).reshape(*lead, d, n)


def step_size(args: ScanArgs, dtype: torch.dtype) -> torch.Tensor:
    """Δ = softplus(dt + dt_bias) (or without softplus) in ``dtype``, shape (b, L, d) or (d,) for a time-invariant step.

    dt and dt_bias are cast before they are added, so half-precision inputs are not rounded once more.
    """
    delta = args.dt.to(dtype) if args.dt_bias is None else args.dt.to(dtype) + args.dt_bias.to(dtype)
    return F.softplus(delta) if args.dt_softplus else delta


def scan_reference(args: ScanArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence step by step; returns ``y`` (b, L, d) and the last state (b, d, n)."""
    b, L, d, n, _ = args.sizes
    out_dtype = args.u.dtype
    real = torch.float64 if out_dtype == torch.float64 else torch.float32
    state_dtype = args.A.dtype if args.is_complex else real
    A = args.A.to(state_dtype)
    u = args.u.to(real)
    delta = step_size(args, real).expand(b, L, d)
    state = (
        torch.zeros(b, d, n, dtype=state_dtype, device=u.device)
        if args.initial_state is None
        else args.initial_state.to(state_dtype)
    )

    ys = []
    for t in range(L):
        delta_t = delta[:, t, :, None]  # (b, d, 1)
        A_bar = torch.exp(delta_t * A)  # (b, d, n)
        B_t = 0 if args.B is None else expand_blocks(args.B[:, t], d)
        B_t = B_t + (0 if args.B_bias is None else args.B_bias)
        C_t = 0 if args.C is None else expand_blocks(args.C[:, t], d)
        C_t = C_t + (0 if args.C_bias is None else args.C_bias)
        if args.discretization == "zoh":
            B_bar = torch.expm1(delta_t * A) / A * B_t
        else:
            B_bar = delta_t * B_t
        state = A_bar * state + B_bar * u[:, t, :, None]
        y_t = (C_t * state).sum(-1)
        ys.append(2 * y_t.real if torch.is_complex(y_t) else y_t)
    y = torch.stack(ys, dim=1)  # (b, L, d)
    if args.D is not None:
        y = y + args.D.to(real) * u
    if args.z is not None:
        y = y * F.silu(args.z.to(real))
    return y.to(out_dtype), state
