"""Induction heads, as in HazyResearch/safari's synthetic suite.

Tokens ``0 … V − 2`` are drawn uniformly; the special token ``V − 1`` is placed at one random position
``i < L − 2`` and again at the last position. The target, at the last position only, is the token that
followed the first special token: the model must find the earlier occurrence and copy its successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import IGNORE_INDEX, register_task
from ablations.tasks.synthetic import RecallTask


@register_task("induction")
class Induction(RecallTask):
    """At the second special token, predict the token that followed the first one."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        seq_len: int = 128  # L, the sequence length
        vocab_size: int = 16  # V, including the special token V - 1
        n_train: int = 8192  # training sequences
        n_val: int = 1024  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.seq_len < 4 or cfg.vocab_size < 3:
            raise ValueError(f"induction: need seq_len >= 4 and vocab_size >= 3, got {cfg}.")

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        L, special = self.cfg.seq_len, self.cfg.vocab_size - 1
        x = rng.integers(0, special, (n, L))
        rows, first = np.arange(n), rng.integers(0, L - 2, n)
        x[rows, first] = x[:, -1] = special
        y = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        y[:, -1] = x[rows, first + 1]
        return x, y
