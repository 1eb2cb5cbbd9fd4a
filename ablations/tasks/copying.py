"""Copying and selective copying, as defined by state-spaces/s4 (``torch_copying_data``) and Mamba.

Vocabulary of ``n_tokens`` = A: 0 is noise (blank), A − 1 the marker, 1 … A − 2 the data tokens. ``M`` data
tokens are placed among ``M + L`` positions — the first ``M`` for ``copy``, ``M`` uniformly random sorted
positions for ``selective_copy`` — the rest are 0; then come ``M`` markers. Total length ``L + 2M``. The
targets are the ``M`` data tokens in order, at the ``M`` marker positions (``IGNORE_INDEX`` elsewhere).
``copy`` needs only a fixed delay (an LTI model solves it); ``selective_copy`` needs content-aware selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import IGNORE_INDEX, register_task
from ablations.tasks.synthetic import RecallTask


@register_task("selective_copy")
class SelectiveCopy(RecallTask):
    """Reproduce, after the markers, the data tokens scattered among noise, in order."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        n_noise: int = 64  # L, the number of noise (blank) positions
        n_memorize: int = 8  # M, the number of data tokens to copy
        n_tokens: int = 10  # A, vocabulary size including the blank (0) and the marker (A - 1)
        selective: bool = True  # scatter the data tokens at random positions (False: at the start)
        n_train: int = 8192  # training sequences
        n_val: int = 1024  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.n_tokens < 3 or cfg.n_memorize < 1 or cfg.n_noise < 0:
            raise ValueError(f"{self.name}: need n_tokens >= 3, n_memorize >= 1, n_noise >= 0, got {cfg}.")

    @property
    def vocab_size(self) -> int:
        return self.cfg.n_tokens

    @property
    def seq_len(self) -> int:
        return self.cfg.n_noise + 2 * self.cfg.n_memorize

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        L, M, A = self.cfg.n_noise, self.cfg.n_memorize, self.cfg.n_tokens
        tokens = rng.integers(1, A - 1, (n, M))
        if self.cfg.selective:
            where = np.sort(np.argsort(rng.random((n, L + M)), axis=1)[:, :M], axis=1)
        else:
            where = np.broadcast_to(np.arange(M), (n, M))
        x = np.zeros((n, L + 2 * M), dtype=np.int64)
        np.put_along_axis(x, where, tokens, axis=1)
        x[:, L + M :] = A - 1
        y = np.full((n, L + 2 * M), IGNORE_INDEX, dtype=np.int64)
        y[:, L + M :] = tokens
        return x, y


@register_task("copy")
class Copy(SelectiveCopy):
    """The plain copying task: the data tokens come first, then ``L`` blanks, then the markers."""

    @dataclass
    class Config(SelectiveCopy.Config):
        selective: bool = False  # scatter the data tokens at random positions (False: at the start)
