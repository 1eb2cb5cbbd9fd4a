"""The zoo: interchangeable sequence mixers behind one registry, one block and one model."""

from zoo.registry import (
    ConfigError,
    Mixer,
    build_mixer,
    config_fields,
    get_mixer,
    list_mixers,
    make_config,
    register_mixer,
)

__all__ = [
    "ConfigError",
    "Mixer",
    "build_mixer",
    "config_fields",
    "get_mixer",
    "list_mixers",
    "make_config",
    "register_mixer",
]
