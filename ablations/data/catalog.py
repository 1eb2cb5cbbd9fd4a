"""``python -m ablations.data list``: every task, whether its data is here, and how big it is."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ablations.tasks import DatasetMissing, build_task, list_tasks


def disk_size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder, links followed once)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        total += sum((Path(folder) / f).stat().st_size for f in files)
    return total


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def describe(name: str, root: Path | None) -> dict[str, str]:
    """One row: the task, its length, whether its data is available, and its size or what is missing."""
    task = build_task(name, data_root=root)
    try:
        folder = task.locate()
    except DatasetMissing as missing:
        return {"task": name, "L": "?", "data": "missing", "size / where": f"expected at {missing.path}"}
    if folder is None:
        fields = {f.name for f in dataclasses.fields(task.Config)}
        counts = "/".join(str(getattr(task.cfg, k)) for k in ("n_train", "n_val", "n_test") if k in fields)
        return {"task": name, "L": str(task.seq_len), "data": "built-in", "size / where": counts or "bundled"}
    return {
        "task": name,
        "L": str(task.seq_len),
        "data": "found",
        "size / where": f"{human(disk_size(folder))} in {folder}",
    }


def table(root: Path | None = None) -> str:
    """The catalogue as an aligned text table."""
    rows = [describe(name, root) for name in list_tasks()]
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
