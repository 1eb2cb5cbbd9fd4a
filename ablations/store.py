"""The run store: one directory per grid cell, written so that no finished run is ever lost.

Layout (``root`` is ``runs/`` under the current directory unless ``store.root=`` says otherwise)::

    <root>/<grid>/<run_id>/config.yaml    the resolved config (with ``grid: {name, variant, axes}``)
    <root>/<grid>/<run_id>/metrics.jsonl  one JSON object per evaluation ({"epoch", "step", "val/loss", ...})
    <root>/<grid>/<run_id>/checkpoint.pt  periodic, and on SIGTERM/SIGINT (written by the trainer)
    <root>/<grid>/<run_id>/result.json    written once, atomically, at the end: status, metrics, provenance
    <root>/<grid>/<run_id>/log.txt        the cell's log
    <root>/<grid>/<run_id>/.lock          exists (and is flock-ed) while a process trains the cell
    <root>/<grid>/summary.csv             the pivot of the main metric, written at the end of a grid

The run id is a short hash of the *semantic* config: every key that can change the result. Keys that only
say where or how fast a cell runs (launcher, worker count, store root, data root, logging cadence, the grid's
naming of the cell) are left out, so re-running a grid on another machine finds the same directories.

This module imports neither torch nor omegaconf: the analysis package reads the store through the readers
at the bottom (:func:`iter_runs`, :func:`read_run`, :func:`read_metrics`), which report partial or corrupt
directories instead of raising.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import yaml

CONFIG_FILE = "config.yaml"
# libyaml's parser where PyYAML was built with it: ~5x faster on stores of thousands of runs.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
SUMMARY_FILE = "summary.csv"

FINISHED = ("ok", "failed", "diverged", "cancelled")
"""Statuses a ``result.json`` can hold."""

# Dotted keys that never change a result; everything else in the resolved config is part of the run id.
NON_SEMANTIC_KEYS = (
    "grid",
    "launcher",
    "store",
    "data",
    "plugins",
    "train.device",
    "train.progress",
    "train.log_every",
    "train.checkpoint_every_s",
    "train.threads",
)


# ---------------------------------------------------------------------------------------------------------------
# Run ids and paths


def semantic_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`NON_SEMANTIC_KEYS` (a deep copy; the input is not modified)."""
    semantic = copy.deepcopy(config)
    for dotted in NON_SEMANTIC_KEYS:
        *parents, leaf = dotted.split(".")
        node = semantic
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return semantic


def run_id(config: dict[str, Any]) -> str:
    """A 12-hex-digit id of the semantic part of a resolved config (stable across key order and machines)."""
    text = json.dumps(semantic_config(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def grid_dir(root: str | os.PathLike, grid: str) -> Path:
    """``<root>/<grid>``: the directory of one grid's runs and its ``summary.csv``."""
    return Path(root) / grid


def run_dir(root: str | os.PathLike, grid: str, config: dict[str, Any]) -> Path:
    """``<root>/<grid>/<run_id>`` for a resolved config (not created)."""
    return grid_dir(root, grid) / run_id(config)


# ---------------------------------------------------------------------------------------------------------------
# Writing


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``.

    A reader sees either the old file or the whole new one, never a torn write, even after SIGKILL.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config(directory: str | os.PathLike, config: dict[str, Any]) -> None:
    """Write the resolved config as ``config.yaml`` (atomically; keys in their given order)."""
    atomic_write_text(Path(directory) / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))


def append_metrics(directory: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one evaluation as a JSON line to ``metrics.jsonl`` (flushed and synced)."""
    with open(Path(directory) / METRICS_FILE, "a") as f:
        f.write(json.dumps(row, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def truncate_metrics(directory: str | os.PathLike, max_step: int) -> None:
    """Drop metric rows after ``max_step`` (and torn lines): used when a run resumes from an older checkpoint."""
    path = Path(directory) / METRICS_FILE
    if not path.exists():
        return
    rows = [row for row in read_metrics(directory) if row.get("step", 0) <= max_step]
    atomic_write_text(path, "".join(json.dumps(row, default=_json_default) + "\n" for row in rows))


def write_result(directory: str | os.PathLike, result: dict[str, Any]) -> None:
    """Write ``result.json`` atomically (temp file + ``os.replace``)."""
    if result.get("status") not in FINISHED:
        raise ValueError(f"write_result: status must be one of {FINISHED}, got {result.get('status')!r}.")
    atomic_write_text(Path(directory) / RESULT_FILE, json.dumps(result, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    """Make numpy/torch scalars and paths JSON-serialisable without importing either library."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class RunLock:
    """An exclusive, non-blocking lock on a run directory, so two runners never train the same cell.

    It is an ``fcntl.flock`` on ``<run_dir>/.lock``: the kernel drops it when the holder dies (even by SIGKILL),
    so a crashed runner never leaves a cell locked for ever. The file holds ``host:pid`` for humans and is
    removed on release. Use as a context manager; :meth:`acquire` returns False if another process holds it.
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        if not self.acquire():
            raise LockedError(f"{self.path.parent} is being trained by another process ({_lock_holder(self.path)}).")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class LockedError(RuntimeError):
    """Another process holds the run directory's lock."""


def is_locked(directory: str | os.PathLike) -> bool:
    """True if a live process holds ``directory``'s lock (a lock file left by a dead process does not count)."""
    path = Path(directory) / LOCK_FILE
    if not path.exists():
        return False
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _lock_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown holder"
    except OSError:
        return "unknown holder"


# ---------------------------------------------------------------------------------------------------------------
# Reading (used by the runner to skip/resume and by ``analysis``; never raises on a damaged directory)


class RunRecord(NamedTuple):
    """One run directory as read from disk.

    ``status`` is the ``result.json`` status (``ok``, ``failed``, ``diverged``, ``cancelled``) or, when there is
    no readable result: ``running`` (a live process holds the lock), ``interrupted`` (started, no result, not
    locked: resumable), ``corrupt`` (config.yaml or result.json unreadable; ``problem`` says why).
    """

    path: Path
    config: dict[str, Any]
    result: dict[str, Any] | None
    status: str
    problem: str | None


def read_run(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """``(config, result or None, status)`` of one run directory; see :class:`RunRecord` for the statuses.

    A damaged directory gives status ``corrupt`` and an empty config or a ``None`` result, never an exception;
    :func:`inspect_run` also says what is wrong.
    """
    record = inspect_run(directory)
    return record.config, record.result, record.status


def inspect_run(directory: str | os.PathLike) -> RunRecord:
    """Read one run directory into a :class:`RunRecord` (``problem`` names a damaged file, else None)."""
    directory = Path(directory)
    problems = []
    config: dict[str, Any] = {}
    try:
        loaded = yaml.load((directory / CONFIG_FILE).read_text(), Loader=_YAML_LOADER)
        if not isinstance(loaded, dict):
            raise ValueError("not a mapping")
        config = loaded
    except FileNotFoundError:
        problems.append(f"{CONFIG_FILE} is missing")
    except (OSError, ValueError, yaml.YAMLError) as error:
        problems.append(f"{CONFIG_FILE} is unreadable ({type(error).__name__}: {error})")

    result = None
    result_path = directory / RESULT_FILE
    if result_path.exists():
        try:
            loaded = json.loads(result_path.read_text())
            if not isinstance(loaded, dict) or loaded.get("status") not in FINISHED:
                raise ValueError(f"no valid status (one of {FINISHED})")
            result = loaded
        except (OSError, ValueError) as error:
            problems.append(f"{RESULT_FILE} is unreadable ({type(error).__name__}: {error})")

    if problems:
        status = "corrupt"
    elif result is not None:
        status = result["status"]
    elif is_locked(directory):
        status = "running"
    else:
        status = "interrupted"
    return RunRecord(directory, config, result, status, "; ".join(problems) or None)


def iter_runs(root: str | os.PathLike) -> Iterator[RunRecord]:
    """Every run directory under ``root`` (a store root, or one grid's directory), sorted by path.

    A run directory is any directory holding a ``config.yaml`` or a ``result.json``; damaged ones come back
    with status ``corrupt`` and a ``problem``. Temporary files and ``summary.csv`` are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        return
    for config_or_result in sorted({*root.rglob(CONFIG_FILE), *root.rglob(RESULT_FILE)}):
        directory = config_or_result.parent
        if config_or_result.name == RESULT_FILE and (directory / CONFIG_FILE).exists():
            continue  # counted once, through its config.yaml
        yield inspect_run(directory)


def read_metrics(directory: str | os.PathLike, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` in order; a torn or invalid line is skipped and described in ``problems``.

    A missing file gives an empty list (a run that has not evaluated yet).
    """
    path = Path(directory) / METRICS_FILE
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except ValueError as error:
            if problems is not None:
                problems.append(f"{path}:{number}: {error}")
            continue
        rows.append(row)
    return rows
