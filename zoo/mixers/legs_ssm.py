"""LegS-SSM, the non-selective, scale-invariant control for ``ncs_ssm`` (shared/papers/long_range_dependency.md).

Like ``ncs_ssm``, this is our reading, not a formula from the paper (Ma & Najarian, arXiv 2509.04226, whose full
text was not available to us). The paper's point is that an SSM whose transition depends only on the current
input decays its long-range dependency exponentially; a stable update with flat LRD must depend on history or on
position. ``ncs_ssm`` depends on history (the accumulated score mass); this control depends on position only,
with no selection at all, per channel c (h = 0 before the first step, t = 1, 2, …)::

    h_t = √((t − 1)/t) · h_{t−1} + (1/√t) · B u_t        so h_t = (1/√t) · Σ_{s≤t} B u_s
    y_t = Cᵀ h_t + D u_t

The weight of u_s in h_t is 1/√t for every s ≤ t: the LRD is flat in the lag (scale-invariant, as HiPPO-LegS's
measure, whence the name), and for standard Gaussian input Var(h_t) = ‖B‖² exactly, at every t.

In the scan contract: A = −1, the input-independent Δ_t = ½·log(t/(t − 1)) (so exp(−Δ_t) = √((t − 1)/t)),
B and C as the channel-specific B_bias and C_bias (as S4D), zero-order hold. ZOH gives B̄ = (1 − e^{−Δ_t})·B,
so the input is scaled by g_t = t^{−½} / (1 − e^{−Δ_t}) (= √t + √(t − 1) for t ≥ 2) before the scan, and the
skip D·u is added outside it (on the unscaled input). At t = 1, h_0 = 0 makes the transition irrelevant; Δ_1 = 30
stands in for the infinite step.

All n states of a channel follow the same schedule, so n > 1 only reparametrises the gain Σ_k C_k B_k: the
default is n = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kernels import BACKENDS, selective_scan
from zoo.mixers.ssm import UnitMixer, UnitOutputConfig
from zoo.registry import ConfigError, check_choice, register_mixer

FIRST_STEP = 30.0  # Δ_1, a finite stand-in for ∞ (e^{−30} ≈ 1e−13); irrelevant since h_0 = 0


def schedule(L: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The scale-invariant steps Δ_t and input gains g_t for t = 1 … L, each (L,) float64."""
    t = torch.arange(1, L + 1, dtype=torch.float64, device=device)
    delta = -0.5 * torch.log1p(-1 / t.clamp(min=2))
    delta[0] = FIRST_STEP
    return delta, t.rsqrt() / -torch.expm1(-delta)


@register_mixer("legs_ssm")
class LegSSSM(UnitMixer):
    """The LegS-SSM unit inside S4D's layer (unit -> activation -> output layer, see ``UnitMixer``).

    Parameters: ``B`` (d, n), ``C`` (d, n), ``D`` (d,), all real; no Δ or A parameters (the schedule is fixed).
    """

    @dataclass
    class Config(UnitOutputConfig):
        """LegS-SSM's settings (output fields documented on ``UnitOutputConfig``).

        Our defaults: B = 1 (S4D's), C ~ N(0, 1/n), D = 1.

        Attributes:
            n_state: n, states per channel (they share one schedule: n > 1 adds only a reparametrised gain).
            scan_backend: the ``kernels.selective_scan`` implementation (see ``SSMConfig``).
        """

        n_state: int = 1
        scan_backend: str = "auto"

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_choice("legs_ssm.scan_backend", cfg.scan_backend, BACKENDS)
        if cfg.n_state < 1:
            raise ConfigError(f"legs_ssm.n_state = {cfg.n_state}: must be a positive integer.")
        d, n = d_model, cfg.n_state
        self.B = nn.Parameter(torch.ones(d, n))
        self.C = nn.Parameter(torch.randn(d, n) * n**-0.5)
        self.D = nn.Parameter(torch.ones(d))

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        b, L, d = x.shape
        real = torch.float64 if x.dtype == torch.float64 else torch.float32
        delta, gain = (v.to(real) for v in schedule(L, x.device))
        A = x.new_full((1, 1), -1.0).expand(d, self.cfg.n_state)
        y, _ = selective_scan(
            x * gain[:, None].to(x.dtype),
            delta[:, None].expand(b, L, d),
            A,
            B_bias=self.B,
            C_bias=self.C,
            dt_softplus=False,
            discretization="zoh",
            backend=self.cfg.scan_backend,
        )
        return y + self.D * x

    def optim_hints(self):
        """As S4D's: no weight decay on the SSM's own parameters B, C and D."""
        return [([self.B, self.C, self.D], {"weight_decay": 0.0})]
