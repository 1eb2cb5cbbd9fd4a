"""NCS-SSM, the normalised cumulative-softmax SSM: our reading of the stable hidden-state update proposed by Ma &
Najarian, "Rethinking the long-range dependency in Mamba/SSM and transformer models" (arXiv 2509.04226).

**Not the paper's formula.** The paper's full text was not available to us (shared/papers/long_range_dependency.md
has only its abstract); this is our interpretation, built from two constraints the abstract states: the update
must be stable under standard Gaussian input, and its long-range dependency (LRD, ‖∂h_t/∂x_s‖) must not be bound
to decay exponentially with the lag t − s. The argument: if the transition a_k at step k depends only on the
current input and the state stays mean-square bounded under i.i.d. Gaussian input, then E[log a_k] < 0 and the
product a_t···a_{s+1}, the LRD, decays exponentially almost surely. A stable update with non-exponential LRD must
therefore let the transition depend on the history; the simplest one that is stable under *any* input normalises
by the accumulated score mass. Per head, with h = 0 before the first step::

    s_t = wᵀ u_t                            score, one per head (a bias would duplicate ℓ₀)
    ℓ_t = logaddexp(ℓ_{t−1}, s_t)           log of the accumulated mass; ℓ₀ a learnable, finite prior
    a_t = exp(ℓ_{t−1} − ℓ_t) ∈ (0, 1)
    h_t = a_t · h_{t−1} + (1 − a_t) · B_t u_t        a convex combination: ‖h_t‖ ≤ max_s ‖B_s u_s‖
    y_t = C_tᵀ h_t + D u_t

Unrolled, h_t = Σ_{s≤t} e^{s_s} / (e^{ℓ₀} + Σ_{j≤t} e^{s_j}) · B_s u_s: attention with a key-only score and a
null "sink" of mass e^{ℓ₀}, so the weight of u_s follows its score, not t − s. In the scan contract this is
A = −1, Δ_t = ℓ_t − ℓ_{t−1} = softplus(s_t − ℓ_{t−1}) passed with ``dt_softplus=False`` and zero-order hold for B
((1 − e^{−Δ})·B = (1 − a_t)·B), so it runs on every scan backend. ℓ comes from ``torch.logcumsumexp``: nothing
is exponentiated outside log space, so any input scale and any length are safe (Δ ≥ 0, a_t ∈ [0, 1]).

``decay=True`` adds a learnable forgetting factor λ per head, ℓ_t = logaddexp(ℓ_{t−1} + log λ, s_t): λ → 1 is the
attention-like update above, small λ a Mamba-like exponential memory with e-folding length 1 / (−log λ).

Heads are the blocks of the scan contract: head j holds channels j·p … j·p + p − 1 (p = d / h) and shares their
score, Δ, B and C. Optional, as in the Mamba mixer: a short causal depthwise convolution (+ SiLU) before the unit
and a gate silu(W_z x) on its output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kernels import selective_scan
from zoo.mixers.mamba import CausalConv1d
from zoo.mixers.ssm import SSMConfig, UnitMixer, UnitOutputConfig, check_ssm_config, log_uniform_dt
from zoo.registry import ConfigError, check_divides, register_mixer


@register_mixer("ncs_ssm")
class NCSSSM(UnitMixer):
    """The NCS-SSM unit inside S4D's layer (unit -> activation -> output layer, see ``UnitMixer``).

    Parameters (d = h·p): ``score`` Linear(d, h, no bias) giving s (b, L, h); ``x_proj`` Linear(d, 2·h·n, no
    bias) giving B, C (b, L, h, n); ``log_prior`` (h,) = ℓ₀; ``D`` (d,); with ``decay``, ``decay_log`` (h,) with
    λ = exp(−exp(decay_log)); with ``d_conv > 0``, ``conv`` (CausalConv1d); with ``gate``, ``gate_proj``
    Linear(d, d, no bias).
    """

    @dataclass
    class Config(SSMConfig, UnitOutputConfig):
        """NCS-SSM's settings (shared fields documented on ``SSMConfig`` and ``UnitOutputConfig``).

        Our defaults (none come from the paper): n = 16 (Mamba's), h = 4, ℓ₀ = 0 (a prior mass of one token with
        score 0), score and x_proj with PyTorch's default Linear initialisation (as S6's x_proj), D = 1,
        zero-order hold (the only discretisation that keeps the update a convex combination: "euler" is refused).
        With ``decay``, −log λ is initialised log-uniform in [dt_min, dt_max] per head (it plays the role of
        Mamba's Δ·|A| with A = −1); without it dt_min and dt_max are unused. ``dt_lr_scale``/``dt_lr_max`` apply to
        the parameters that set Δ: the score weights, ℓ₀ and λ.

        Attributes:
            n_heads: h, heads (blocks of the scan contract); must divide d_model.
            init_prior: initial ℓ₀ (log prior mass) of every head.
            decay: add the learnable per-head forgetting factor λ.
            d_conv: kernel size of the short causal depthwise convolution (+ SiLU) before the unit; 0 for none
                (Mamba uses 4).
            gate: multiply the unit's output by silu(W_z x), as Mamba's gate.
        """

        n_heads: int = 4
        init_prior: float = 0.0
        decay: bool = False
        d_conv: int = 0
        gate: bool = False
        discretization: str = "zoh"

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_ssm_config(self.name, cfg)
        if cfg.discretization != "zoh":
            raise ConfigError(
                f"ncs_ssm.discretization = {cfg.discretization!r}: the update is a convex combination (bounded "
                "state) only with zero-order hold; use 'zoh'."
            )
        if cfg.d_conv < 0:
            raise ConfigError(f"ncs_ssm.d_conv = {cfg.d_conv}: must be 0 (no convolution) or a positive kernel size.")
        if not math.isfinite(cfg.init_prior):
            raise ConfigError(f"ncs_ssm.init_prior = {cfg.init_prior}: the prior log mass ℓ₀ must be finite.")
        h, n = cfg.n_heads, cfg.n_state
        check_divides("ncs_ssm.n_heads", h, d_model)
        self.n_heads, self.head_size = h, d_model // h
        self.score = nn.Linear(d_model, h, bias=False)
        self.x_proj = nn.Linear(d_model, 2 * h * n, bias=False)
        self.log_prior = nn.Parameter(torch.full((h,), float(cfg.init_prior)))
        self.D = nn.Parameter(torch.ones(d_model))
        if cfg.decay:
            self.decay_log = nn.Parameter(log_uniform_dt(h, cfg.dt_min, cfg.dt_max).log())
        if cfg.d_conv:
            self.conv = CausalConv1d(d_model, cfg.d_conv)
        if cfg.gate:
            self.gate_proj = nn.Linear(d_model, d_model, bias=False)

    def projections(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores s (b, L, h) and the selective B, C (b, L, h, n) of the unit's input u (b, L, d)."""
        h, n = self.n_heads, self.cfg.n_state
        B, C = self.x_proj(u).unflatten(-1, (2, h, n)).unbind(-3)
        return self.score(u), B, C

    def steps(self, s: torch.Tensor) -> torch.Tensor:
        """Δ_t = −log a_t ≥ 0 per head, s (b, L, h) -> (b, L, h): softplus(s_t − ℓ_{t−1}), or with decay
        softplus(s_t − ℓ_{t−1} − log λ) (then a_t = λ·exp(ℓ_{t−1} − ℓ_t)).

        Log space throughout (``torch.logcumsumexp``), in at least float32. With decay the recursion is unrolled
        as ℓ_t = −t·ρ + logcumsumexp_j(s_j + j·ρ) with ρ = −log λ (j = 0 is ℓ₀); the two terms grow like t·ρ and
        cancel, so that path runs in float64, exact to ~1e-16·L·ρ (~1e-8 for L = 65 536, ρ = 1000).
        """
        b, L, h = s.shape
        dtype = torch.float64 if self.cfg.decay else torch.promote_types(s.dtype, torch.float32)
        s = s.to(dtype)
        scores = torch.cat([self.log_prior.to(dtype).expand(b, 1, h), s], dim=1)  # (b, 1 + L, h): ℓ₀, s_1 … s_L
        if not self.cfg.decay:
            log_mass = torch.logcumsumexp(scores, dim=1)[:, :-1]  # ℓ_0 … ℓ_{L−1}
            return F.softplus(s - log_mass)
        rho = torch.exp(self.decay_log.to(dtype))  # (h,)
        ramp = torch.arange(L + 1, device=s.device, dtype=dtype)[:, None] * rho  # (1 + L, h): j·ρ
        shifted = torch.logcumsumexp(scores + ramp, dim=1)[:, :-1]  # ℓ_{t−1} + (t−1)·ρ for t = 1 … L
        return F.softplus(s - shifted + ramp[1:])  # s_t − ℓ_{t−1} + ρ

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        u = F.silu(self.conv(x)) if self.cfg.d_conv else x
        z = self.gate_proj(x) if self.cfg.gate else None
        return self.recurrence(u, z)[0]

    def recurrence(
        self, u: torch.Tensor, z: torch.Tensor | None = None, return_last_state: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The NCS recurrence on the unit's input u (b, L, d), gated by z (b, L, d) if given, through the scan.

        Returns y (b, L, d) and, with ``return_last_state``, the state h_L (b, d, n) (for stability checks).
        """
        s, B, C = self.projections(u)
        real = torch.float64 if u.dtype == torch.float64 else torch.float32  # a dt dtype the scan accepts
        dt = self.steps(s).to(real).repeat_interleave(self.head_size, dim=-1)  # (b, L, d): a head's Δ per channel
        A = u.new_full((1, 1), -1.0).expand(self.d_model, self.cfg.n_state)
        return selective_scan(  # under autocast B, C, z come out in half precision: the scan takes u's dtype
            u,
            dt,
            A,
            B.to(u.dtype),
            C.to(u.dtype),
            D=self.D,
            z=None if z is None else z.to(u.dtype),
            dt_softplus=False,
            discretization="zoh",
            backend=self.cfg.scan_backend,
            return_last_state=return_last_state,
        )

    def optim_hints(self):
        """As S6's: the Δ-setting parameters (score weights, ℓ₀, λ) at the Δ lr scale; no weight decay on ℓ₀, λ
        and D."""
        dt = {"lr_scale": self.cfg.dt_lr_scale, "lr_max": self.cfg.dt_lr_max}
        scalars = [self.log_prior] + ([self.decay_log] if self.cfg.decay else [])
        return [([self.score.weight], dt), (scalars, {**dt, "weight_decay": 0.0}), ([self.D], {"weight_decay": 0.0})]
