"""The contract every registered mixer meets: builds, keeps shape, is causal, trains, counts its parameters.

A new mixer gets these tests for free: they are parametrised over ``zoo.list_mixers()``.
"""

import pytest
import torch

import zoo
from zoo import InputSpec, ModelConfig, OutputSpec, SequenceModel

D, L = 16, 10


def small_lm(name: str, overrides: dict) -> SequenceModel:
    """A one-layer per-position model over 8 tokens around mixer ``name``."""
    return SequenceModel(
        name, overrides, ModelConfig(d_model=D, n_layers=1), InputSpec("tokens", 8), OutputSpec("classes", 8, True)
    )


@pytest.mark.parametrize("name", zoo.list_mixers())
def test_builds_and_keeps_shape(name, overrides):
    mixer = zoo.build_mixer(name, D, **overrides(name))
    assert isinstance(mixer, zoo.Mixer) and mixer.name == name
    x = torch.randn(2, L, D)
    y = mixer(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("length", [1, 7])
@pytest.mark.parametrize("name", zoo.list_mixers())
def test_is_causal(name, length, overrides):
    """Changing x at step t leaves y before t exactly unchanged (float64) and changes y at t."""
    mixer = zoo.build_mixer(name, D, **overrides(name)).double()
    x = torch.randn(2, length, D, dtype=torch.float64)
    t = length // 2
    changed = x.clone()
    changed[:, t] += torch.randn(2, D, dtype=torch.float64)
    y, y_changed = mixer(x), mixer(changed)
    torch.testing.assert_close(y_changed[:, :t], y[:, :t], rtol=0, atol=1e-12)
    assert (y_changed[:, t] - y[:, t]).abs().max() > 1e-6


@pytest.mark.parametrize("name", zoo.list_mixers())
def test_trains_and_reports_parameters(name, overrides, previous_token_losses, record_property):
    model = small_lm(name, overrides(name))
    count = model.num_parameters()
    record_property("num_parameters", count)
    print(f"{name}: {count} parameters")
    assert count == sum(p.numel() for p in model.parameters()) > 0
    losses = previous_token_losses(model, steps=60)
    assert losses[-1] < 0.3 * losses[0], f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f} in 60 steps"


@pytest.mark.parametrize("name", zoo.list_mixers())
def test_gradients_reach_every_parameter(name, overrides):
    mixer = zoo.build_mixer(name, D, **overrides(name))
    mixer(torch.randn(2, L, D)).square().sum().backward()
    missing = [n for n, p in mixer.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no (finite) gradient for {missing}"


SHIPPED = ["attention", "b2s6", "mamba", "s4d", "s6"]  # mixers of zoo/mixers/ checked under autocast below


@pytest.mark.parametrize("name", SHIPPED)
def test_runs_under_bfloat16_autocast(name, overrides):
    """Under autocast the projections come out in bf16 while the residual stream stays float32: still one scan."""
    model = small_lm(name, overrides(name))
    x = torch.randint(0, 8, (2, L))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    y.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    torch.testing.assert_close(y.float(), model(x), rtol=0.05, atol=0.05)
