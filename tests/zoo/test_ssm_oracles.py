"""S4D and S6 against independent float64 formulations: S4D as a convolution with its Vandermonde kernel (as the
S4D paper computes it), S6 as mamba_ssm's ``selective_scan_ref`` step loop. Checks the arguments each mixer passes
to the scan (step, A, B, C, D, gate, discretisation), not the scan itself."""

import torch
import torch.nn.functional as F

import zoo


def _randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


def test_s4d_equals_its_convolution_kernel(overrides):
    mixer = zoo.build_mixer("s4d", 5, **overrides("s4d", n_state=3)).double()
    _randomise(mixer)
    u = torch.randn(2, 9, 5, dtype=torch.float64)
    L = u.shape[1]
    dt = torch.exp(mixer.log_dt)[:, None]  # (d, 1)
    A = torch.complex(-torch.exp(mixer.A_log), mixer.A_imag)  # (d, n)
    B, C = torch.view_as_complex(mixer.B), torch.view_as_complex(mixer.C)
    B_bar = (torch.exp(dt * A) - 1) / A * B  # zero-order hold
    powers = torch.exp(dt[..., None] * A[..., None] * torch.arange(L, dtype=torch.float64))  # (d, n, L)
    kernel = 2 * torch.einsum("dn,dnl->dl", C * B_bar, powers).real  # K[c, k] = 2 Re Σ C B̄ Ā^k
    y = torch.stack([sum(kernel[:, k] * u[:, t - k] for k in range(t + 1)) for t in range(L)], dim=1)
    y = y + mixer.D * u
    torch.testing.assert_close(mixer.unit(u), y, rtol=1e-10, atol=1e-12)


def test_s6_core_equals_mamba_reference_loop(overrides):
    mixer = zoo.build_mixer("mamba", 4, **overrides("mamba", n_state=3, dt_rank=2)).double()
    _randomise(mixer)
    core = mixer.core
    u = torch.randn(2, 7, 8, dtype=torch.float64)  # the core runs at the inner width 2 · 4
    z = torch.randn_like(u)
    delta = F.softplus(core.dt_up(core.dt_down(u)) + core.dt_bias)  # (b, L, d)
    B, C = core.x_proj(u).chunk(2, dim=-1)  # (b, L, n), shared by all channels
    A = -torch.exp(core.A_log)  # (d, n)
    x = torch.zeros(2, 8, 3, dtype=torch.float64)
    ys = []
    for t in range(u.shape[1]):  # mamba_ssm's selective_scan_ref
        x = torch.exp(delta[:, t, :, None] * A) * x + delta[:, t, :, None] * B[:, t, None, :] * u[:, t, :, None]
        ys.append((x * C[:, t, None, :]).sum(-1))
    y = (torch.stack(ys, dim=1) + core.D * u) * F.silu(z)
    torch.testing.assert_close(core(u, z), y, rtol=1e-10, atol=1e-12)
