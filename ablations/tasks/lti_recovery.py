"""LTI recovery: imitate a random stable diagonal linear time-invariant system on white noise.

The system is drawn once from the seed (shared by every split): ``n_state`` complex-conjugate pole pairs
``a_k = r_k e^{iθ_k}`` with ``r_k ~ U(r_min, r_max)``, ``θ_k ~ U(0, π)``, and complex ``b_k, c_k ~ CN(0, 1)``:

    h_t = a ⊙ h_{t−1} + b u_t,   y_t = 2 Re(c · h_t) + d u_t

scaled so that ``y`` has unit variance for white-noise input. Input ``u ~ N(0, 1)`` of shape ``(L, 1)``;
target ``y`` of shape ``(L, 1)`` at every position; loss and metric MSE (so 1.0 is the trivial baseline).
A linear time-invariant mixer can solve it exactly: it checks that a selective one still can.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import input_spec, output_spec, register_task
from ablations.tasks.synthetic import SyntheticTask, split_rng


@register_task("lti_recovery")
class LTIRecovery(SyntheticTask):
    """Regress, at every step, the output of a fixed random stable diagonal LTI system."""

    metric = "mse"
    higher_is_better = False

    @dataclass
    class Config:
        seq_len: int = 128  # L, the number of steps
        n_state: int = 4  # pole pairs of the system
        r_min: float = 0.8  # smallest pole radius (fast decay)
        r_max: float = 0.98  # largest pole radius, < 1 for stability (slow decay)
        n_train: int = 4096  # training sequences
        n_val: int = 512  # validation sequences
        n_test: int = 1024  # test sequences
        seed: int = 0  # seed of the system and of the data

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if not 0 < cfg.r_min <= cfg.r_max < 1 or cfg.n_state < 1:
            raise ValueError(f"lti_recovery: need 0 < r_min <= r_max < 1 and n_state >= 1, got {cfg}.")
        rng = split_rng(cfg.seed, "lti_recovery/system", "train")
        n = cfg.n_state
        self.a = rng.uniform(cfg.r_min, cfg.r_max, n) * np.exp(1j * rng.uniform(0, np.pi, n))
        self.b = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
        self.c = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
        self.d = rng.standard_normal()
        self.scale = 1.0 / np.sqrt(np.sum(self.impulse_response(4096) ** 2))

    def impulse_response(self, length: int) -> np.ndarray:
        """The unscaled response ``(length,)`` to a unit impulse: ``d`` at 0, then ``2 Re(Σ c a^t b)``."""
        powers = self.a[None, :] ** np.arange(length)[:, None]  # (length, n_state)
        response = 2 * np.real(powers @ (self.c * self.b))
        response[0] += self.d
        return response

    @property
    def input(self):
        return input_spec("real", 1)

    @property
    def output(self):
        return output_spec("regression", 1, per_position=True)

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        u = rng.standard_normal((n, self.cfg.seq_len))
        h = np.zeros((n, self.cfg.n_state), dtype=complex)
        y = np.empty_like(u)
        for t in range(self.cfg.seq_len):
            h = self.a * h + self.b * u[:, t : t + 1]
            y[:, t] = 2 * np.real(h @ self.c) + self.d * u[:, t]
        return u[..., None].astype(np.float32), (self.scale * y)[..., None].astype(np.float32)
