"""The adding problem (Hochreiter & Schmidhuber 1997): add the two marked numbers of a long sequence.

Input ``(L, 2)``: channel 0 holds values ``~ U(0, 1)``, channel 1 marks two positions, one uniform in the
first half and one in the second. Target: the sum of the two marked values, ``(1,)``; loss and metric MSE.
Predicting the constant 1 scores an MSE of 1/6, the baseline to beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import input_spec, output_spec, register_task
from ablations.tasks.synthetic import SyntheticTask


@register_task("adding")
class Adding(SyntheticTask):
    """Regress the sum of the two values marked in channel 1."""

    metric = "mse"
    higher_is_better = False

    @dataclass
    class Config:
        seq_len: int = 128  # L, the number of (value, marker) pairs
        n_train: int = 8192  # training sequences
        n_val: int = 1024  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.seq_len < 2:
            raise ValueError(f"adding: need seq_len >= 2, got {cfg.seq_len}.")

    @property
    def input(self):
        return input_spec("real", 2)

    @property
    def output(self):
        return output_spec("regression", 1)

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        L, half = self.cfg.seq_len, self.cfg.seq_len // 2
        x = np.zeros((n, L, 2), dtype=np.float32)
        x[..., 0] = rng.random((n, L))
        rows = np.arange(n)
        first, second = rng.integers(0, half, n), rng.integers(half, L, n)
        x[rows, first, 1] = x[rows, second, 1] = 1.0
        return x, (x[rows, first, 0] + x[rows, second, 0])[:, None]
