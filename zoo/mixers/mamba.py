"""The Mamba mixer (Gu & Dao 2023): in-projection -> causal depthwise conv -> SiLU -> S6 (gated) -> out-projection.

The selective unit is :class:`zoo.mixers.s6.S6Core`; this file adds only the wrapper around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.mixers.s6 import S6Core, S6CoreConfig, resolve_dt_rank
from zoo.mixers.ssm import check_ssm_config
from zoo.registry import ConfigError, Mixer, register_mixer


class CausalConv1d(nn.Conv1d):
    """Mamba's short depthwise convolution over time, causal: (batch, length, d) -> (batch, length, d).

    Left padding only (``kernel_size − 1`` steps), so output t sees inputs t − kernel_size + 1 … t. A Conv1d
    subclass, so its parameters keep Conv1d's names (``weight``, ``bias``). Shared with ``zoo/mixers/ncs_ssm.py``.
    """

    def __init__(self, d: int, kernel_size: int, bias: bool = True):
        super().__init__(d, d, kernel_size, groups=d, padding=kernel_size - 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2))[..., : x.shape[1]].transpose(1, 2)


@register_mixer("mamba")
class Mamba(Mixer):
    """x (batch, length, d) -> [u, z] = in_proj(x) (inner width e·d each) -> u = silu(causal_conv(u))
    -> y = S6(u) · silu(z) -> out_proj(y) (batch, length, d)."""

    @dataclass
    class Config(S6CoreConfig):
        """Mamba's settings: the S6 fields (``S6CoreConfig``, ``SSMConfig``) plus the wrapper's, Mamba's defaults.

        Attributes:
            expand: inner width = expand · d_model.
            d_conv: kernel size of the causal depthwise convolution.
            conv_bias: bias in the convolution.
            proj_bias: bias in the in- and out-projections.
        """

        expand: int = 2
        d_conv: int = 4
        conv_bias: bool = True
        proj_bias: bool = False

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_ssm_config(self.name, cfg)
        if cfg.expand < 1 or cfg.d_conv < 1:
            raise ConfigError(f"mamba.expand = {cfg.expand}, d_conv = {cfg.d_conv}: both must be positive integers.")
        inner = cfg.expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=cfg.proj_bias)
        self.conv = CausalConv1d(inner, cfg.d_conv, bias=cfg.conv_bias)
        self.core = S6Core(inner, cfg, resolve_dt_rank(cfg, d_model))
        self.out_proj = nn.Linear(inner, d_model, bias=cfg.proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, z = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(self.core(F.silu(self.conv(u)), z))

    def optim_hints(self):
        return self.core.optim_hints()
