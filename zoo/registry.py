"""The mixer contract and the registry that maps a name to a mixer class and its typed ``Config``.

A mixer is a causal map (batch, length, d_model) -> (batch, length, d_model). Adding one is one class
and one decorator, in seqzoo or in the user's own module::

    @register_mixer("my_mixer")
    class MyMixer(Mixer):
        @dataclass
        class Config:
            width: int = 2

        def __init__(self, d_model: int, cfg: Config):
            super().__init__(d_model, cfg)
            ...

        def forward(self, x):  # (batch, length, d_model) -> (batch, length, d_model)
            ...
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
from typing import Any, ClassVar

import torch
from torch import nn

_REGISTRY: dict[str, type[Mixer]] = {}


class ConfigError(ValueError):
    """A configuration names something that does not exist or has a value that is not allowed."""


def closest(name: str, valid: list[str] | tuple[str, ...], n: int = 3) -> str:
    """A short phrase naming the valid choices closest to ``name`` (for error messages)."""
    valid = sorted(set(valid))
    close = difflib.get_close_matches(name, valid, n=n, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} Valid: {', '.join(valid)}."


def check_choice(field: str, value: Any, valid: list[str] | tuple[str, ...]) -> None:
    """Raise ``ConfigError`` naming ``field`` and the valid values when ``value`` is not one of ``valid``."""
    if value not in valid:
        raise ConfigError(f"{field} = {value!r} is not allowed.{closest(str(value), valid)}")


def check_divides(field: str, value: int, d_model: int) -> None:
    """Raise ``ConfigError`` naming ``field`` and the valid divisors when ``value`` does not divide ``d_model``."""
    if not isinstance(value, int) or value < 1 or d_model % value != 0:
        divisors = [k for k in range(1, d_model + 1) if d_model % k == 0]
        raise ConfigError(f"{field} = {value} does not divide d_model = {d_model}; valid values: {divisors}.")


class Mixer(nn.Module, abc.ABC):
    """Base class of every sequence mixer: causal, shape-preserving, configured by a typed ``Config``.

    Subclasses define a nested ``Config`` dataclass, ``__init__(d_model, cfg)`` and ``forward(x)``, and may
    override :meth:`optim_hints` to ask the trainer for a scaled learning rate or no weight decay.
    """

    Config: ClassVar[type]
    name: ClassVar[str] = ""

    def __init__(self, d_model: int, cfg: Any):
        super().__init__()
        self.d_model = d_model
        self.cfg = cfg

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> (batch, length, d_model); y[:, t] depends on x[:, :t + 1] only."""

    def optim_hints(self) -> list[tuple[list[nn.Parameter], dict[str, float]]]:
        """Per-parameter optimiser settings: ``[(params, {"lr_scale": 0.1, "lr_max": 1e-3, "weight_decay": 0.0})]``.

        Keys: ``lr_scale`` multiplies the base learning rate, ``lr_max`` caps the result, ``weight_decay``
        replaces the base weight decay. Parameters not named here get the trainer's defaults.
        """
        return []


def register_mixer(name: str):
    """Class decorator: register a :class:`Mixer` subclass under ``name`` (its ``Config`` is its schema)."""

    def decorate(cls: type[Mixer]) -> type[Mixer]:
        if not (isinstance(cls, type) and issubclass(cls, Mixer)):
            raise TypeError(f"register_mixer({name!r}): {cls!r} is not a subclass of zoo.Mixer.")
        config = cls.__dict__.get("Config")
        if config is None or not dataclasses.is_dataclass(config):
            raise TypeError(f"register_mixer({name!r}): {cls.__name__} needs a nested @dataclass Config.")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"register_mixer({name!r}): the name is taken by {existing.__module__}.{existing.__qualname__}."
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_mixers() -> list[str]:
    """Names of all registered mixers, sorted."""
    return sorted(_REGISTRY)


def get_mixer(name: str) -> type[Mixer]:
    """The mixer class registered under ``name``; ``ConfigError`` naming the closest names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown mixer {name!r}.{closest(name, list(_REGISTRY))}") from None


def config_fields(name: str) -> list[str]:
    """The field names of mixer ``name``'s ``Config``."""
    return [f.name for f in dataclasses.fields(get_mixer(name).Config)]


def make_config(name: str, **overrides: Any):
    """Mixer ``name``'s ``Config`` with ``overrides``; an unknown field raises ``ConfigError`` listing valid ones."""
    cls = get_mixer(name)
    valid = config_fields(name)
    for key in overrides:
        if key not in valid:
            raise ConfigError(f"Mixer {name!r} has no config field {key!r}.{closest(key, valid)}")
    return cls.Config(**overrides)


def build_mixer(name: str, d_model: int, **overrides: Any) -> Mixer:
    """Build mixer ``name`` for width ``d_model`` from its default ``Config`` updated by ``overrides``.

    ``name`` may also be a variant in ``configs/mixer/`` (``"b2s6_nobias"``): its overrides apply first.
    """
    from zoo.variants import resolve_mixer  # imported here: zoo.variants imports this module

    mixer, overrides = resolve_mixer(name, **overrides)
    return get_mixer(mixer)(d_model, make_config(mixer, **overrides))
