"""``SequenceModel``: encoder -> N common blocks around one registered mixer -> norm -> pooling -> head.

This is the contract the runner, the tasks and the probes build on:

- ``InputSpec("tokens", vocab)`` takes (batch, length) int64; ``InputSpec("real", channels)`` takes
  (batch, length, channels) floats.
- ``OutputSpec("classes", n)`` gives logits for cross-entropy (per position: ignore_index -100 marks targets
  to skip); ``OutputSpec("regression", n)`` gives n real outputs. ``per_position=True`` gives
  (batch, length, dim) (language modelling, MQAR, copying); False pools over the length and gives (batch, dim).
- ``lengths`` (batch,) marks right-padding: pooling reads only the valid steps, and bidirectional blocks
  reverse each sequence within its length. Per-position outputs at padded steps are meaningless (mask them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from zoo.block import MLPS, NORMS, Block, make_norm
from zoo.optim import param_groups
from zoo.registry import ConfigError, check_choice, get_mixer, make_config
from zoo.variants import resolve_mixer

INPUT_KINDS = ("tokens", "real")
OUTPUT_KINDS = ("classes", "regression")
POOLINGS = ("mean", "last")

__all__ = ["InputSpec", "ModelConfig", "OutputSpec", "SequenceModel", "param_groups"]


@dataclass(frozen=True)
class InputSpec:
    """What the model reads: ``kind`` ``"tokens"`` (dim = vocabulary size) or ``"real"`` (dim = channels)."""

    kind: str
    dim: int

    def __post_init__(self):
        check_choice("input.kind", self.kind, INPUT_KINDS)
        if self.dim < 1:
            raise ConfigError(f"input.dim = {self.dim}: must be a positive integer.")


@dataclass(frozen=True)
class OutputSpec:
    """What the model predicts: ``"classes"`` (dim = number of classes, logits) or ``"regression"`` (dim outputs).

    ``per_position``: True for (batch, length, dim) outputs, False for one pooled (batch, dim) output.
    """

    kind: str
    dim: int
    per_position: bool = False

    def __post_init__(self):
        check_choice("output.kind", self.kind, OUTPUT_KINDS)
        if self.dim < 1:
            raise ConfigError(f"output.dim = {self.dim}: must be a positive integer.")


@dataclass
class ModelConfig:
    """The model around the mixer (the ``model`` config group).

    Attributes:
        d_model: width d of the residual stream.
        n_layers: number of blocks.
        norm: ``"rmsnorm"`` or ``"layernorm"``.
        prenorm: pre-norm (True) or post-norm (False) residual blocks.
        dropout: dropout after each mixer and MLP.
        mlp: MLP sublayer after each mixer: ``"none"``, ``"mlp"`` (GELU) or ``"glu"`` (SwiGLU).
        mlp_ratio: MLP hidden width as a multiple of d_model.
        bidirectional: each block runs its mixer both ways (for classification of whole sequences).
        pooling: ``"mean"`` over valid steps or ``"last"`` valid step (pooled outputs only).
    """

    d_model: int = 64
    n_layers: int = 2
    norm: str = "rmsnorm"
    prenorm: bool = True
    dropout: float = 0.0
    mlp: str = "none"
    mlp_ratio: float = 2.0
    bidirectional: bool = False
    pooling: str = "mean"

    def __post_init__(self):
        validate_model_config(self)


def validate_model_config(cfg: ModelConfig) -> None:
    """Raise ``ConfigError`` naming the field and its valid values for anything not allowed in ``cfg``."""
    check_choice("model.norm", cfg.norm, NORMS)
    check_choice("model.mlp", cfg.mlp, MLPS)
    check_choice("model.pooling", cfg.pooling, POOLINGS)
    for name in ("d_model", "n_layers"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"model.{name} = {getattr(cfg, name)}: must be a positive integer.")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"model.dropout = {cfg.dropout}: must be in [0, 1).")
    if cfg.mlp_ratio <= 0:
        raise ConfigError(f"model.mlp_ratio = {cfg.mlp_ratio}: must be positive.")


class SequenceModel(nn.Module):
    """Encoder -> ``n_layers`` blocks of mixer ``mixer`` -> final norm -> pooling -> head.

    Args:
        mixer: a registered mixer name (``zoo.list_mixers()``) or a variant in ``configs/mixer/``.
        mixer_overrides: fields of the mixer's ``Config`` (applied over the variant's); unknown ones raise.
        model: the :class:`ModelConfig`.
        input, output: what the model reads and predicts.

    Attributes ``mixer_name`` and ``mixer_config`` record the resolved mixer and its full config.
    """

    def __init__(
        self,
        mixer: str,
        mixer_overrides: dict[str, Any] | None,
        model: ModelConfig,
        input: InputSpec,
        output: OutputSpec,
    ):
        super().__init__()
        validate_model_config(model)
        self.mixer_name, overrides = resolve_mixer(mixer, **dict(mixer_overrides or {}))
        self.mixer_config = make_config(self.mixer_name, **overrides)
        mixer_cls = get_mixer(self.mixer_name)
        self.config, self.input_spec, self.output_spec = model, input, output
        d = model.d_model

        self.encoder = nn.Embedding(input.dim, d) if input.kind == "tokens" else nn.Linear(input.dim, d)
        self.blocks = nn.ModuleList(
            Block(
                d,
                lambda: mixer_cls(d, self.mixer_config),
                norm=model.norm,
                dropout=model.dropout,
                mlp=model.mlp,
                mlp_ratio=model.mlp_ratio,
                prenorm=model.prenorm,
                bidirectional=model.bidirectional,
            )
            for _ in range(model.n_layers)
        )
        self.norm = make_norm(model.norm, d) if model.prenorm else nn.Identity()
        self.head = nn.Linear(d, output.dim)

    def _check_input(self, x: torch.Tensor) -> None:
        spec = self.input_spec
        if spec.kind == "tokens":
            if x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
                raise ValueError(
                    f"SequenceModel: token input must be (batch, length) int64, got {tuple(x.shape)} {x.dtype}."
                )
        elif x.dim() != 3 or x.shape[-1] != spec.dim or not x.is_floating_point():
            raise ValueError(
                f"SequenceModel: real input must be (batch, length, {spec.dim}) floats, got {tuple(x.shape)} {x.dtype}."
            )

    def _pool(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(batch, length, d) -> (batch, d) over the valid steps."""
        b, L, _ = x.shape
        if lengths is None:
            lengths = torch.full((b,), L, device=x.device)
        lengths = lengths.to(x.device)
        if self.config.pooling == "last":
            return x[torch.arange(b, device=x.device), lengths - 1]
        valid = (torch.arange(L, device=x.device) < lengths.view(-1, 1)).to(x.dtype)  # (batch, length)
        return (x * valid.unsqueeze(-1)).sum(1) / lengths.view(-1, 1).to(x.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x (batch, length) tokens or (batch, length, channels) -> (batch, dim), or (batch, length, dim) per position.

        ``lengths`` (batch,) int: valid steps of each right-padded sequence (1 <= lengths <= length).
        """
        self._check_input(x)
        if lengths is not None:
            L = x.shape[1]
            if lengths.shape != (x.shape[0],) or int(lengths.min()) < 1 or int(lengths.max()) > L:
                raise ValueError(f"SequenceModel: lengths must be (batch,) = ({x.shape[0]},) with values in [1, {L}].")
        h = self.encoder(x)
        for block in self.blocks:
            h = block(h, lengths)
        h = self.norm(h)
        if not self.output_spec.per_position:
            h = self._pool(h, lengths)
        return self.head(h)

    def num_parameters(self) -> int:
        """Number of trainable scalars (a complex parameter counts as its two real parts)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def describe(self) -> dict[str, Any]:
        """The resolved mixer and model configs and the parameter count, for run records."""
        return {
            "mixer": self.mixer_name,
            "mixer_config": asdict(self.mixer_config),
            "model": asdict(self.config),
            "num_parameters": self.num_parameters(),
        }
