"""The B2S6 paper's coefficient-recovery task: read the coefficients of a sum of cosines off the signal.

``u(t) = Σ_i g_i cos(p_i t)`` with ``p_i`` the first ``n_primes`` primes (2, 3, 5, …, 29 for ten),
sampled at ``L`` uniform points of ``[0, 2π)``; ``g ~ N(0, I)``. The input is ``(L, 1)``, the target
``g`` of shape ``(n_primes,)``; the loss and metric are the paper's ``‖g̃ − g‖₂`` (mean over the batch).
It measures expressiveness against width (shared/papers/b2s6.md, Fig. 2): S6 stays flat as ``d`` grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablations.tasks.base import input_spec, output_spec, register_task
from ablations.tasks.synthetic import SyntheticTask


def first_primes(n: int) -> list[int]:
    """The first ``n`` primes."""
    primes: list[int] = []
    k = 2
    while len(primes) < n:
        if all(k % p for p in primes):
            primes.append(k)
        k += 1
    return primes


@register_task("coefficient_recovery")
class CoefficientRecovery(SyntheticTask):
    """Regress the ``n_primes`` coefficients ``g`` of ``u(t) = Σ g_i cos(p_i t)``."""

    metric = "l2_error"
    higher_is_better = False

    @dataclass
    class Config:
        seq_len: int = 256  # L, samples of u on a uniform grid of [0, 2π)
        n_primes: int = 10  # number of cosines; frequencies are the first n_primes primes
        n_train: int = 8192  # training sequences
        n_val: int = 1024  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.n_primes < 1 or cfg.seq_len < 1:
            raise ValueError(f"coefficient_recovery: need n_primes >= 1 and seq_len >= 1, got {cfg}.")

    @property
    def input(self):
        return input_spec("real", 1)

    @property
    def output(self):
        return output_spec("regression", self.cfg.n_primes)

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        t = 2 * np.pi * np.arange(self.cfg.seq_len) / self.cfg.seq_len
        basis = np.cos(np.outer(first_primes(self.cfg.n_primes), t))  # (n_primes, L)
        g = rng.standard_normal((n, self.cfg.n_primes))
        return (g @ basis)[..., None].astype(np.float32), g.astype(np.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of ``‖g̃ − g‖₂``; ``output`` and ``target`` are ``(batch, n_primes)``."""
        return (output - target).norm(dim=-1).mean()

    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, tuple[float, int]]:
        with torch.no_grad():
            total = float((output - target).norm(dim=-1).sum())
            return {"loss": (total, len(output)), "l2_error": (total, len(output))}
