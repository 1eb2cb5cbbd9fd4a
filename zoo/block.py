"""The common block every mixer plugs into unchanged: norm -> mixer -> dropout -> residual, then an optional MLP.

Right-padding: a causal mixer never lets padding at the end reach a valid position, so forward passes need no
mask. The backward direction of a bidirectional block flips each sequence within its own length (``lengths``),
so padding stays at the end there too and valid outputs never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from zoo.registry import ConfigError, check_choice

NORMS = ("rmsnorm", "layernorm")
MLPS = ("none", "mlp", "glu")


class RMSNorm(nn.Module):
    """x / rms(x) · weight over the last dimension (Zhang & Sennrich 2019); (..., d) -> (..., d)."""

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str, d: int) -> nn.Module:
    """``"rmsnorm"`` or ``"layernorm"`` over a width ``d``."""
    check_choice("norm", kind, NORMS)
    return RMSNorm(d) if kind == "rmsnorm" else nn.LayerNorm(d)


class MLP(nn.Module):
    """Position-wise feed-forward: ``"mlp"`` is Linear -> GELU -> Linear, ``"glu"`` is SwiGLU (Shazeer 2020).

    (batch, length, d) -> (batch, length, d), hidden width ``round(ratio · d)``.
    """

    def __init__(self, d: int, kind: str, ratio: float):
        super().__init__()
        check_choice("mlp", kind, MLPS[1:])
        hidden = max(1, round(ratio * d))
        self.gated = kind == "glu"
        self.up = nn.Linear(d, (2 if self.gated else 1) * hidden)
        self.down = nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        if self.gated:
            value, gate = h.chunk(2, dim=-1)
            h = value * nn.functional.silu(gate)
        else:
            h = nn.functional.gelu(h)
        return self.down(h)


def flip_within_lengths(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of x (batch, length, d) within its first ``lengths[i]`` steps; padding stays put.

    Its own inverse. Without ``lengths`` it reverses the whole length.
    """
    if lengths is None:
        return x.flip(1)
    L = x.shape[1]
    t = torch.arange(L, device=x.device)
    lengths = lengths.to(x.device).view(-1, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (batch, length)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class Bidirectional(nn.Module):
    """Runs a causal mixer forward and a second instance on the reversed sequence, and sums the two outputs.

    Summing (as S4's bidirectional layers do) keeps the output width and adds no projection; each direction
    has its own parameters. (batch, length, d) -> (batch, length, d); not causal.
    """

    def __init__(self, mixer: Callable[[], nn.Module]):
        super().__init__()
        self.forward_mixer = mixer()
        self.backward_mixer = mixer()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        backward = flip_within_lengths(self.backward_mixer(flip_within_lengths(x, lengths)), lengths)
        return self.forward_mixer(x) + backward


class Block(nn.Module):
    """One residual block around a mixer, the same for every mixer.

    Pre-norm (default): x + dropout(mixer(norm(x))), then x + dropout(mlp(norm(x))) when ``mlp != "none"``.
    Post-norm: norm(x + dropout(mixer(x))), and likewise for the MLP.

    Args:
        d_model: width d.
        mixer: a zero-argument factory returning a fresh mixer (called twice when ``bidirectional``), e.g.
            ``lambda: zoo.build_mixer("s4d", 64)``.
        norm: ``"rmsnorm"`` or ``"layernorm"``.
        dropout: dropout probability after the mixer and after the MLP.
        mlp: ``"none"``, ``"mlp"`` (GELU) or ``"glu"`` (SwiGLU).
        mlp_ratio: MLP hidden width as a multiple of d.
        prenorm: pre-norm (True) or post-norm (False) residuals.
        bidirectional: run the mixer both ways (see :class:`Bidirectional`); the block is then not causal.
    """

    def __init__(
        self,
        d_model: int,
        mixer: Callable[[], nn.Module],
        norm: str = "rmsnorm",
        dropout: float = 0.0,
        mlp: str = "none",
        mlp_ratio: float = 2.0,
        prenorm: bool = True,
        bidirectional: bool = False,
    ):
        super().__init__()
        check_choice("mlp", mlp, MLPS)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout = {dropout}: must be in [0, 1).")
        if not callable(mixer) or isinstance(mixer, nn.Module):
            raise TypeError("Block(mixer=...) takes a zero-argument factory returning a mixer, not a module.")
        self.prenorm = prenorm
        self.bidirectional = bidirectional
        self.mixer = Bidirectional(mixer) if bidirectional else mixer()
        self.norm = make_norm(norm, d_model)
        self.dropout = nn.Dropout(dropout)
        self.mlp = None if mlp == "none" else MLP(d_model, mlp, mlp_ratio)
        self.mlp_norm = None if self.mlp is None else make_norm(norm, d_model)

    def _residual(self, x, norm, f):
        if self.prenorm:
            return x + self.dropout(f(norm(x)))
        return norm(x + self.dropout(f(x)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, length, d) -> (batch, length, d); ``lengths`` (batch,) marks right-padding (bidirectional only)."""
        mix = (lambda h: self.mixer(h, lengths)) if self.bidirectional else self.mixer
        x = self._residual(x, self.norm, mix)
        if self.mlp is not None:
            x = self._residual(x, self.mlp_norm, self.mlp)
        return x
