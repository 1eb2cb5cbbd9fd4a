"""Pieces every SSM mixer shares: the common config fields, the standard initialisations, the unit wrapper.

An SSM *unit* (S4D, S6, B2S6) maps (batch, length, d) -> (batch, length, d) channel by channel through
``kernels.selective_scan``; the :class:`UnitMixer` wrapper adds what S4D's LRA layer puts around it
(activation, then a position-wise output layer that mixes channels), so the three units are compared inside
the same layer and differ only in the unit. Mamba has its own wrapper (see ``zoo/mixers/mamba.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kernels import BACKENDS, selective_scan
from kernels.scan.contract import DISCRETIZATIONS
from zoo.registry import ConfigError, Mixer, check_choice

ACTIVATIONS = {"gelu": nn.GELU, "silu": nn.SiLU, "identity": nn.Identity}
OUTPUTS = ("glu", "linear", "none")


@dataclass
class SSMConfig:
    """Fields shared by every SSM mixer (each mixer restates the defaults it changes).

    Attributes:
        n_state: state size ``n`` per channel (for a complex A: complex modes; a conjugate pair counts once).
        discretization: how B is discretised, ``"euler"`` (Δ·B, Mamba's kernels) or ``"zoh"`` (zero-order hold,
            S4D and the B2S6 paper); A is always zero-order hold.
        dt_min, dt_max: Δ is initialised log-uniform in [dt_min, dt_max] (Mamba's and S4D's range).
        dt_lr_scale: learning-rate multiplier for the Δ parameters (honoured by ``zoo.param_groups``).
        dt_lr_max: cap on the Δ parameters' learning rate after scaling; None for no cap.
        scan_backend: the ``kernels.selective_scan`` implementation: ``"auto"`` (Triton on CUDA, the chunked
            torch path elsewhere), ``"torch"``, ``"triton"`` or ``"reference"`` (the step loop, for tests).
    """

    n_state: int = 16
    discretization: str = "euler"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_lr_scale: float = 1.0
    dt_lr_max: float | None = None
    scan_backend: str = "auto"


@dataclass
class UnitOutputConfig:
    """Fields of the layer around an SSM unit (S4D's LRA layer: unit -> activation -> output layer).

    Attributes:
        activation: applied to the unit's output: ``"gelu"`` (S4D's default), ``"silu"`` or ``"identity"``.
        output: the position-wise layer that mixes channels afterwards: ``"glu"`` (S4D's Linear(d, 2d) + GLU),
            ``"linear"`` (Linear(d, d)) or ``"none"`` (the bare unit: no channel mixing inside the mixer).
    """

    activation: str = "gelu"
    output: str = "glu"


def check_ssm_config(mixer: str, cfg: SSMConfig) -> None:
    """Raise ``ConfigError`` naming the field for a bad choice or range in the shared SSM fields."""
    check_choice(f"{mixer}.discretization", cfg.discretization, DISCRETIZATIONS)
    check_choice(f"{mixer}.scan_backend", cfg.scan_backend, BACKENDS)
    if cfg.n_state < 1:
        raise ConfigError(f"{mixer}.n_state = {cfg.n_state}: must be a positive integer.")
    if not 0 < cfg.dt_min <= cfg.dt_max:
        raise ConfigError(f"{mixer}.dt_min = {cfg.dt_min}, dt_max = {cfg.dt_max}: need 0 < dt_min <= dt_max.")
    if cfg.dt_lr_scale <= 0 or (cfg.dt_lr_max is not None and cfg.dt_lr_max <= 0):
        raise ConfigError(f"{mixer}.dt_lr_scale and dt_lr_max must be positive (dt_lr_max may be None).")


def log_uniform_dt(size: int | tuple[int, ...], dt_min: float, dt_max: float, floor: float = 0.0) -> torch.Tensor:
    """Steps Δ drawn log-uniform in [dt_min, dt_max] (clamped below at ``floor``), shape ``size``."""
    u = torch.rand(size)
    dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return dt.clamp(min=floor) if floor > 0 else dt


def inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    """The ``b`` with softplus(b) = x (Mamba's Δ-bias initialisation)."""
    return x + torch.log(-torch.expm1(-x))


def s4d_lin_imag(n: int) -> torch.Tensor:
    """Imaginary parts of S4D-Lin's A = −½ + iπm, m = 0..n−1, shape (n,)."""
    return math.pi * torch.arange(n, dtype=torch.float32)


def s4d_real(n: int) -> torch.Tensor:
    """S4D-Real's A = −(m + 1), m = 0..n−1, shape (n,) (Mamba's initialisation)."""
    return -torch.arange(1, n + 1, dtype=torch.float32)


def complex_param(real: torch.Tensor, imag: torch.Tensor) -> nn.Parameter:
    """A complex parameter stored as its real view (..., 2), so ``.double()``, AdamW and DDP treat it as real."""
    return nn.Parameter(torch.stack([real, imag], dim=-1))


def as_complex(x: torch.Tensor) -> torch.Tensor:
    """(..., 2) real view -> (...) complex, in at least single precision (complex32 does not exist)."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return torch.view_as_complex(x.contiguous())


def _like(x: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor | None:
    """A real activation in u's dtype (under autocast, projections come out in half precision while u may not)."""
    return x if x is None or x.is_complex() or x.dtype == u.dtype else x.to(u.dtype)


def scan(cfg: SSMConfig, u, dt, A, B=None, C=None, z=None, **kwargs) -> torch.Tensor:
    """``kernels.selective_scan`` with the mixer's discretisation and backend; returns y (batch, length, d).

    Input-dependent real tensors (dt of shape (b, L, d), B, C, z) are cast to u's dtype first; parameters keep
    theirs (the contract accepts float32 parameters with half-precision u).
    """
    if dt.dim() == 3:
        dt = _like(dt, u)
    y, _ = selective_scan(
        u,
        dt,
        A,
        _like(B, u),
        _like(C, u),
        z=_like(z, u),
        discretization=cfg.discretization,
        backend=cfg.scan_backend,
        **kwargs,
    )
    return y


class UnitMixer(Mixer):
    """An SSM unit inside S4D's layer: y = output(activation(unit(x))); subclasses implement :meth:`unit`.

    ``cfg`` must carry the :class:`UnitOutputConfig` fields.
    """

    def __init__(self, d_model: int, cfg):
        super().__init__(d_model, cfg)
        check_choice(f"{self.name}.activation", cfg.activation, tuple(ACTIVATIONS))
        check_choice(f"{self.name}.output", cfg.output, OUTPUTS)
        self.activation = ACTIVATIONS[cfg.activation]()
        if cfg.output == "glu":
            self.output = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GLU(dim=-1))
        elif cfg.output == "linear":
            self.output = nn.Linear(d_model, d_model)
        else:
            self.output = nn.Identity()

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        """The SSM unit: (batch, length, d_model) -> (batch, length, d_model), channel-wise and causal."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.activation(self.unit(x)))
