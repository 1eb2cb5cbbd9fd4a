"""S4D (Gu et al., "On the Parameterization and Initialization of Diagonal State Space Models", 2022).

A diagonal, complex, time-invariant SSM per channel: the time-invariant special case of the scan contract
(dt of shape (d,), S4D's B and C as the channel-specific B_bias and C_bias, zero-order hold).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.mixers.ssm import (
    SSMConfig,
    UnitMixer,
    UnitOutputConfig,
    as_complex,
    check_ssm_config,
    complex_param,
    log_uniform_dt,
    s4d_lin_imag,
    scan,
)
from zoo.registry import register_mixer


@register_mixer("s4d")
class S4D(UnitMixer):
    """S4D-Lin: A = −½ + iπm per channel, Δ = exp(log_dt) learned per channel, y = 2·Re(C·h) + D·u.

    Parameters: ``log_dt`` (d,), ``A_log``/``A_imag`` (d, n) with A = −exp(A_log) + i·A_imag, ``B``/``C``
    (d, n) complex (stored as real views (d, n, 2)), ``D`` (d,).
    """

    @dataclass
    class Config(SSMConfig, UnitOutputConfig):
        """S4D's settings; the fields are documented on ``SSMConfig`` and ``UnitOutputConfig``.

        Defaults that differ from ``SSMConfig``: ``n_state = 64`` (our choice, to match B2S6's LRA default;
        S4D's code calls this N/2 = 32 with N = 64), ``discretization = "zoh"`` (S4D's), and
        ``dt_lr_max = 1e-3``: as in S4D's code, the kernel parameters Δ, A and B train at min(lr, 1e-3) with no
        weight decay (``dt_lr_scale``/``dt_lr_max`` apply to all three here).
        """

        n_state: int = 64
        discretization: str = "zoh"
        dt_lr_max: float | None = 1e-3

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_ssm_config(self.name, cfg)
        d, n = d_model, cfg.n_state
        self.log_dt = nn.Parameter(log_uniform_dt(d, cfg.dt_min, cfg.dt_max).log())
        self.A_log = nn.Parameter(torch.full((d, n), 0.5).log())
        self.A_imag = nn.Parameter(s4d_lin_imag(n).expand(d, n).clone())
        self.B = complex_param(torch.ones(d, n), torch.zeros(d, n))  # S4D: B = 1
        self.C = complex_param(torch.randn(d, n) * 0.5**0.5, torch.randn(d, n) * 0.5**0.5)  # unit complex normal
        self.D = nn.Parameter(torch.randn(d))  # S4D's code: D ~ N(0, 1)

    def transition(self) -> torch.Tensor:
        """A, complex (d, n)."""
        return torch.complex(-torch.exp(self.A_log), self.A_imag)

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        return scan(
            self.cfg,
            x,
            torch.exp(self.log_dt),
            self.transition(),
            B_bias=as_complex(self.B),
            C_bias=as_complex(self.C),
            D=self.D,
            dt_softplus=False,
        )

    def optim_hints(self):
        kernel = {"lr_scale": self.cfg.dt_lr_scale, "lr_max": self.cfg.dt_lr_max, "weight_decay": 0.0}
        return [
            ([self.log_dt, self.A_log, self.A_imag, self.B], kernel),
            ([self.C, self.D], {"weight_decay": 0.0}),
        ]
