"""B2S6 equals Algorithm 2 of the paper written out with plain loops (float64): the check that the mixer passes
the right arguments to the scan (blocks, per-block selection, shared A, channel-specific bias, discretisation)."""

import pytest
import torch
import torch.nn.functional as F

import zoo


def algorithm2(mixer, u: torch.Tensor) -> torch.Tensor:
    """The B2S6 unit for u (batch, length, d), channel by channel and step by step, as the paper writes it."""
    cfg, h, p = mixer.cfg, mixer.n_blocks, mixer.block_size
    batch, L, d = u.shape
    n = cfg.n_state
    A = -torch.exp(mixer.A_log)
    B_weight = mixer.B_weight
    B_bias = mixer.B_bias if cfg.bias else torch.zeros(d, n, dtype=u.dtype)
    if cfg.complex:
        A = torch.complex(A, mixer.A_imag)
        B_weight = torch.complex(B_weight[..., 0], B_weight[..., 1])
        if cfg.bias:
            B_bias = torch.complex(B_bias[..., 0], B_bias[..., 1])
    y = torch.zeros_like(u)
    for s in range(batch):
        for j in range(h):  # block j: channels j·p … j·p + p − 1
            for i in range(p):
                c = j * p + i
                x = torch.zeros(n, dtype=A.dtype)
                for k in range(L):
                    u_block = u[s, k, j * p : (j + 1) * p]  # ʲu_k (p,)
                    delta = F.softplus(mixer.dt_weight[j] @ u_block + mixer.dt_bias[c])
                    A_bar = torch.exp(delta * A)
                    B_k = u_block.to(B_weight.dtype) @ B_weight[j] + B_bias[c]  # (n,)
                    B_bar = (A_bar - 1) / A * B_k if cfg.discretization == "zoh" else delta * B_k
                    x = A_bar * x + B_bar * u[s, k, c]
                    C_k = u_block @ mixer.C_weight[j]  # (n,), shared by the block
                    out = (C_k * x).sum()
                    y[s, k, c] = (2 * out.real if cfg.complex else out) + mixer.D[c] * u[s, k, c]
    return y


@pytest.mark.parametrize("discretization", ["zoh", "euler"])
@pytest.mark.parametrize("complex_", [True, False], ids=["complex", "real"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("n_blocks", [1, 2, 6], ids=lambda h: f"h{h}")
def test_b2s6_unit_matches_algorithm_2(overrides, n_blocks, bias, complex_, discretization):
    mixer = zoo.build_mixer(
        "b2s6",
        6,
        **overrides("b2s6", n_blocks=n_blocks, n_state=3, bias=bias, complex=complex_, discretization=discretization),
    ).double()
    with torch.no_grad():  # random values everywhere, so a wrong index cannot hide behind a constant init
        for p in mixer.parameters():
            p.copy_(torch.randn_like(p))
        mixer.A_log.clamp_(-1.0, 1.0)
    u = torch.randn(2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(mixer.unit(u), algorithm2(mixer, u), rtol=1e-10, atol=1e-12)
