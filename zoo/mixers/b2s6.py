"""B2S6, the block-biased S6 unit (Yu & Erichson, "Block-Biased Mamba for Long-Range Sequence Processing",
NeurIPS 2025), Algorithm 2: h blocks of p = d / h channels, each selecting its own Δ, B and C from its own
input slice, plus a channel-specific, input-independent bias on B, and one A shared by all channels.

For block j, channel i of the block, step k (scan contract: B, C are (b, L, h, n), B_bias is (d, n)):

    Δ = softplus(ʲwᵀ ʲu_k + ʲb⁽ⁱ⁾)        dt (b, L, d): the block's scalar broadcast to its p channels; dt_bias = b
    B = ʲB_weight ʲu_k + ʲB_bias⁽ⁱ⁾        B (b, L, h, n) from the block's slice; B_bias (d, n)
    C = ʲu_kᵀ ʲC                           C (b, L, h, n) real
    y = 2·Re(C·x) + D·u                   A (n,) shared, passed as an expanded (d, n) view

The ablation variants are configs (``configs/mixer/b2s6_nobias.yaml`` etc.), not classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.mixers.ssm import (
    SSMConfig,
    UnitMixer,
    UnitOutputConfig,
    as_complex,
    check_ssm_config,
    complex_param,
    inverse_softplus,
    log_uniform_dt,
    s4d_lin_imag,
    s4d_real,
    scan,
)
from zoo.registry import check_divides, register_mixer


def _uniform(*shape: int, bound: float) -> torch.Tensor:
    return torch.empty(*shape).uniform_(-bound, bound)


@register_mixer("b2s6")
class B2S6(UnitMixer):
    """The B2S6 unit inside S4D's layer (unit -> activation -> output layer, see ``UnitMixer``).

    Parameters (d = h·p): ``dt_weight`` (h, p) = w, ``dt_bias`` (d,) = b, ``A_log`` (n,) and, when complex,
    ``A_imag`` (n,) with A = −exp(A_log) + i·A_imag; ``B_weight`` (h, p, n) (complex: real view (h, p, n, 2));
    ``B_bias`` (d, n) (complex: (d, n, 2)) when ``bias``; ``C_weight`` (h, p, n) real; ``D`` (d,).
    """

    @dataclass
    class Config(SSMConfig, UnitOutputConfig):
        """B2S6's settings (shared fields documented on ``SSMConfig`` and ``UnitOutputConfig``).

        Stated by the paper: per-block selection, complex A/B_weight/B_bias, one A shared by all channels, ZOH
        in its maths, a reduced learning rate for the Δ parameters (w, b), h = 8 on LRA.
        Not stated, our defaults (shared/papers/b2s6.md): n_state = 64 (LRA-style; use 16 for LM),
        A init S4D-Lin A = −½ + iπm (real variant: S4D-Real A = −(m + 1), since S4D-Lin's real part is the same
        for every m), softplus(b) log-uniform in [dt_min, dt_max] = [1e-3, 1e-1], w ~ U(±0.1/√p) (small),
        B_weight and C ~ U(±1/√p) (PyTorch's Linear default for fan-in p; complex: each part /√2),
        B_bias = 1 (S4D's B), D = 1, output 2·Re(C·x), Δ learning rate = 0.1 × base lr, at most 1e-3,
        and no weight decay on A, D, B_bias and the Δ parameters.

        Attributes:
            n_blocks: h, the number of blocks; must divide d_model.
            bias: add the channel-specific, input-independent B_bias.
            complex: complex A, B_weight and B_bias (False: all real).
        """

        n_state: int = 64
        n_blocks: int = 8
        bias: bool = True
        complex: bool = True
        discretization: str = "zoh"
        dt_lr_scale: float = 0.1
        dt_lr_max: float | None = 1e-3

    def __init__(self, d_model: int, cfg: Config):
        super().__init__(d_model, cfg)
        check_ssm_config(self.name, cfg)
        h, n = cfg.n_blocks, cfg.n_state
        check_divides("b2s6.n_blocks", h, d_model)
        d, p = d_model, d_model // h
        self.n_blocks, self.block_size = h, p
        self.dt_weight = nn.Parameter(_uniform(h, p, bound=0.1 / p**0.5))
        self.dt_bias = nn.Parameter(inverse_softplus(log_uniform_dt(d, cfg.dt_min, cfg.dt_max)))
        self.C_weight = nn.Parameter(_uniform(h, p, n, bound=p**-0.5))
        self.D = nn.Parameter(torch.ones(d))
        if cfg.complex:
            self.A_log = nn.Parameter(torch.full((n,), 0.5).log())
            self.A_imag = nn.Parameter(s4d_lin_imag(n))
            bound = (2 * p) ** -0.5
            self.B_weight = complex_param(_uniform(h, p, n, bound=bound), _uniform(h, p, n, bound=bound))
        else:
            self.A_log = nn.Parameter(torch.log(-s4d_real(n)))
            self.B_weight = nn.Parameter(_uniform(h, p, n, bound=p**-0.5))
        if cfg.bias:
            ones = torch.ones(d, n)
            self.B_bias = complex_param(ones, torch.zeros(d, n)) if cfg.complex else nn.Parameter(ones)

    def transition(self) -> torch.Tensor:
        """A as the scan takes it: the shared (n,) entries as an expanded (d, n) view; complex when ``complex``."""
        A = -torch.exp(self.A_log)
        if self.cfg.complex:
            A = torch.complex(A, self.A_imag)
        return A.expand(self.d_model, -1)

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        b, L, d = x.shape
        blocks = x.view(b, L, self.n_blocks, self.block_size)  # (b, L, h, p): block j holds channels j·p ... j·p+p−1
        dt = torch.einsum("blhp,hp->blh", blocks, self.dt_weight).repeat_interleave(self.block_size, dim=-1)
        if self.cfg.complex:
            B = as_complex(torch.einsum("blhp,hpnc->blhnc", blocks, self.B_weight))
        else:
            B = torch.einsum("blhp,hpn->blhn", blocks, self.B_weight)
        C = torch.einsum("blhp,hpn->blhn", blocks, self.C_weight)
        B_bias = None
        if self.cfg.bias:
            B_bias = as_complex(self.B_bias) if self.cfg.complex else self.B_bias
        return scan(self.cfg, x, dt, self.transition(), B, C, B_bias=B_bias, D=self.D, dt_bias=self.dt_bias)

    def optim_hints(self):
        """The paper's reduced lr on the Δ parameters (w, b); no weight decay on them, A, D and B_bias."""
        dt = {"lr_scale": self.cfg.dt_lr_scale, "lr_max": self.cfg.dt_lr_max, "weight_decay": 0.0}
        no_decay = [self.A_log, self.D]
        if self.cfg.complex:
            no_decay.append(self.A_imag)
        if self.cfg.bias:
            no_decay.append(self.B_bias)
        return [([self.dt_weight, self.dt_bias], dt), (no_decay, {"weight_decay": 0.0})]
