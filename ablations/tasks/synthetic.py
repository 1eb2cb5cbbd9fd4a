"""Shared machinery of the synthetic tasks: seeded, split-specific random streams and in-memory datasets.

Every synthetic task draws its three splits from independent numpy ``PCG64`` streams keyed by
``(seed, task name, split)``, so the same seed gives byte-identical data in any process and on any platform,
different seeds differ, and the val split never coincides with the test split.
"""

from __future__ import annotations

import abc
import zlib

import numpy as np
import torch

from ablations.tasks.base import Task, input_spec, output_spec

SPLITS = ("train", "val", "test")


def split_rng(seed: int, task: str, split: str) -> np.random.Generator:
    """The random stream of one split of one task: independent of every other (seed, task, split)."""
    return np.random.default_rng([int(seed), zlib.crc32(task.encode()), SPLITS.index(split)])


class SyntheticTask(Task):
    """A task whose data :meth:`generate` draws from a seeded stream; its ``Config`` has ``n_train``,
    ``n_val``, ``n_test`` and ``seed`` (and usually ``seq_len``, the default :attr:`seq_len`). The datasets are
    generated once and kept in memory."""

    _data: tuple | None = None

    @property
    def seq_len(self) -> int:
        return self.cfg.seq_len

    @abc.abstractmethod
    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` examples ``(x, y)`` as numpy arrays (``x`` int64 tokens or float32 reals; ``y`` the targets)."""

    def datasets(self) -> tuple[torch.utils.data.TensorDataset, ...]:
        if self._data is None:
            sizes = {"train": self.cfg.n_train, "val": self.cfg.n_val, "test": self.cfg.n_test}
            out = []
            for split in SPLITS:
                x, y = self.generate(sizes[split], split_rng(self.cfg.seed, self.name, split))
                out.append(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)))
            self._data = tuple(out)
        return self._data


class RecallTask(SyntheticTask):
    """A token task scored at chosen positions: ``x`` is ``(L,)`` int64 over ``vocab_size`` tokens, ``y`` is
    ``(L,)`` int64 holding the expected token where there is one and ``IGNORE_INDEX`` elsewhere."""

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct input tokens (and output classes)."""

    @property
    def input(self):
        return input_spec("tokens", self.vocab_size)

    @property
    def output(self):
        return output_spec("classes", self.vocab_size, per_position=True)
