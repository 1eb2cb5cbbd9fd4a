"""S6, the selective SSM unit of Mamba (Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State
Spaces", 2023): input-dependent Δ, B and C, with B and C shared by all channels (h = 1 in the scan contract).

:class:`S6Core` is the unit itself, shared with ``zoo/mixers/mamba.py``; the ``s6`` mixer puts it inside the
same layer as S4D and B2S6 (see :class:`~zoo.mixers.ssm.UnitMixer`) for unit-level comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zoo.mixers.ssm import (
    SSMConfig,
    UnitMixer,
    UnitOutputConfig,
    check_ssm_config,
    inverse_softplus,
    log_uniform_dt,
    s4d_real,
    scan,
)
from zoo.registry import ConfigError, register_mixer


@dataclass
class S6CoreConfig(SSMConfig):
    """Fields of the S6 unit, on top of ``SSMConfig`` (whose defaults, n = 16 and Euler, are Mamba's).

    Attributes:
        dt_rank: rank of the Δ projection, Δ = softplus(W_up W_down u + dt_bias); None means ⌈d_model / 16⌉,
            Mamba's ``"auto"`` (d_model is the width of the residual stream, also inside ``mamba``).
        dt_init_floor: lower clamp of the initial Δ (Mamba's ``dt_init_floor``).

    Not configurable (Mamba's defaults): W_up ~ U(±dt_rank^-½), A = −(1..n) (S4D-Real) per channel,
    D = 1, the B/C projection with PyTorch's default Linear initialisation and no bias.
    """

    dt_rank: int | None = None
    dt_init_floor: float = 1e-4


def resolve_dt_rank(cfg: S6CoreConfig, d_model: int) -> int:
    """The Δ projection's rank: ``cfg.dt_rank``, or ⌈d_model / 16⌉ when it is None."""
    rank = math.ceil(d_model / 16) if cfg.dt_rank is None else cfg.dt_rank
    if rank < 1:
        raise ConfigError(f"dt_rank = {cfg.dt_rank}: must be a positive integer or None (for ⌈d_model / 16⌉).")
    return rank


class S6Core(nn.Module):
    """The S6 unit on width d: (batch, length, d) -> (batch, length, d), optionally gated by z (batch, length, d).

    Δ = softplus(dt_up(dt_down(u)) + dt_bias) per channel and step; B, C = x_proj(u), each (batch, length, 1, n);
    A = −exp(A_log) real (d, n); y = C·h + D·u, times silu(z) when z is given.
    """

    def __init__(self, d: int, cfg: S6CoreConfig, dt_rank: int):
        super().__init__()
        self.cfg = cfg
        n = cfg.n_state
        self.x_proj = nn.Linear(d, 2 * n, bias=False)
        self.dt_down = nn.Linear(d, dt_rank, bias=False)
        self.dt_up = nn.Linear(dt_rank, d, bias=False)
        nn.init.uniform_(self.dt_up.weight, -(dt_rank**-0.5), dt_rank**-0.5)
        self.dt_bias = nn.Parameter(inverse_softplus(log_uniform_dt(d, cfg.dt_min, cfg.dt_max, cfg.dt_init_floor)))
        self.A_log = nn.Parameter(torch.log(-s4d_real(n)).expand(d, n).clone())
        self.D = nn.Parameter(torch.ones(d))

    def forward(self, u: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        B, C = self.x_proj(u).unsqueeze(2).chunk(2, dim=-1)  # (batch, length, 1, n) each
        dt = self.dt_up(self.dt_down(u))
        return scan(self.cfg, u, dt, -torch.exp(self.A_log), B, C, D=self.D, z=z, dt_bias=self.dt_bias)

    def optim_hints(self):
        """Mamba's: no weight decay on A, D and the Δ bias; the Δ parameters at the configured lr scale."""
        dt_lr = {"lr_scale": self.cfg.dt_lr_scale, "lr_max": self.cfg.dt_lr_max}
        return [
            ([self.dt_down.weight, self.dt_up.weight], dt_lr),
            ([self.dt_bias], {**dt_lr, "weight_decay": 0.0}),
            ([self.A_log, self.D], {"weight_decay": 0.0}),
        ]


@register_mixer("s6")
class S6(UnitMixer):
    """The S6 unit inside S4D's layer (unit -> activation -> output layer), for comparisons with S4D and B2S6."""

    @dataclass
    class Config(S6CoreConfig, UnitOutputConfig):
        """S6's settings: the fields of ``S6CoreConfig``, ``SSMConfig`` and ``UnitOutputConfig``, defaults unchanged."""

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_ssm_config(self.name, cfg)
        self.core = S6Core(d_model, cfg, resolve_dt_rank(cfg, d_model))

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(x)

    def optim_hints(self):
        return self.core.optim_hints()
