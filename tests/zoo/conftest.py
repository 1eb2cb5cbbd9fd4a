"""Shared settings of the zoo tests: the scan backend the SSM mixers use, small overrides per mixer."""

import pytest
import torch

import zoo

# The SSM mixers' scan backend in these tests: what users get (the chunked torch path on CPU).
SCAN_BACKEND = "auto"


def small_overrides(name: str, **extra) -> dict:
    """Overrides that keep mixer ``name`` small and on the test scan backend (a variant's own fields stay)."""
    mixer, variant = zoo.variants.resolve_mixer(name)
    fields = zoo.config_fields(mixer)
    small = {"scan_backend": SCAN_BACKEND, "n_state": 4, "n_blocks": 2, "n_heads": 2}
    return {key: value for key, value in small.items() if key in fields and key not in variant} | extra


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: one intra-op thread is faster, and far faster on a shared, oversubscribed CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def overrides():
    """``overrides(name, **extra)`` -> small overrides for mixer ``name``."""
    return small_overrides


def _previous_token_losses(model: zoo.SequenceModel, steps: int, lr: float = 2e-2) -> list[float]:
    """Train ``model`` to predict the previous token on a tiny fixed batch; the loss at every step.

    The targets are uniformly random tokens one step back, so only the mixer can carry the information: without
    it, the loss cannot fall far below ln(vocabulary). AdamW runs over ``zoo.param_groups``, as the trainer does.
    """
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, model.input_spec.dim, (8, 10), generator=generator)
    targets = torch.full_like(x, -100)
    targets[:, 1:] = x[:, :-1]
    optimiser = torch.optim.AdamW(zoo.param_groups(model, lr=lr, weight_decay=0.01))
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), targets.flatten(), ignore_index=-100)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


@pytest.fixture
def previous_token_losses():
    """``previous_token_losses(model, steps)`` -> the training losses (see ``_previous_token_losses``)."""
    return _previous_token_losses
