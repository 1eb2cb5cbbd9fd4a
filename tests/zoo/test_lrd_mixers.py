"""ncs_ssm and legs_ssm, the mixers of the long-range-dependency paper (shared/papers/long_range_dependency.md).

The registry contract (shape, causality, training, gradients) runs over every mixer in ``test_mixers.py``; here:
each recurrence against a direct float64 step loop written out below (not through the scan), the bounded state
under N(0, I) inputs (scaled by 1 and 100) up to T = 65 536, and the long-range
dependency ‖∂y_t/∂x_s‖ against the lag: flat for ncs_ssm and legs_ssm, exponential for S6, judged on fitted slopes.

The LRD comes from the ``lrd`` probe of ``analysis.probes`` (it imports zoo, as probes may).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo import ConfigError, InputSpec, ModelConfig, OutputSpec, SequenceModel

F64 = torch.float64
UNIT = {"activation": "identity", "output": "none"}  # the bare unit: the object the paper's claims are about


def ncs_step_loop(mixer, x: torch.Tensor) -> torch.Tensor:
    """ncs_ssm's unit written out step by step (module docstring of zoo/mixers/ncs_ssm.py): x (b, L, d) -> y.

    ℓ_t = logaddexp(ℓ_{t−1} + log λ, s_t), a_t = exp(ℓ_{t−1} + log λ − ℓ_t), h_t = a_t·h_{t−1} + (1 − a_t)·B_t u_t,
    y_t = C_t·h_t + D·u_t (· silu(z_t) with the gate); log λ = 0 without decay.
    """
    cfg = mixer.cfg
    u = F.silu(mixer.conv(x)) if cfg.d_conv else x
    s, B, C = mixer.projections(u)  # (b, L, h), (b, L, h, n) x2
    b, L, d = u.shape
    h, n = cfg.n_heads, cfg.n_state
    log_lam = -torch.exp(mixer.decay_log) if cfg.decay else torch.zeros(h, dtype=x.dtype)
    ell = mixer.log_prior.expand(b, h)
    state = torch.zeros(b, h, d // h, n, dtype=x.dtype)
    ys = []
    for t in range(L):
        new = torch.logaddexp(ell + log_lam, s[:, t])
        a = torch.exp(ell + log_lam - new)[..., None, None]  # (b, h, 1, 1)
        u_t = u[:, t].view(b, h, d // h, 1)  # head j holds channels j·p … j·p + p − 1
        state = a * state + (1 - a) * B[:, t, :, None, :] * u_t
        ys.append((state * C[:, t, :, None, :]).sum(-1).reshape(b, d) + mixer.D * u[:, t])
        ell = new
    y = torch.stack(ys, 1)
    return y * F.silu(mixer.gate_proj(x)) if cfg.gate else y


@pytest.mark.parametrize("scale", [1.0, 100.0], ids=["x1", "x100"])
@pytest.mark.parametrize(
    "switches",
    [
        pytest.param({"n_heads": 1}, id="h1"),
        pytest.param({"n_heads": 3}, id="h3"),
        pytest.param({"n_heads": 6, "decay": True}, id="h6-decay"),
        pytest.param({"n_heads": 3, "decay": True, "d_conv": 3, "gate": True}, id="h3-decay-conv-gate"),
    ],
)
def test_ncs_matches_step_loop_in_float64(overrides, switches, scale):
    """Outputs and every parameter's gradient, through the scan, equal the step loop's (d = 6, n = 3, L = 37)."""
    mixer = zoo.build_mixer("ncs_ssm", 6, **overrides("ncs_ssm", n_state=3, **UNIT, **switches)).double()
    with torch.no_grad():
        mixer.log_prior.normal_()  # away from the initial 0, so a wrong use of ℓ₀ shows
    x = scale * torch.randn(2, 37, 6, dtype=F64)
    y, expected = mixer(x), ncs_step_loop(mixer, x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, expected, rtol=1e-9, atol=1e-9 * scale)
    upstream = torch.randn_like(y)
    params = [p for p in mixer.parameters()]
    grads = torch.autograd.grad((y * upstream).sum(), params)
    expected_grads = torch.autograd.grad((expected * upstream).sum(), params)
    for (name, _), g, e in zip(mixer.named_parameters(), grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-7, atol=1e-9 * scale, msg=lambda m, name=name: f"{name}: {m}")


def test_legs_matches_closed_form(overrides):
    """h_t = (1/√t)·Σ_{s≤t} B u_s, so y_t = (1/√t)·Σ_s (Σ_k C_k B_k)·u_s + D·u_t per channel (float64, n = 3)."""
    mixer = zoo.build_mixer("legs_ssm", 5, **overrides("legs_ssm", n_state=3, **UNIT)).double()
    with torch.no_grad():
        mixer.B.normal_()
    x = torch.randn(2, 300, 5, dtype=F64)
    t = torch.arange(1, 301, dtype=F64)[:, None]
    expected = x.cumsum(1) * (mixer.C * mixer.B).sum(-1) / t.sqrt() + mixer.D * x
    torch.testing.assert_close(mixer(x), expected, rtol=1e-9, atol=1e-10)


def _state_norms(T: int, scale: float, decay: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """‖h_T‖ (draws,) of a seeded ncs_ssm (d = 4, h = 2, n = 2, float32, fast backend) on scale·N(0, I) input,
    and whether h_T lies inside its convex bound |h_T[c, k]| ≤ max_t |B_t[g(c), k]·u_t[c]| (draws,)."""
    torch.manual_seed(0)
    mixer = zoo.build_mixer("ncs_ssm", 4, n_heads=2, n_state=2, decay=decay, scan_backend="auto", **UNIT)
    x = scale * torch.randn(4, T, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, state = mixer.recurrence(x, return_last_state=True)  # (draws, d, n)
        _, B, _ = mixer.projections(x)
        bound = (B.repeat_interleave(2, dim=2) * x[..., None]).abs().amax(1)  # (draws, d, n)
    inside = (state.abs() <= bound * (1 + 1e-5) + 1e-6).flatten(1).all(1)
    return state.flatten(1).norm(dim=1), inside


def _check_bounded(T: int, scale: float, decay: bool) -> None:
    norm, inside = _state_norms(T, scale, decay)
    short, _ = _state_norms(64, scale, decay)
    print(f"T = {T}, scale {scale:g}, decay {decay}: mean ‖h_T‖ {norm.mean():.4g} (T = 64: {short.mean():.4g})")
    assert torch.isfinite(norm).all() and inside.all(), f"T = {T}: ‖h_T‖ = {norm.tolist()} outside the convex bound"
    # does not grow: after 64 steps and after T steps the state has the same size (up to the slow growth of the
    # largest selected input, √(2 log T)); a scan that accumulated instead of averaging would grow like √T.
    assert norm.mean() <= 2 * short.mean(), f"‖h_T‖ grew from {short.mean():.3g} (T = 64) to {norm.mean():.3g}"


@pytest.mark.parametrize("T", [8192, 65536])
@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "decay"])
@pytest.mark.parametrize("scale", [1.0, 100.0], ids=["x1", "x100"])
def test_ncs_state_bounded(T, scale, decay):
    """Under scale·N(0, I) input the state stays inside its convex bound and does not grow (float32, ~0.4 s at
    T = 65 536 on the chunked torch backend, so both lengths run by default)."""
    _check_bounded(T, scale, decay)


@pytest.mark.parametrize("seed", [0, 1])
def test_lrd_flat_for_ncs_and_legs_exponential_for_s6(tmp_path, seed):
    """The ``lrd`` probe's fitted e-folding lengths over L = 256 lags (bare units, d = 8, n = 4, 4 draws):
    S6 decays within L/2 (≈ 80–90 steps), ncs_ssm's stays beyond 2·L (its weights follow the scores, not the lag),
    legs_ssm's is exactly flat; decay=True with λ = e^(−1/32) makes ncs_ssm decay with e-folding length ≈ 32."""
    import matplotlib.pyplot as plt

    from analysis import probes

    decay = tmp_path / "ncs_decay.yaml"
    decay.write_text("name: ncs_ssm\ndecay: true\ndt_min: 0.03125\ndt_max: 0.03125\n")  # −log λ = 1/32
    L = 256
    frame, figure = probes.lrd(
        ("s6", "ncs_ssm", "legs_ssm", str(decay)), d_model=8, length=L, draws=4, seed=seed, n_state=4
    )
    plt.close(figure)
    fit = frame.attrs["fit"].set_index("mixer")
    efold = fit["efold"].to_dict()
    print(f"seed {seed}, e-folding lengths (steps):", efold)
    assert (fit["site"] == "unit").all()
    assert efold["s6"] < L / 2
    assert efold["ncs_ssm"] > 2 * L
    assert 16 < efold[str(decay)] < 64
    legs = frame[(frame["mixer"] == "legs_ssm") & (frame["lag"] >= 1)]["lrd"].to_numpy()
    np.testing.assert_allclose(legs, legs[0], rtol=1e-10)  # exactly flat: every input weighs 1/√t


@pytest.mark.parametrize(
    "name, fields, match",
    [
        ("ncs_ssm", {"discretization": "euler"}, "convex combination.*'zoh'"),
        ("ncs_ssm", {"n_heads": 3}, "n_heads = 3 does not divide d_model = 8"),
        ("ncs_ssm", {"d_conv": -1}, "d_conv = -1"),
        ("ncs_ssm", {"init_prior": math.inf}, "must be finite"),
        ("legs_ssm", {"n_state": 0}, "n_state = 0"),
        ("legs_ssm", {"scan_backend": "cuda"}, "scan_backend = 'cuda'"),
    ],
)
def test_bad_config_raises(name, fields, match):
    with pytest.raises(ConfigError, match=match):
        zoo.build_mixer(name, 8, **fields)


def test_ncs_optim_hints():
    """The Δ-setting parameters (score, ℓ₀, λ) take the Δ lr scale; ℓ₀, λ and D get no weight decay."""
    model = SequenceModel(
        "ncs_ssm",
        {"decay": True, "dt_lr_scale": 0.5, "n_heads": 2},
        ModelConfig(d_model=8, n_layers=1),
        InputSpec("tokens", 5),
        OutputSpec("classes", 3),
    )
    mixer = next(m for m in model.modules() if isinstance(m, zoo.Mixer))
    found = {
        id(p): (g["lr"], g["weight_decay"])
        for g in zoo.param_groups(model, lr=1e-2, weight_decay=0.1)
        for p in g["params"]
    }
    assert found[id(mixer.score.weight)] == (pytest.approx(5e-3), 0.1)
    assert found[id(mixer.log_prior)] == found[id(mixer.decay_log)] == (pytest.approx(5e-3), 0.0)
    assert found[id(mixer.D)] == (1e-2, 0.0)
    assert found[id(mixer.x_proj.weight)] == (1e-2, 0.1)


@pytest.mark.parametrize(
    "name, extra",
    [("ncs_ssm", {}), ("ncs_ssm", {"decay": True, "d_conv": 4, "gate": True}), ("legs_ssm", {})],
    ids=["ncs", "ncs-decay-conv-gate", "legs"],
)
def test_runs_under_bfloat16_autocast(overrides, name, extra):
    """bf16 projections meet a float32 residual stream: still one scan, close to the float32 output."""
    model = SequenceModel(
        name,
        overrides(name, **extra),
        ModelConfig(d_model=8, n_layers=1),
        InputSpec("tokens", 8),
        OutputSpec("classes", 8, True),
    )
    x = torch.randint(0, 8, (2, 12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    y.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    torch.testing.assert_close(y.float(), model(x), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("grid,lengths", [("lrd", (128, 256, 512, 1024)), ("lrd_long", (256, 1024, 4096))])
def test_lrd_grid_expands_to_every_mixer_and_length(grid, lengths):
    """``grid=lrd`` (CPU) and ``grid=lrd_long`` (GPU): the same six mixers at state size 16 (legs_ssm: 1) on
    long_memory over their lengths L, every cell buildable (``expand`` builds each model once)."""
    from ablations.grid import expand, load_grid

    cells = expand(load_grid(grid), [])
    found = {(c.config["mixer"]["name"], c.config["task"]["seq_len"]) for c in cells}
    mixers = {"s6", "s4d", "b2s6", "attention", "ncs_ssm", "legs_ssm"}
    assert len(cells) == 6 * len(lengths) and found == {(m, L) for m in mixers for L in lengths}
    assert all(c.config["task"]["name"] == "long_memory" and c.config["task"]["position"] == 0 for c in cells)
    states = {c.config["mixer"]["name"]: c.config["mixer"].get("n_state") for c in cells}
    assert states == {"s6": 16, "s4d": 16, "b2s6": 16, "attention": None, "ncs_ssm": 16, "legs_ssm": 1}
