"""Progress lines while a grid runs, and the summary table at the end.

One line per finished cell: ``[done/total] status  cell  metric  cell time  elapsed  ETA``. The ETA is the
wall time per cell trained in this invocation (so parallel workers are accounted for) times the cells left.
The summary is a pandas pivot of the main test metric over the grid's axes: ``mean ± std`` over seeds, with
the failures of a point counted next to it; the long form (one row per point) goes to ``summary.csv``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ablations import store
from ablations.grid import Cell


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def main_metric(result: dict[str, Any]) -> tuple[str | None, float | None]:
    """``("test/<metric>", value)`` of a result (value None if the cell has none)."""
    metric = result.get("metric")
    if not metric:
        return None, None
    key = f"test/{metric}"
    value = (result.get("metrics") or {}).get(key)
    return key, value


class Progress:
    """Prints one line per finished cell to ``out`` (stdout by default)."""

    def __init__(self, total: int, out: TextIO | None = None):
        self.total, self.out = total, out or sys.stdout
        self.done = 0
        self.trained = 0
        self.started = time.perf_counter()

    def skipped(self, cell: Cell, status: str) -> None:
        """A cell that already has a result (not retrained)."""
        self.done += 1
        self._line(status, cell, "(stored)", None)

    def finished(self, cell: Cell, result: dict[str, Any]) -> None:
        """A cell that ran in this invocation."""
        self.done += 1
        self.trained += 1
        self._line(result.get("status", "?"), cell, self._metric(result), result.get("wall_time_s"))

    def _metric(self, result: dict[str, Any]) -> str:
        key, value = main_metric(result)
        if result.get("status") == "diverged":
            return f"diverged at step {result.get('diverged_step')}"
        if result.get("status") in ("failed", "cancelled", "locked"):  # the first line of the reason
            default = "held by another runner" if result.get("status") == "locked" else ""
            error = (result.get("error") or default).strip().splitlines()
            return error[0][:100] if error else ""
        return f"{key}={value:.4g}" if value is not None else ""

    def _line(self, status: str, cell: Cell, metric: str, cell_time: float | None) -> None:
        elapsed = time.perf_counter() - self.started
        left = self.total - self.done
        eta = elapsed / self.trained * left if self.trained else math.nan
        eta_text = _clock(eta) if math.isfinite(eta) else "?"
        took = f"{cell_time:.1f}s" if cell_time is not None else "-"
        width = len(str(self.total))
        print(
            f"[{self.done:>{width}}/{self.total}] {status:<9} {cell.label:<40} {metric:<28} {took:>7}  "
            f"elapsed {_clock(elapsed)}  ETA {eta_text}",
            file=self.out,
            flush=True,
        )


def summarize(
    cells: list[Cell],
    grid_name: str,
    directory: Path,
    out: TextIO | None = None,
    statuses: dict[Path, str] | None = None,
) -> Any:
    """Read every cell's result back from the store, print the pivot and write ``summary.csv``; returns the
    long-form DataFrame (one row per grid point: axis values, mean, std, n_ok, n_failed).

    ``statuses`` (cell path -> status) gives the status of a cell that has no run directory, e.g. a Slurm job
    cancelled before it started (``cancelled``), so that it is counted with the failures.
    """
    import pandas as pd

    out = out or sys.stdout
    rows = []
    for cell in cells:
        _, result, status = store.read_run(cell.path)
        if not cell.path.exists() and statuses and cell.path in statuses:
            status = statuses[cell.path]
        key, value = main_metric(result or {})
        grid = cell.config["grid"]
        rows.append(
            {
                "metric": key,
                "variant": grid["variant"],
                **{k: _text(v) for k, v in grid["axes"].items()},
                "seed": cell.config["seed"],
                "status": status,
                "value": value if status == "ok" else None,
            }
        )
    frame = pd.DataFrame(rows)
    axes = [c for c in frame.columns if c not in ("metric", "seed", "status", "value")]
    if frame["variant"].isna().all():
        axes.remove("variant")
    if not axes:  # a single cell, or seeds only: one row named after the grid
        frame["grid"] = grid_name
        axes = ["grid"]
    keys = axes
    frame["ok"] = frame["status"] == "ok"
    grouped = frame.groupby(keys, dropna=False, sort=False)
    long = grouped["value"].agg(["mean", "std"]).reset_index()
    long["n_ok"] = grouped["ok"].sum().to_numpy()
    long["n_failed"] = grouped["ok"].apply(lambda s: int((~s).sum())).to_numpy()
    long["not_ok"] = grouped["status"].apply(_not_ok).to_numpy()
    long.insert(len(keys), "metric", grouped["metric"].first().to_numpy())
    metrics = sorted(set(long["metric"].dropna()))
    directory.mkdir(parents=True, exist_ok=True)
    long.drop(columns="not_ok").to_csv(directory / store.SUMMARY_FILE, index=False)

    long["cell"] = [_cell_text(m, s, ok, bad) for m, s, ok, bad in long[["mean", "std", "n_ok", "not_ok"]].to_numpy()]
    if len(keys) >= 2:
        table = long.pivot(index=keys[:-1], columns=keys[-1], values="cell")
    else:
        table = long.set_index(keys)[["cell"]]
    n_seeds = frame.groupby(keys, dropna=False, sort=False).size().max()
    metric = metrics[0] if len(metrics) == 1 else "each task's main test metric"
    print(f"\n{grid_name}: {metric} (mean ± std over {n_seeds} seed(s); failures counted)", file=out)
    print(table.to_string(), file=out)
    shown = relative(directory)
    print(f"\nsummary: {shown / store.SUMMARY_FILE}", file=out)
    print(f"report:  python -m analysis.report {shown}", file=out, flush=True)
    return long.drop(columns=["cell", "not_ok"])


def relative(path: Path) -> Path:
    """``path`` relative to the current directory when it lies below it (shorter commands to copy)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _text(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else str(value)


def _not_ok(statuses) -> str:
    """``"1 diverged, 2 failed"`` for the statuses of one grid point that are not ``ok`` (empty if all are)."""
    counts = statuses[statuses != "ok"].value_counts()
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _cell_text(mean: float, std: float, n_ok: int, not_ok: str) -> str:
    if n_ok == 0:
        text = "-"
    elif n_ok == 1 or std != std:
        text = f"{mean:.4g}"
    else:
        text = f"{mean:.4g} ± {std:.2g}"
    return text + (f" ({not_ok})" if not_ok else "")
