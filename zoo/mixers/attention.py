"""Causal multi-head softmax attention, the non-SSM baseline, with rotary, learned or no positions."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.registry import ConfigError, Mixer, check_choice, check_divides, register_mixer

POSITIONS = ("rotary", "learned", "none")


def rotate(x: torch.Tensor, base: float) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021, rotate-half form) of x (batch, heads, length, head_dim)."""
    L, dim = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = torch.arange(L, device=x.device, dtype=torch.float32)[:, None] * inv_freq  # (length, head_dim / 2)
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


@register_mixer("attention")
class Attention(Mixer):
    """(batch, length, d) -> (batch, length, d): qkv projection, causal softmax attention per head, out projection."""

    @dataclass
    class Config:
        """Attention's settings.

        Attributes:
            n_heads: number of heads; must divide d_model (head width d_model / n_heads, even for rotary).
            positions: ``"rotary"`` (RoPE on queries and keys; default), ``"learned"`` (absolute embeddings
                added to the mixer's input, at most ``max_len`` steps) or ``"none"``.
            max_len: longest sequence with learned positions.
            rope_base: RoPE's frequency base (10000, as in the RoFormer paper).
            bias: biases in the qkv and out projections.
        """

        n_heads: int = 4
        positions: str = "rotary"
        max_len: int = 2048
        rope_base: float = 10000.0
        bias: bool = False

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_choice("attention.positions", cfg.positions, POSITIONS)
        check_divides("attention.n_heads", cfg.n_heads, d_model)
        self.head_dim = d_model // cfg.n_heads
        if cfg.positions == "rotary" and self.head_dim % 2:
            raise ConfigError(
                f"attention.positions = 'rotary' needs an even head width; d_model / n_heads = {self.head_dim}."
            )
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=cfg.bias)
        self.out = nn.Linear(d_model, d_model, bias=cfg.bias)
        if cfg.positions == "learned":
            self.positions = nn.Embedding(cfg.max_len, d_model)
            nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, L, d = x.shape
        if self.cfg.positions == "learned":
            if L > self.cfg.max_len:
                raise ValueError(f"attention: length {L} exceeds attention.max_len = {self.cfg.max_len}; raise it.")
            x = x + self.positions(torch.arange(L, device=x.device))
        q, k, v = self.qkv(x).view(b, L, 3, self.cfg.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.cfg.positions == "rotary":
            q, k = rotate(q, self.cfg.rope_base), rotate(k, self.cfg.rope_base)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (batch, heads, length, head_dim)
        return self.out(y.transpose(1, 2).reshape(b, L, d))

    def optim_hints(self):
        """Nothing beyond the default rule: matrices (projections, learned positions) decay, biases do not."""
        return []
