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


class ConfigRegistry:
    """Names -> classes that carry a nested ``@dataclass Config`` (their schema); one per kind of component.

    Shared by the mixer registry here and the task registry in ``ablations.tasks``.
    """

    def __init__(self, kind: str, base: type, base_path: str):
        self.kind, self.base, self.base_path = kind, base, base_path
        self.classes: dict[str, type] = {}

    def register(self, name: str):
        """Class decorator: register a subclass of ``base`` under ``name``."""

        def decorate(cls: type) -> type:
            where = f"register_{self.kind}({name!r})"
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"{where}: {cls!r} is not a subclass of {self.base_path}.")
            config = cls.__dict__.get("Config")
            if config is None or not dataclasses.is_dataclass(config):
                raise TypeError(f"{where}: {cls.__name__} needs a nested @dataclass Config.")
            existing = self.classes.get(name)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise ValueError(f"{where}: the name is taken by {existing.__module__}.{existing.__qualname__}.")
            cls.name = name
            self.classes[name] = cls
            return cls

        return decorate

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self.classes)

    def get(self, name: str) -> type:
        """The class registered under ``name``; ``ConfigError`` naming the closest names otherwise."""
        try:
            return self.classes[name]
        except KeyError:
            raise ConfigError(f"Unknown {self.kind} {name!r}.{closest(name, list(self.classes))}") from None

    def fields(self, name: str) -> list[str]:
        """The field names of ``name``'s ``Config``."""
        return [f.name for f in dataclasses.fields(self.get(name).Config)]

    def make_config(self, name: str, **overrides: Any):
        """``name``'s ``Config`` with ``overrides``; an unknown field raises ``ConfigError`` listing valid ones."""
        valid = self.fields(name)
        for key in overrides:
            if key not in valid:
                raise ConfigError(
                    f"{self.kind.capitalize()} {name!r} has no config field {key!r}.{closest(key, valid)}"
                )
        return self.get(name).Config(**overrides)


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


_MIXERS = ConfigRegistry("mixer", Mixer, "zoo.Mixer")


def register_mixer(name: str):
    """Class decorator: register a :class:`Mixer` subclass under ``name`` (its ``Config`` is its schema)."""
    return _MIXERS.register(name)


def list_mixers() -> list[str]:
    """Names of all registered mixers, sorted."""
    return _MIXERS.names()


def get_mixer(name: str) -> type[Mixer]:
    """The mixer class registered under ``name``; ``ConfigError`` naming the closest names otherwise."""
    return _MIXERS.get(name)


def config_fields(name: str) -> list[str]:
    """The field names of mixer ``name``'s ``Config``."""
    return _MIXERS.fields(name)


def make_config(name: str, **overrides: Any):
    """Mixer ``name``'s ``Config`` with ``overrides``; an unknown field raises ``ConfigError`` listing valid ones."""
    return _MIXERS.make_config(name, **overrides)


def build_mixer(name: str, d_model: int, **overrides: Any) -> Mixer:
    """Build mixer ``name`` for width ``d_model`` from its default ``Config`` updated by ``overrides``.

    ``name`` may also be a variant in ``configs/mixer/`` (``"b2s6_nobias"``): its overrides apply first.
    """
    from zoo.variants import resolve_mixer  # imported here: zoo.variants imports this module

    mixer, overrides = resolve_mixer(name, **overrides)
    return get_mixer(mixer)(d_model, make_config(mixer, **overrides))
