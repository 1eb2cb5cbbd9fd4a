"""``python -m ablations.run [grid=NAME] [group=choice ...] [dotted.key=value ...] [options]``

Composes and validates every cell first (a mistake exits with status 2 and no run directory is created),
skips cells whose result is stored, resumes interrupted ones from their checkpoint, trains the rest through
the chosen launcher, prints one line per finished cell and ends with the summary table.

Options: ``--dry-run`` (print the cells and their state, train nothing), ``--list`` (groups, choices, mixers
with their fields), ``--retry-failed`` (re-run ``failed``/``diverged`` cells), ``--workers N`` (the same as
``launcher.workers=N``). Exit status: 0 every cell ok, 1 some cell not ok, 2 a configuration error (also one
the launcher's scheduler refuses, e.g. sbatch rejecting the resources, before any cell trains),
130/143 the runner itself stopped by SIGINT/SIGTERM (the running cells were checkpointed; run again to
resume). A cell cancelled from outside (``scancel`` of its job) is a cell not ok: the runner finishes, counts
it in the summary and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from typing import Any

from ablations import store
from ablations.config import GROUPS, ConfigError, dataclass_from, group_choices, split_overrides
from ablations.grid import Cell, expand, load_grid, single_cell
from ablations.progress import relative

EXIT_CONFIG = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ablations.run",
        description="Train a grid of ablation cells into the run store (runs/<grid>/<run_id>/).",
        epilog="Example: python -m ablations.run grid=bias_x_blocks train.epochs=2 --workers 2",
    )
    parser.add_argument("overrides", nargs="*", help="grid=NAME, group=choice (mixer=s6) or dotted.key=value")
    parser.add_argument("--dry-run", action="store_true", help="print the cells and their state, train nothing")
    parser.add_argument("--list", action="store_true", help="list groups, choices, grids and mixers")
    parser.add_argument("--retry-failed", action="store_true", help="re-run failed and diverged cells")
    parser.add_argument("--workers", type=int, help="worker processes (launcher.workers)")
    return parser.parse_intermixed_args(argv)


def plan(argv_overrides: list[str], workers: int | None) -> tuple[str, list[Cell]]:
    """``(grid name, cells)`` for the command line: every cell composed, validated and its model built once."""
    pairs = split_overrides(argv_overrides)
    grid_names = [value for key, value in pairs if key == "grid"]
    pairs = [(key, value) for key, value in pairs if key != "grid"]
    if workers is not None:
        pairs.append(("launcher.workers", workers))
    if grid_names:
        spec = load_grid(str(grid_names[-1]))
        cells = expand(spec, pairs)
        return spec["name"], cells
    cells = single_cell(pairs)
    return "default", cells


def cell_state(cell: Cell) -> str:
    """``pending`` (no directory yet) or the store's status of the cell's directory."""
    if not cell.path.exists():
        return "pending"
    return store.inspect_run(cell.path).status


def dry_run(grid: str, cells: list[Cell]) -> None:
    import pandas as pd

    rows = []
    for cell in cells:
        info = cell.config["grid"]
        variant = {"variant": info["variant"]} if info["variant"] else {}
        rows.append(
            {**variant, **info["axes"], "seed": cell.config["seed"], "run_id": cell.run_id, "state": cell_state(cell)}
        )
    frame = pd.DataFrame(rows)
    print(frame.to_string(index=False))
    counts = frame["state"].value_counts().to_dict()
    directory = relative(cells[0].path.parent) if cells else grid
    print(f"\n{grid}: {len(cells)} cells in {directory} — " + ", ".join(f"{n} {s}" for s, n in counts.items()))


def list_everything() -> None:
    import zoo.mixers  # noqa: F401  (registers the shipped mixers)
    from ablations.launchers import LAUNCHERS
    from ablations.tasks import list_tasks
    from zoo.registry import get_mixer, list_mixers

    for group in GROUPS:
        print(f"{group}: {', '.join(group_choices(group)) or '-'}")
    print(f"grid: {', '.join(group_choices('grid'))}")
    print(f"tasks: {', '.join(list_tasks())}")
    print(f"launchers: {', '.join(LAUNCHERS)}")
    print("\nmixers (mixer.<field>=value):")
    for name in list_mixers():
        fields = dataclasses.fields(get_mixer(name).Config)
        text = ", ".join(f"{f.name}={_default(f)}" for f in fields)
        print(f"  {name}: {text}")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        list_everything()
        return 0
    try:
        grid, cells = plan(args.overrides, args.workers)
        launcher_cfg = cells[0].config["launcher"]
        from ablations.launchers import get_launcher

        launcher_cls = get_launcher(launcher_cfg["name"])
        launcher = launcher_cls(dataclass_from(launcher_cls.Config, launcher_cfg))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.dry_run:
        dry_run(grid, cells)
        return 0
    return execute(grid, cells, launcher, args.retry_failed)


def execute(grid: str, cells: list[Cell], launcher, retry_failed: bool) -> int:
    """Skip finished cells, launch the rest, print progress and the summary; returns the exit status."""
    from ablations.progress import Progress, summarize

    progress = Progress(len(cells))
    todo = []
    for cell in cells:
        state = cell_state(cell)
        if state == "ok" or (state in ("failed", "diverged") and not retry_failed):
            progress.skipped(cell, state)
        else:
            todo.append(cell)
    statuses: list[str] = []
    this_run: dict[Any, str] = {}  # cell path -> status reported in this invocation

    def on_result(cell: Cell, result: dict[str, Any]) -> None:
        statuses.append(result.get("status", "?"))
        this_run[cell.path] = statuses[-1]
        progress.finished(cell, result)

    try:
        launcher.launch(todo, on_result, retry_failed=retry_failed)
    except ConfigError as error:  # refused before anything ran (sbatch rejected the resources)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if launcher.interrupted is not None or len(statuses) < len(todo):  # the runner itself was stopped
        print("\nstopped: the running cells were checkpointed; run the same command again to resume.")
        return 128 + (launcher.interrupted or signal.SIGTERM)
    grid_directory = cells[0].path.parent
    summarize(cells, grid, grid_directory, statuses=this_run)
    return 0 if all(status == "ok" for status in summary_statuses(cells, this_run)) else 1


def summary_statuses(cells: list[Cell], this_run: dict[Any, str]) -> list[str]:
    """Each cell's status: the store's, or this invocation's for a cell that never wrote a directory (a job
    cancelled before it started)."""
    return [cell_state(cell) if cell.path.exists() else this_run.get(cell.path, "pending") for cell in cells]


if __name__ == "__main__":
    sys.exit(main())
