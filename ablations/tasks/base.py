"""The task contract and the registry that maps a name to a task class and its typed ``Config``.

A task owns its data and its objective: it builds the train / val / test datasets and declares what the
model must read (:class:`zoo.model.InputSpec`) and produce (:class:`zoo.model.OutputSpec`), its sequence
length, its loss and its metric. The model's encoder and head are built from those declarations, so every
task works with every mixer. Adding a task is one class and one decorator::

    @register_task("my_task")
    class MyTask(Task):
        metric = "accuracy"

        @dataclass
        class Config:
            seq_len: int = 64  # length of every sequence

        def __init__(self, cfg: Config, data_root: Path): ...
        input = property(lambda self: InputSpec("real", 1))
        output = property(lambda self: OutputSpec("classes", 10))
        seq_len = property(lambda self: self.cfg.seq_len)
        def datasets(self): ...  # -> (train, val, test)

Dataset items are ``(x, y)``: ``x`` is ``(L,)`` int64 tokens or ``(L, channels)`` float32; ``y`` is a class
index (int64 scalar), a regression vector ``(dim,)`` float32, or per-position targets ``(L,)`` int64 /
``(L, dim)`` float32 where positions without a target hold :data:`IGNORE_INDEX`. Variable-length data is
right-padded to ``seq_len`` and items are ``(x, y, length)``.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from zoo.registry import ConfigRegistry

IGNORE_INDEX = -100
"""Class target of a position that has no target (per-position tasks); ``cross_entropy``'s default."""


class DatasetMissing(FileNotFoundError):
    """A task's files are not where they should be. The message names the path, the files and how to get them."""

    def __init__(self, task: str, path: Path, files: list[str] | tuple[str, ...], how: str):
        self.task, self.path, self.files, self.how = task, Path(path), list(files), how
        listing = "\n".join(f"  {f}" for f in self.files)
        super().__init__(
            f"Task {task!r}: data not found at {self.path}\nExpected there:\n{listing}\n"
            f"How to get it: {how}\n(The data root is data.root=..., else $SEQZOO_DATA, else ./data.)"
        )


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file, the line (where there is one) and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        self.path, self.line = Path(path), line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` if given, else ``$SEQZOO_DATA``, else ``./data``; made absolute so worker processes agree."""
    if root is None:
        root = os.environ.get("SEQZOO_DATA") or "data"
    return Path(root).expanduser().resolve()


def data_root() -> Path:
    """The data directory: ``$SEQZOO_DATA`` if set, else ``./data`` (absolute)."""
    return resolve_data_root(None)


def input_spec(kind: str, dim: int):
    """``zoo.model.InputSpec(kind, dim)``, imported on use so that ``import ablations.tasks`` stays light."""
    from zoo.model import InputSpec

    return InputSpec(kind, dim)


def output_spec(kind: str, dim: int, per_position: bool = False):
    """``zoo.model.OutputSpec(kind, dim, per_position)``, imported on use."""
    from zoo.model import OutputSpec

    return OutputSpec(kind, dim, per_position)


class Task(abc.ABC):
    """Base class of every task: a typed ``Config``, three datasets, input/output declarations, loss and metric.

    ``metric`` names the main metric reported by :meth:`batch_metrics` and ``higher_is_better`` its direction.
    The default :meth:`loss` and :meth:`batch_metrics` follow ``output``: cross-entropy and accuracy for
    classes (per position, skipping :data:`IGNORE_INDEX`), mean squared error for regression.
    """

    Config: ClassVar[type]
    name: ClassVar[str] = ""
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, cfg: Any, data_root: Path):
        self.cfg = cfg
        self.data_root = Path(data_root)

    @property
    @abc.abstractmethod
    def input(self):
        """:class:`zoo.model.InputSpec`: ``("tokens", vocab_size)`` or ``("real", channels)``."""

    @property
    @abc.abstractmethod
    def output(self):
        """:class:`zoo.model.OutputSpec`: ``("classes", n)`` or ``("regression", dim)``, maybe per position."""

    @property
    @abc.abstractmethod
    def seq_len(self) -> int:
        """Length ``L`` of every (padded) input sequence."""

    @abc.abstractmethod
    def datasets(self) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset, torch.utils.data.Dataset]:
        """``(train, val, test)``; val is held out from train and never the test split."""

    def locate(self) -> Path | None:
        """The folder the task reads (``DatasetMissing`` if its files are absent); None when it needs no files."""
        return None

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch. ``output`` is ``(batch, n)`` or ``(batch, L, n)`` per position."""
        if self.output.kind == "classes":
            return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX)
        return F.mse_loss(output, target.reshape(output.shape))

    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, tuple[float, int]]:
        """``{name: (sum, count)}`` over the batch, with ``"loss"`` and :attr:`metric`, so averages are exact."""
        with torch.no_grad():
            if self.output.kind == "classes":
                logits, labels = output.reshape(-1, output.shape[-1]), target.reshape(-1)
                keep = labels != IGNORE_INDEX
                count = int(keep.sum())
                loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum")
                correct = (logits.argmax(-1) == labels) & keep
                return {"loss": (float(loss), count), "accuracy": (float(correct.sum()), count)}
            n = output.shape[0]
            mse = float(F.mse_loss(output, target.reshape(output.shape), reduction="mean")) * n
            return {"loss": (mse, n), "mse": (mse, n)}


_TASKS = ConfigRegistry("task", Task, "ablations.tasks.Task")


def register_task(name: str):
    """Class decorator: register a :class:`Task` subclass under ``name`` (its ``Config`` is its schema)."""
    return _TASKS.register(name)


def list_tasks() -> list[str]:
    """Names of all registered tasks, sorted."""
    return _TASKS.names()


def get_task(name: str) -> type[Task]:
    """The task class registered under ``name``; ``ConfigError`` naming the closest names otherwise."""
    return _TASKS.get(name)


def make_task_config(name: str, **overrides: Any):
    """Task ``name``'s ``Config`` with ``overrides``; an unknown field raises ``ConfigError`` listing valid ones."""
    return _TASKS.make_config(name, **overrides)


def build_task(name: str, data_root: str | os.PathLike | None = None, **overrides: Any) -> Task:
    """Build task ``name`` from its default ``Config`` updated by ``overrides``, reading data under ``data_root``."""
    return get_task(name)(make_task_config(name, **overrides), resolve_data_root(data_root))
