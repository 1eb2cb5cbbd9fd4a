"""Launchers: where the cells of a grid run. Each is a small :class:`Launcher` subclass with a ``Config``.

``local`` (worker processes on this machine) and ``slurm`` (a submitit job array) ship; another engine (Ray,
a cloud batch service) is one more class and one line in :data:`LAUNCHERS` — nothing else changes, because
every launcher calls the same ``ablations.train.run(config, path)`` and the results live in the run store.
"""

from __future__ import annotations

import importlib

from ablations.launchers.base import Launcher
from zoo.registry import ConfigError, closest

LAUNCHERS = {
    "local": "ablations.launchers.local:LocalLauncher",
    "slurm": "ablations.launchers.slurm:SlurmLauncher",
}
"""name -> "module:class", imported on use (the slurm launcher needs the optional ``submitit``)."""


def get_launcher(name: str) -> type[Launcher]:
    """The launcher class registered under ``name``; ``ConfigError`` naming the valid names otherwise."""
    if name not in LAUNCHERS:
        raise ConfigError(f"launcher={name}: no such launcher.{closest(name, list(LAUNCHERS))}")
    module, cls = LAUNCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["LAUNCHERS", "Launcher", "get_launcher"]
