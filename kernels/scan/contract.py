"""Validation of the scan contract's arguments, shared by every backend.

``check_scan_args`` turns the public arguments into a :class:`ScanArgs` record after checking every
rank, size, dtype and device; a backend receives only validated arguments and never re-checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DISCRETIZATIONS = ("euler", "zoh")
REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class ScanArgs:
    """The validated arguments of one scan; sizes ``b, L, d, n, h`` as in the contract."""

    u: torch.Tensor  # (b, L, d)
    dt: torch.Tensor  # (b, L, d) or (d,)
    A: torch.Tensor  # (d, n)
    B: torch.Tensor | None  # (b, L, h, n)
    C: torch.Tensor | None  # (b, L, h, n)
    B_bias: torch.Tensor | None  # (d, n)
    C_bias: torch.Tensor | None  # (d, n)
    D: torch.Tensor | None  # (d,)
    z: torch.Tensor | None  # (b, L, d)
    dt_bias: torch.Tensor | None  # (d,)
    initial_state: torch.Tensor | None  # (b, d, n)
    dt_softplus: bool
    discretization: str
    n_blocks: int

    @property
    def is_complex(self) -> bool:
        return self.A.is_complex()

    @property
    def time_invariant_dt(self) -> bool:
        return self.dt.dim() == 1

    @property
    def sizes(self) -> tuple[int, int, int, int, int]:
        """``(b, L, d, n, h)``."""
        b, L, d = self.u.shape
        return b, L, d, self.A.shape[1], self.n_blocks

    def tensors(self) -> dict[str, torch.Tensor | None]:
        """The tensor arguments by name, in the contract's order."""
        names = ("u", "dt", "A", "B", "C", "B_bias", "C_bias", "D", "z", "dt_bias", "initial_state")
        return {name: getattr(self, name) for name in names}


def _fail(arg: str, problem: str, expected: str) -> None:
    raise ValueError(f"selective_scan: argument {arg!r} {problem}; expected {expected}.")


def _check_shape(arg: str, x: torch.Tensor, shape: tuple[int, ...], names: str) -> None:
    if x.dim() != len(shape):
        _fail(arg, f"has rank {x.dim()} (shape {tuple(x.shape)})", f"rank {len(shape)}, shape {names} = {shape}")
    if tuple(x.shape) != shape:
        _fail(arg, f"has shape {tuple(x.shape)}", f"{names} = {shape}")


def _complex_of(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


def check_scan_args(
    u, dt, A, B, C, B_bias, C_bias, D, z, dt_bias, dt_softplus, discretization, initial_state
) -> ScanArgs:
    """Check every argument against the contract; raise ``ValueError`` naming the argument and its expected shape."""
    if not isinstance(u, torch.Tensor) or u.dim() != 3:
        shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        _fail("u", f"is {shape}", "a real tensor of shape (b, L, d)")
    if u.dtype not in REAL_DTYPES:
        _fail("u", f"has dtype {u.dtype}", f"a real floating dtype, one of {REAL_DTYPES}")
    b, L, d = u.shape
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != d:
        shape = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
        _fail("A", f"has shape {shape}", f"(d, n) with d = {d} from u")
    n = A.shape[1]
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"selective_scan: discretization={discretization!r} is not one of {DISCRETIZATIONS}.")
    if B is None and B_bias is None:
        raise ValueError("selective_scan: give at least one of B (b, L, h, n) and B_bias (d, n); both are None.")
    if C is None and C_bias is None:
        raise ValueError("selective_scan: give at least one of C (b, L, h, n) and C_bias (d, n); both are None.")

    selective = [(name, x) for name, x in (("B", B), ("C", C)) if x is not None]
    n_blocks = 1
    if selective:
        name0, x0 = selective[0]
        if x0.dim() != 4:
            _fail(
                name0,
                f"has rank {x0.dim()} (shape {tuple(x0.shape)})",
                f"rank 4, shape (b, L, h, n) = ({b}, {L}, h, {n})",
            )
        n_blocks = x0.shape[2]
        if n_blocks < 1 or d % n_blocks != 0:
            _fail(
                name0,
                f"has h = {n_blocks} blocks (shape {tuple(x0.shape)}), which does not divide d = {d}",
                f"(b, L, h, n) = ({b}, {L}, h, {n}) with d % h == 0",
            )
        for name, x in selective:
            _check_shape(name, x, (b, L, n_blocks, n), "(b, L, h, n)")

    if dt.dim() == 1:
        _check_shape("dt", dt, (d,), "(d,) for a time-invariant step")
    else:
        _check_shape("dt", dt, (b, L, d), "(b, L, d), or (d,) for a time-invariant step")
    for name, x in (("B_bias", B_bias), ("C_bias", C_bias)):
        if x is not None:
            _check_shape(name, x, (d, n), "(d, n)")
    for name, x in (("D", D), ("dt_bias", dt_bias)):
        if x is not None:
            _check_shape(name, x, (d,), "(d,)")
    if z is not None:
        _check_shape("z", z, (b, L, d), "(b, L, d)")
    if initial_state is not None:
        _check_shape("initial_state", initial_state, (b, d, n), "(b, d, n)")

    real = u.dtype
    compute_real = torch.float64 if real == torch.float64 else torch.float32
    complex_ = _complex_of(compute_real)
    everything = dict(
        u=u, dt=dt, A=A, B=B, C=C, B_bias=B_bias, C_bias=C_bias, D=D, z=z, dt_bias=dt_bias, initial_state=initial_state
    )
    for name, x in everything.items():
        if x is None:
            continue
        if x.device != u.device:
            _fail(name, f"is on {x.device}", f"the device of u ({u.device})")
        if x.is_complex():
            if name not in ("A", "B", "C", "B_bias", "C_bias", "initial_state"):
                _fail(name, f"is complex ({x.dtype})", f"a real tensor of dtype {real}")
            if not A.is_complex():
                _fail(
                    name,
                    f"is complex ({x.dtype}) while A is real",
                    "a real tensor, or a complex A (d, n): a complex state needs a complex A",
                )
            if x.dtype != complex_:
                _fail(name, f"has dtype {x.dtype}", f"{complex_} to match u's dtype {real}")
        elif x.dtype not in (real, compute_real):
            _fail(name, f"has dtype {x.dtype}", f"{real} (the dtype of u), or {complex_} where complex is allowed")
    if initial_state is not None and A.is_complex() and not initial_state.is_complex():
        _fail("initial_state", f"is real ({initial_state.dtype}) while A is complex", f"a {complex_} tensor (b, d, n)")
    return ScanArgs(
        u=u,
        dt=dt,
        A=A,
        B=B,
        C=C,
        B_bias=B_bias,
        C_bias=C_bias,
        D=D,
        z=z,
        dt_bias=dt_bias,
        initial_state=initial_state,
        dt_softplus=bool(dt_softplus),
        discretization=discretization,
        n_blocks=n_blocks,
    )
