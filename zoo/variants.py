"""Mixer variants as configs: ``configs/mixer/<variant>.yaml`` is ``name: <registered mixer>`` plus field overrides.

The files ship inside the installed ``configs`` package, so a variant is found by its name wherever seqzoo is
installed; the runner reads the same files through OmegaConf.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from zoo.registry import ConfigError, closest, list_mixers


def _config_dir():
    return resources.files("configs") / "mixer"


def list_mixer_configs() -> list[str]:
    """Names of the variant files in ``configs/mixer/`` (without ``.yaml``), sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _config_dir().iterdir() if p.name.endswith(".yaml"))


def load_mixer_config(name_or_path: str | Path) -> tuple[str, dict[str, Any]]:
    """Read a mixer variant: a name in ``configs/mixer/`` (``"b2s6_nobias"``) or a path to a YAML file.

    Returns ``(mixer_name, overrides)``; the overrides are not validated here (``make_config`` does that).
    Raises ``ConfigError`` for a missing file (naming the closest variants) or a file without ``name``.
    """
    from omegaconf import OmegaConf

    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"Mixer config file {text!r} does not exist.")
        source = path.read_text()
    else:
        resource = _config_dir() / f"{text}.yaml"
        if not resource.is_file():
            raise ConfigError(f"No mixer config {text!r} in configs/mixer/.{closest(text, list_mixer_configs())}")
        source = resource.read_text()
    data = OmegaConf.to_container(OmegaConf.create(source))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"Mixer config {text!r} must be a mapping with 'name: <registered mixer>'.")
    overrides = {key: value for key, value in data.items() if key != "name"}
    return data["name"], overrides


def resolve_mixer(name: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """A registered mixer name or a variant name -> ``(mixer_name, overrides)``, explicit overrides winning.

    Raises ``ConfigError`` naming the closest mixers and variants when ``name`` is neither.
    """
    if name in list_mixers():
        return name, dict(overrides)
    if name in list_mixer_configs() or str(name).endswith((".yaml", ".yml")):
        mixer, base = load_mixer_config(name)
        return mixer, {**base, **overrides}
    raise ConfigError(f"Unknown mixer {name!r}.{closest(name, list_mixers() + list_mixer_configs())}")
