"""The selective scan: one contract, several implementations (``reference``, ``torch``, ``triton``).

See ``kernels/scan/README.md`` for the semantics written out and the derivations behind the fast paths.
"""

from __future__ import annotations

import importlib

import torch

from kernels.scan.contract import check_scan_args

# name -> "module:function"; each function takes a validated ScanArgs and returns (y, last_state).
_IMPLEMENTATIONS = {
    "reference": "kernels.scan.reference:scan_reference",
    "torch": "kernels.scan.torch_chunked:scan_torch",
    "triton": "kernels.scan.autograd:scan_triton",
}
BACKENDS = ("auto", *_IMPLEMENTATIONS)


def _implementation(name: str):
    if name not in _IMPLEMENTATIONS:
        raise ValueError(f"selective_scan: backend={name!r} is not one of {BACKENDS}.")
    module, function = _IMPLEMENTATIONS[name].split(":")
    try:
        return getattr(importlib.import_module(module), function)
    except ImportError as error:
        raise RuntimeError(f"selective_scan: backend {name!r} cannot run here: {error}") from error


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend ``auto`` stands for on ``device`` (Triton on CUDA, the chunked torch path elsewhere)."""
    if backend != "auto":
        return backend
    return "triton" if device.type == "cuda" else "torch"


def selective_scan(
    u,
    dt,
    A,
    B=None,
    C=None,
    *,
    B_bias=None,
    C_bias=None,
    D=None,
    z=None,
    dt_bias=None,
    dt_softplus=True,
    discretization="euler",
    initial_state=None,
    return_last_state=False,
    backend="auto",
):
    """Selective state-space scan, the one op every SSM mixer calls.

    Sizes: ``b`` batch, ``L`` length, ``d`` channels, ``n`` state size, ``h`` blocks (``d % h == 0``,
    channel ``c`` reads block ``c // (d / h)``).

    Args:
        u: (b, L, d) real input.
        dt: (b, L, d) raw step, or (d,) for a time-invariant step.
        A: (d, n) real or complex transition (stable when Re(A) < 0); pass a shared A as an expanded view.
        B, C: (b, L, h, n) input-dependent parts, shared by the channels of a block, or None.
        B_bias, C_bias: (d, n) input-independent, channel-specific parts added at every step, or None.
            At least one of B and B_bias, and one of C and C_bias, is given.
        D: (d,) skip. z: (b, L, d) gate (output times silu(z)). dt_bias: (d,) added to dt.
        dt_softplus: Δ = softplus(dt + dt_bias) if True, else dt + dt_bias.
        discretization: ``"euler"`` (B̄ = Δ·B̃, as in Mamba) or ``"zoh"`` (B̄ = (exp(Δ·A) − 1)/A · B̃).
        initial_state: (b, d, n) state before the first step, complex when A is.
        return_last_state: also return the state after the last step.
        backend: ``"auto"``, or one of the implementations; one that cannot run raises.

    Returns:
        ``(y, last_state)``: y (b, L, d) in u's dtype; last_state (b, d, n) or None.
        Per step: h = exp(Δ·A)·h + B̄·u;  y = Σ_n C̃·h (2·Re(·) for complex A) + D·u, then · silu(z).
    """
    args = check_scan_args(u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, dt_softplus, discretization, initial_state)
    y, last_state = _implementation(resolve_backend(backend, u.device))(args)
    return y, (last_state if return_last_state else None)
