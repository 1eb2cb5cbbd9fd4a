"""A run store as tidy pandas frames: one row per run (:func:`load`), one row per evaluation (:func:`load_curves`).

Everything here reads files through the store's own readers (``ablations.store``, which imports neither torch nor
omegaconf), so loading results never builds a model. Partial runs (no ``result.json`` yet: running or
interrupted) and corrupt directories are skipped and reported — as a warning naming the count and the paths,
and in ``frame.attrs["skipped"]`` — never raised.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ablations import store

IDENTITY_COLUMNS = ("run_id", "grid", "variant", "seed", "status", "mixer.name", "task.name")
"""Run-level columns that :func:`load_curves` copies onto every evaluation row (with the grid's axes)."""

_RESULT_SKIP = {"metrics", "axes", "versions"}  # nested fields flattened separately (or already in the config)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"mixer": {"bias": True}}`` -> ``{"mixer.bias": True}``; lists become tuples so columns stay hashable."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = tuple(value)
        else:
            flat[name] = value
    return flat


def _run_row(record: store.RunRecord) -> tuple[dict[str, Any], list[str]]:
    """One run's flat row (config columns, result fields, final metrics) and its axis names in grid order."""
    config = dict(record.config)
    grid = dict(config.pop("grid", None) or {})
    axes = dict(grid.pop("axes", None) or record.result.get("axes") or {})
    row = flatten(config)
    row.update(flatten(grid, "grid."))
    for key, value in record.result.items():
        if key not in _RESULT_SKIP:
            row[key] = value
    row.update(record.result.get("metrics") or {})
    row.update(flatten(record.result.get("versions") or {}, "versions."))
    for axis, value in axes.items():  # an axis over group choices ("mixer": "b2s6_nobias") is no config key
        row.setdefault(axis, value)
    row.setdefault("grid", grid.get("name"))
    row.setdefault("variant", grid.get("variant"))
    row["path"] = str(record.path)
    return row, list(axes)


def load(path: str | os.PathLike) -> pd.DataFrame:
    """One row per finished run under ``path`` (a store root, one grid's directory, or one run directory).

    Columns: the resolved config flattened with dotted names (``mixer.n_blocks``, ``train.lr``, ``seed``,
    ``grid.name``), the ``result.json`` fields (``run_id``, ``status``, ``metric``, ``wall_time_s``,
    ``n_params``, ``tokens_per_s``, ``scan_backend``, ...), the final metrics under their own names (``val/acc``,
    ``test/acc``, ``best_epoch``) and ``path``. ``attrs["axes"]`` lists the grid's axes (dotted config names,
    in grid order; an axis over group choices such as ``mixer`` gets its own column of choice names);
    ``attrs["skipped"]`` lists ``(path, reason)`` for partial and corrupt directories.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No run store at {path}: pass runs/<grid> (or runs/) as written by ablations.run.")
    rows, axes, skipped = [], {}, []
    for record in store.iter_runs(path):
        if record.result is None or record.status not in store.FINISHED:
            reason = record.problem or f"{record.status}: no {store.RESULT_FILE} yet"
            skipped.append((str(record.path), reason))
            continue
        row, run_axes = _run_row(record)
        rows.append(row)
        axes.update(dict.fromkeys(run_axes))
    if skipped:
        listed = "\n  ".join(f"{p} ({why})" for p, why in skipped[:20])
        more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        message = f"analysis.load skipped {len(skipped)} run directories under {path}:\n  {listed}{more}"
        warnings.warn(message, stacklevel=2)
    frame = pd.DataFrame(rows)
    frame.attrs["axes"] = list(axes)
    frame.attrs["skipped"] = skipped
    frame.attrs["source"] = str(path)
    return frame


def load_curves(path: str | os.PathLike, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (run, evaluation, metric) from every run's ``metrics.jsonl``.

    Columns: the identity columns of the run (:data:`IDENTITY_COLUMNS` and the grid's axes), ``epoch``, ``step``,
    ``time_s``, ``metric`` (``train/loss``, ``val/acc``, ...) and ``value``. ``runs`` is :func:`load`'s frame
    for the same store (read again when not given); torn lines in a metrics file are skipped and reported in
    ``attrs["problems"]``.
    """
    if runs is None:
        runs = load(path)
    keep = [c for c in (*IDENTITY_COLUMNS, *runs.attrs.get("axes", [])) if c in runs.columns]
    keep = list(dict.fromkeys(keep))
    evaluations, problems = [], []
    for run_path, run_id in zip(runs.get("path", []), runs.get("run_id", []), strict=True):
        for row in store.read_metrics(run_path, problems):
            evaluations.append({**row, "run_id": run_id})
    index_cols = ["run_id", "epoch", "step", "time_s"]
    if not evaluations:
        curves = pd.DataFrame(columns=[*keep, "epoch", "step", "time_s", "metric", "value"])
    else:
        wide = pd.DataFrame(evaluations)
        ids = [c for c in index_cols if c in wide.columns]
        curves = wide.melt(id_vars=ids, var_name="metric", value_name="value").dropna(subset=["value"])
        curves = curves.merge(runs[keep], on="run_id", how="left")
    curves.attrs["axes"] = list(runs.attrs.get("axes", []))
    curves.attrs["problems"] = problems
    return curves.reset_index(drop=True)
