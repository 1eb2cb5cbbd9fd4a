"""Config composition: ``configs/config.yaml`` defaults ← group choices ← ``dotted.key=value`` overrides.

A resolved config is a plain nested dict::

    {"mixer": {"name": "b2s6", ...fields}, "model": {...}, "task": {"name": "forgetting", ...},
     "train": {...}, "launcher": {"name": "local", ...}, "seed": 0, "plugins": [...],
     "store": {"root": "runs"}, "data": {"root": None}, "grid": {"name", "variant", "axes"}}

Every group is validated against a typed dataclass in OmegaConf struct mode: ``mixer.*`` against the
registered mixer's own ``Config`` (chosen by ``mixer.name``), ``task.*`` against the task's ``Config``,
``model.*`` against ``zoo.model.ModelConfig``, ``train.*`` against :class:`TrainConfig`, ``launcher.*``
against the launcher's ``Config``. Any mistake raises :class:`ConfigError` naming the key, the bad value and
the closest valid names; the command line turns it into exit status 2 before anything trains.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from zoo.registry import ConfigError, closest

GROUPS = ("mixer", "model", "task", "train", "launcher")
"""Config groups: each is chosen by name (``mixer=s6``) from ``configs/<group>/<name>.yaml``."""

TOP_LEVEL = ("seed", "plugins", "store", "data", "grid")
"""Top-level keys besides the groups."""


@dataclass
class TrainConfig:
    """The optimiser, schedule and loop of one cell (``configs/train/*.yaml`` set these).

    Attributes:
        epochs: passes over the training set.
        batch_size: sequences per step.
        lr: peak AdamW learning rate (mixers scale it per parameter group through their optimiser hints).
        weight_decay: AdamW weight decay (hints exempt A, D, biases, Δ parameters).
        betas: AdamW betas.
        warmup_frac: share of all steps spent in linear warm-up, then cosine decay to ``min_lr_frac · lr``.
        min_lr_frac: final learning rate as a share of the peak.
        grad_clip: clip the global gradient norm to this (0 disables).
        max_steps_per_epoch: cap on steps per epoch (None: the whole training set) — for smoke tests.
        eval_batch_size: sequences per evaluation batch.
        amp: ``"auto"`` (bf16 autocast on CUDA, none on CPU), ``"bf16"`` or ``"none"``.
        device: ``"auto"`` (CUDA if visible, else CPU), ``"cpu"`` or ``"cuda"``; not part of the run id.
        threads: torch CPU threads (None: set by the launcher); not part of the run id.
        log_every: steps between lines in ``log.txt``; not part of the run id.
        checkpoint_every_s: seconds between periodic checkpoints (also at each epoch end and on SIGTERM).
        progress: a progress bar within a cell when attached to a terminal; not part of the run id.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_frac: float = 0.1
    min_lr_frac: float = 0.0
    grad_clip: float = 1.0
    max_steps_per_epoch: int | None = None
    eval_batch_size: int = 256
    amp: str = "auto"
    device: str = "auto"
    threads: int | None = None
    log_every: int = 50
    checkpoint_every_s: float = 60.0
    progress: bool = True


@dataclass
class StoreConfig:
    """Where runs go: ``<root>/<grid>/<run_id>/``."""

    root: str = "runs"


@dataclass
class DataConfig:
    """Where real datasets are read from: ``root``, else ``$SEQZOO_DATA``, else ``./data``."""

    root: str | None = None


@dataclass
class GridInfo:
    """Which grid cell a config is: the grid's name, the variant's name and the axis values of the cell."""

    name: str = "default"
    variant: str | None = None
    axes: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Files


def config_dir() -> Path:
    """The shipped ``configs/`` directory (package data of the installed ``configs`` package)."""
    return Path(str(resources.files("configs")))


def group_choices(group: str) -> list[str]:
    """Names of ``configs/<group>/*.yaml`` (without the suffix), sorted."""
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file as a plain dict (``{}`` for an empty file); ``ConfigError`` if it is not a mapping."""
    from omegaconf import OmegaConf

    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as error:  # omegaconf and yaml raise many types for a malformed file
        raise ConfigError(f"{path}: cannot be read as YAML ({error}).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values.")
    return data


def load_choice(group: str, choice: str) -> dict[str, Any]:
    """The YAML of ``group=choice``; a mixer or task registered under ``choice`` without a file is ``{name}``."""
    path = config_dir() / group / f"{choice}.yaml"
    if path.is_file():
        return load_yaml(path)
    if group in ("mixer", "task") and choice in _registered(group):
        return {"name": choice}
    valid = sorted({*group_choices(group), *(_registered(group) if group in ("mixer", "task") else [])})
    raise ConfigError(f"{group}={choice}: no such choice in configs/{group}/.{closest(choice, valid)}")


def _registered(group: str) -> list[str]:
    if group == "mixer":
        import zoo.mixers  # noqa: F401  (registers the shipped mixers)
        from zoo.registry import list_mixers

        return list_mixers()
    from ablations.tasks import list_tasks

    return list_tasks()


# ---------------------------------------------------------------------------------------------------------------
# Command-line parsing


def parse_value(text: str) -> Any:
    """A command-line value as YAML would read it (``3e-4`` → float, ``true`` → bool, ``[a,b]`` → list)."""
    import yaml

    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _float_or_text(value: Any) -> Any:
    """YAML 1.1 reads ``3e-4`` as a string; take such strings as the float they spell."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def split_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """``["mixer=s6", "train.lr=1e-3"]`` → ``[("mixer", "s6"), ("train.lr", 0.001)]``; ``ConfigError`` for junk."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"Cannot read {item!r}: write group=choice or dotted.key=value (e.g. train.lr=1e-3).")
        pairs.append((key.strip(), _float_or_text(parse_value(value.strip()))))
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Composition


def import_plugins(plugins: list[str] | str | None) -> list[str]:
    """Import each user module named in ``plugins`` (its decorators register mixers or tasks); returns the list.

    The current directory is put on ``sys.path`` first, as ``python -m`` does, so a module next to the user's
    grid file is found.
    """
    if plugins is None:
        return []
    if isinstance(plugins, str):
        plugins = [plugins]
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(f"plugins={plugins!r}: must be a list of module names, e.g. plugins=[my_pkg.mixers].")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    for module in plugins:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"plugins: cannot import {module!r} ({error}).") from None
    return list(plugins)


def compose(layers: list[list[tuple[str, Any]]], grid: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve ``configs/config.yaml`` ← each layer of ``(key, value)`` overrides, in order, into a validated dict.

    A key is a group (value: a choice name), a top-level key, or a dotted key into a group. The last choice
    of a group wins and its YAML is loaded; then every dotted key of every layer is applied in order.
    ``grid`` fills the ``grid`` entry (the cell's name, variant and axes).
    """
    defaults = load_yaml(config_dir() / "config.yaml")
    choices = {group: defaults.get(group) for group in GROUPS}
    top = {key: copy.deepcopy(defaults.get(key)) for key in TOP_LEVEL if key in defaults}
    dotted: list[tuple[str, Any]] = []
    for layer in layers:
        for key, value in layer:
            head, _, rest = key.partition(".")
            if head in GROUPS and not rest:
                if isinstance(value, dict):  # a whole group written inline in a grid file
                    dotted.extend((f"{head}.{k}", v) for k, v in value.items())
                else:
                    choices[head] = value
            elif head in GROUPS:
                dotted.append((key, value))
            elif head in TOP_LEVEL and head != "grid":
                if rest:
                    top.setdefault(head, {})
                    if not isinstance(top[head], dict):
                        raise ConfigError(f"{key}: {head} is not a mapping.")
                    top[head][rest] = value
                else:
                    top[head] = value
            else:
                raise ConfigError(f"Unknown key {key!r}.{closest(head, [*GROUPS, *TOP_LEVEL])}")

    plugins = import_plugins(top.get("plugins") or [])
    raw: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        choice = choices[group]
        if not isinstance(choice, str):
            raise ConfigError(f"{group}={choice!r}: name a choice.{closest(str(choice), group_choices(group))}")
        raw[group] = load_choice(group, choice)
    for key, value in dotted:
        group, _, rest = key.partition(".")
        node = raw[group]
        *parents, leaf = rest.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    resolved: dict[str, Any] = {
        "mixer": _validate_named("mixer", raw["mixer"]),
        "model": _validate("model", _model_schema(), raw["model"]),
        "task": _validate_named("task", raw["task"]),
        "train": _validate("train", TrainConfig, raw["train"]),
        "launcher": _validate_launcher(raw["launcher"]),
        "seed": _validate_scalar("seed", top.get("seed", 0), int),
        "plugins": plugins,
        "store": _validate("store", StoreConfig, top.get("store") or {}),
        "data": _validate("data", DataConfig, top.get("data") or {}),
        "grid": _validate("grid", GridInfo, grid or {}),
    }
    return resolved


def _model_schema() -> type:
    from zoo.model import ModelConfig

    return ModelConfig


def _validate_named(group: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``mixer.*`` or ``task.*`` against the ``Config`` of the class registered under ``name``."""
    values = dict(values)
    name = values.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"{group}.name is missing: name a registered {group}.{closest('', _registered(group))}")
    if group == "mixer":
        import zoo.mixers  # noqa: F401
        from zoo.registry import get_mixer

        schema = get_mixer(name).Config
    else:
        from ablations.tasks import get_task

        schema = get_task(name).Config
    return {"name": name, **_validate(f"{group}", schema, values, owner=f"{group} {name!r}")}


def _validate_launcher(values: dict[str, Any]) -> dict[str, Any]:
    from ablations.launchers import get_launcher

    values = dict(values)
    name = values.pop("name", "local")
    return {"name": name, **_validate("launcher", get_launcher(name).Config, values, owner=f"launcher {name!r}")}


def _validate(prefix: str, schema: type, values: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """``values`` merged onto dataclass ``schema`` in struct mode, as a plain dict; errors name the dotted key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    names = [f.name for f in dataclasses.fields(schema)]
    for key in values:
        if key not in names:
            raise ConfigError(
                f"Unknown key {prefix}.{key} ({owner or prefix} has no field {key!r}).{closest(key, names)}"
            )
    base = OmegaConf.structured(schema)
    floats = {
        f.name
        for f in dataclasses.fields(schema)
        if str(f.type).replace("<class 'float'>", "float").startswith("float")
    }
    for key, value in values.items():
        if key in floats and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # 0 for a float field is 0.0, as YAML users expect
        try:
            base[key] = value
        except OmegaConfBaseException as error:
            kind = next((str(f.type) for f in dataclasses.fields(schema) if f.name == key), "?")
            detail = str(error).splitlines()[0]
            raise ConfigError(f"{prefix}.{key}={value!r}: wrong type, expected {kind} ({detail}).") from None
    return OmegaConf.to_container(base)


def _validate_scalar(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{key}={value!r}: expected {kind.__name__}.")
    return value


def dataclass_from(schema: type, values: dict[str, Any]) -> Any:
    """Instantiate dataclass ``schema`` from a validated dict (lists become tuples where the field is a tuple)."""
    kwargs = {}
    for f in dataclasses.fields(schema):
        if f.name in values:
            value = values[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) and "tuple" in str(f.type) else value
    return schema(**kwargs)
