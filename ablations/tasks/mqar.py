"""Multi-query associative recall (MQAR), as defined by HazyResearch/zoology (``multiquery_ar``).

Keys are drawn without replacement from the first half of the vocabulary (``1 … V/2 − 1``), values from the
second (``V/2 … V − 1``); the ``K`` pairs open the sequence as ``k1 v1 k2 v2 …``. Each key is asked again
once, at a gap from the context drawn without replacement from a power law ``p(g) ∝ a·g^(a−1)``
(``a = 0.01``). The target at a query key's position is its value (``IGNORE_INDEX`` elsewhere). Positions
that are neither context nor query hold random tokens. Input and targets are the shifted pair of zoology.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import IGNORE_INDEX, register_task
from ablations.tasks.synthetic import RecallTask


def sample_without_replacement(rng: np.random.Generator, p: np.ndarray, n: int, k: int) -> np.ndarray:
    """``(n, k)`` indices into ``p``, each row ``k`` distinct draws with probabilities ``p`` (Gumbel top-k)."""
    keys = np.log(p)[None, :] + rng.gumbel(size=(n, len(p)))
    return np.argsort(-keys, axis=1)[:, :k]


@register_task("mqar")
class MQAR(RecallTask):
    """Recall the value bound to each queried key."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        seq_len: int = 64  # L, the input length (even)
        vocab_size: int = 64  # V: keys from the lower half, values from the upper half
        n_kv_pairs: int = 4  # K, key-value pairs in the context (4K <= L)
        power_a: float = 0.01  # exponent a of the query-gap power law
        random_non_queries: bool = True  # fill unused positions with random tokens (False: with 0)
        n_train: int = 8192  # training sequences
        n_val: int = 1024  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.seq_len % 2 or 4 * cfg.n_kv_pairs > cfg.seq_len or cfg.vocab_size // 2 - 1 < cfg.n_kv_pairs:
            raise ValueError(
                f"mqar: need an even seq_len >= 4 * n_kv_pairs and vocab_size // 2 > n_kv_pairs, got {cfg}."
            )

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        L, V, K, a = self.cfg.seq_len, self.cfg.vocab_size, self.cfg.n_kv_pairs, self.cfg.power_a
        half, context = V // 2, 2 * K
        keys = 1 + np.argsort(rng.random((n, half - 1)), axis=1)[:, :K]
        values = half + np.argsort(rng.random((n, V - half)), axis=1)[:, :K]
        space = (L - context) // 2
        p = a * np.arange(1, space + 1) ** (a - 1)
        gaps = sample_without_replacement(rng, p / p.sum(), n, K)
        seq = np.zeros((n, L + 1), dtype=np.int64)
        seq[:, 0:context:2], seq[:, 1:context:2] = keys, values
        np.put_along_axis(seq, context + 2 * gaps, keys, axis=1)
        labels = np.full((n, L + 1), IGNORE_INDEX, dtype=np.int64)
        np.put_along_axis(labels, context + 2 * gaps + 1, values, axis=1)
        x, y = seq[:, :-1], labels[:, 1:]
        if self.cfg.random_non_queries:
            filler = rng.integers(0, V, x.shape)
            x = np.where(x == 0, filler, x)
        return x, y
