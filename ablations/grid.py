"""Grids: a YAML file in ``configs/grid/`` expands to a flat list of fully resolved, validated cells.

A grid file::

    name: bias_x_blocks
    description: one line shown by --list and --dry-run
    base: {mixer: b2s6, task: forgetting, model.d_model: 32}   # group choices and dotted keys, every cell
    variants:                                                   # optional named override sets, crossed with axes
      - {name: complex}
      - {name: real, mixer.complex: false}
    axes:                                                       # cartesian product; values may be group choices
      mixer.bias: [true, false]
      mixer.n_blocks: [1, 2, 4, 8]
    seeds: [0, 1, 2]

Per cell the layers apply in the order ``config.yaml`` ← ``base`` ← variant ← axis values ← seed ← command line.
A command-line key that is also an axis is refused (it would collapse the axis). Every cell is composed and
its model built once before anything trains, so a bad cell stops the whole grid with the cell named.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablations import store
from ablations.config import ConfigError, closest, compose, config_dir, group_choices, load_yaml

GRID_KEYS = ("name", "description", "base", "variants", "axes", "seeds")


@dataclass
class Cell:
    """One grid cell: its resolved config, run id and (absolute) run directory."""

    config: dict[str, Any]
    run_id: str
    path: Path

    @property
    def label(self) -> str:
        """``variant=real mixer.bias=True seed=1``: the cell's coordinates, for progress lines."""
        grid = self.config["grid"]
        parts = [f"variant={grid['variant']}"] if grid["variant"] else []
        parts += [f"{key}={value}" for key, value in grid["axes"].items()]
        return " ".join([*parts, f"seed={self.config['seed']}"])


def load_grid(name_or_path: str) -> dict[str, Any]:
    """Read a grid by name from ``configs/grid/`` or from a YAML path; check its keys and shapes."""
    path = Path(name_or_path)
    if not (name_or_path.endswith((".yaml", ".yml")) and path.is_file()):
        path = config_dir() / "grid" / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"grid={name_or_path}: no such grid in configs/grid/.{closest(name_or_path, group_choices('grid'))}"
            )
    spec = load_yaml(path)
    for key in spec:
        if key not in GRID_KEYS:
            raise ConfigError(f"{path.name}: unknown grid key {key!r}.{closest(key, GRID_KEYS)}")
    spec.setdefault("name", path.stem)
    spec.setdefault("base", {})
    spec.setdefault("axes", {})
    spec.setdefault("variants", [{"name": None}])
    spec.setdefault("seeds", [0])
    if not isinstance(spec["axes"], dict) or not all(isinstance(v, list) and v for v in spec["axes"].values()):
        raise ConfigError(f"{path.name}: axes must map each key to a non-empty list of values.")
    variants = spec["variants"]
    if not isinstance(variants, list) or not all(isinstance(v, dict) and "name" in v for v in variants):
        raise ConfigError(f"{path.name}: variants must be a list of mappings, each with a 'name'.")
    if not isinstance(spec["seeds"], list) or not all(isinstance(s, int) for s in spec["seeds"]):
        raise ConfigError(f"{path.name}: seeds must be a list of integers.")
    return spec


def expand(spec: dict[str, Any], overrides: list[tuple[str, Any]], root: str | None = None) -> list[Cell]:
    """All cells of grid ``spec`` with the command-line ``overrides`` applied to each, validated and built once.

    ``root`` overrides ``store.root`` for the run directories (else the composed config's own value).
    """
    axes = spec["axes"]
    clash = [key for key, _ in overrides if key in axes]
    if clash:
        raise ConfigError(f"{clash[0]} is an axis of grid {spec['name']!r}; drop it from the command line or the grid.")
    base = list(spec["base"].items())
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for variant in spec["variants"]:
        variant_layer = [(k, v) for k, v in variant.items() if k != "name"]
        for values in itertools.product(*axes.values()):
            point = dict(zip(axes, values, strict=True))
            for seed in spec["seeds"]:
                grid_info = {"name": spec["name"], "variant": variant["name"], "axes": point}
                where = _describe(variant["name"], point, seed)
                try:
                    config = compose([base, variant_layer, list(point.items()), [("seed", seed)], overrides], grid_info)
                    check_buildable(config)
                except ConfigError as error:
                    raise ConfigError(f"grid {spec['name']!r}, cell {where}: {error}") from None
                rid = store.run_id(config)
                if rid in seen:
                    raise ConfigError(
                        f"grid {spec['name']!r}: cells {seen[rid]} and {where} resolve to the same config "
                        f"(run id {rid}); an axis value has no effect."
                    )
                seen[rid] = where
                directory = store.grid_dir(Path(root or config["store"]["root"]).resolve(), spec["name"])
                cells.append(Cell(config, rid, directory / rid))
    return cells


def single_cell(overrides: list[tuple[str, Any]]) -> list[Cell]:
    """The one cell of a run without ``grid=``: ``config.yaml`` with the command line (grid name ``default``)."""
    config = compose([overrides], {"name": "default"})
    check_buildable(config)
    rid = store.run_id(config)
    return [Cell(config, rid, store.grid_dir(Path(config["store"]["root"]).resolve(), "default") / rid)]


def _describe(variant: str | None, point: dict[str, Any], seed: int) -> str:
    parts = [f"variant={variant}"] if variant else []
    return " ".join([*parts, *(f"{k}={v}" for k, v in point.items()), f"seed={seed}"])


def check_buildable(config: dict[str, Any]) -> None:
    """Build the cell's task and model once (no data, no training), so that a value the mixer or the task
    rejects — d not divisible by h, an impossible size — stops the grid before the first cell trains."""
    from ablations.train import build_model, build_task_for

    try:
        task = build_task_for(config)
        build_model(config, task)
    except ConfigError:
        raise
    except (ValueError, TypeError, AssertionError, RuntimeError) as error:
        raise ConfigError(f"the model cannot be built: {error}") from None
