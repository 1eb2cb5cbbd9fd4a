"""Long noisy memory: recall one token seen early, after a long stretch of noise.

A data token from ``1 … n_symbols`` sits at position ``position`` (``s``); every other position holds a noise
token drawn uniformly from ``n_symbols + 1 … n_symbols + n_noise``; the last position holds the query
token 0. The target, at the last position only, is the data token: it must survive ``L − s`` noise steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import IGNORE_INDEX, register_task
from ablations.tasks.synthetic import RecallTask


@register_task("long_memory")
class LongMemory(RecallTask):
    """At the final query token, name the data token seen at position ``s``."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        seq_len: int = 256  # L, the sequence length including the final query token
        position: int = 0  # s, where the data token sits (0-based, < L - 1)
        n_symbols: int = 8  # distinct data tokens (the classes to recall)
        n_noise: int = 8  # distinct noise tokens
        n_train: int = 4096  # training sequences
        n_val: int = 512  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if not 0 <= cfg.position < cfg.seq_len - 1 or cfg.n_symbols < 2 or cfg.n_noise < 1:
            raise ValueError(f"long_memory: need 0 <= position < seq_len - 1, n_symbols >= 2, n_noise >= 1, got {cfg}.")

    @property
    def vocab_size(self) -> int:
        return 1 + self.cfg.n_symbols + self.cfg.n_noise

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        L, S = self.cfg.seq_len, self.cfg.n_symbols
        x = rng.integers(S + 1, S + 1 + self.cfg.n_noise, (n, L))
        symbol = rng.integers(1, S + 1, n)
        x[:, self.cfg.position], x[:, -1] = symbol, 0
        y = np.full((n, L), IGNORE_INDEX, dtype=np.int64)
        y[:, -1] = symbol
        return x, y
