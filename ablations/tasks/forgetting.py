"""The B2S6 paper's forgetting task: remember a small first input across a large last one.

Inputs ``u`` of length ``L`` (one real channel): ``u_1 ~ N(0, σ1²)``, ``u_L ~ N(0, σ2²)``, every other
``u_t ~ N(0, 1)``. The target is ``G(u) = |u_1|``. An input-dependent step size lets the large last input
either wipe the state (and with it ``u_1``) or be ignored, so S6 fails when σ1 is small and σ2 large while
S4D and B2S6 do not (shared/papers/b2s6.md, Fig. 3). The metric is the paper's ``|G − G̃| / σ1``; the loss
is the squared error in the same units, ``((G − G̃) / σ1)²``, so runs across a σ1 grid train at one scale.
The defaults sit in the paper's failure corner (σ1 = 0.1, σ2 = 10) at a CPU-sized length and count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablations.tasks.base import input_spec, output_spec, register_task
from ablations.tasks.synthetic import SyntheticTask


@register_task("forgetting")
class Forgetting(SyntheticTask):
    """Regress ``|u_1|`` from a length-``L`` Gaussian sequence whose last input has scale σ2."""

    metric = "rel_error"
    higher_is_better = False

    @dataclass
    class Config:
        seq_len: int = 64  # L, the number of inputs
        sigma1: float = 0.1  # scale of the first input u_1, whose magnitude is the target
        sigma2: float = 10.0  # scale of the last input u_L
        n_train: int = 4096  # training sequences
        n_val: int = 512  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the data generator

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.seq_len < 2 or cfg.sigma1 <= 0 or cfg.sigma2 <= 0:
            raise ValueError(f"forgetting: need seq_len >= 2 and sigma1, sigma2 > 0, got {cfg}.")

    @property
    def input(self):
        return input_spec("real", 1)

    @property
    def output(self):
        return output_spec("regression", 1)

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        u = rng.standard_normal((n, self.cfg.seq_len, 1))
        u[:, 0] *= self.cfg.sigma1
        u[:, -1] *= self.cfg.sigma2
        return u.astype(np.float32), np.abs(u[:, 0]).astype(np.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean of ``((G̃ − G) / σ1)²`` over the batch; ``output`` and ``target`` are ``(batch, 1)``."""
        return (((output - target.reshape(output.shape)) / self.cfg.sigma1) ** 2).mean()

    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, tuple[float, int]]:
        with torch.no_grad():
            err = (output - target.reshape(output.shape)).abs().reshape(len(output)) / self.cfg.sigma1
            n = len(err)
            return {"loss": (float((err**2).sum()), n), "rel_error": (float(err.sum()), n)}
