"""The zoo: interchangeable sequence mixers behind one registry, one block and one model."""

from zoo import mixers  # noqa: F401  (registers the built-in mixers)
from zoo.block import Block
from zoo.model import InputSpec, ModelConfig, OutputSpec, SequenceModel, param_groups
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
from zoo.variants import list_mixer_configs, load_mixer_config

__all__ = [
    "Block",
    "ConfigError",
    "InputSpec",
    "Mixer",
    "ModelConfig",
    "OutputSpec",
    "SequenceModel",
    "build_mixer",
    "config_fields",
    "get_mixer",
    "list_mixer_configs",
    "list_mixers",
    "load_mixer_config",
    "make_config",
    "param_groups",
    "register_mixer",
]
