"""The common block: every norm / MLP / pre-post-norm / bidirectional switch, with any mixer plugged in."""

import pytest
import torch

import zoo
from zoo import Block, ConfigError
from zoo.block import flip_within_lengths

D, L = 8, 9


def _block(overrides, mixer="s4d", **switches):
    return Block(D, lambda: zoo.build_mixer(mixer, D, **overrides(mixer)), **switches).double()


def _changes_before(block, t: int) -> float:
    """Largest change of the output before step t when the input changes at step t."""
    x = torch.randn(2, L, D, dtype=torch.float64)
    changed = x.clone()
    changed[:, t] += 1.0
    return (block(changed)[:, :t] - block(x)[:, :t]).abs().max().item()


@pytest.mark.parametrize("prenorm", [True, False], ids=["prenorm", "postnorm"])
@pytest.mark.parametrize("mlp", ["none", "mlp", "glu"])
@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_switches_keep_shape_and_causality(overrides, norm, mlp, prenorm):
    block = _block(overrides, norm=norm, mlp=mlp, prenorm=prenorm, dropout=0.1).eval()
    x = torch.randn(2, L, D, dtype=torch.float64)
    assert block(x).shape == x.shape
    assert _changes_before(block, 5) < 1e-12
    assert (block.mlp is None) == (mlp == "none")


@pytest.mark.parametrize("mixer", zoo.list_mixers())
def test_bidirectional_keeps_shape_and_sees_the_future(overrides, mixer):
    block = _block(overrides, mixer=mixer, bidirectional=True)
    x = torch.randn(2, L, D, dtype=torch.float64)
    assert block(x).shape == x.shape
    assert _changes_before(block, 5) > 1e-6
    forward, backward = block.mixer.forward_mixer, block.mixer.backward_mixer
    assert not any(p is q for p in forward.parameters() for q in backward.parameters())


def test_bidirectional_is_forward_plus_flipped_backward(overrides):
    block = _block(overrides, bidirectional=True)
    x = torch.randn(2, L, D, dtype=torch.float64)
    mixers = block.mixer
    expected = mixers.forward_mixer(x) + mixers.backward_mixer(x.flip(1)).flip(1)
    torch.testing.assert_close(mixers(x), expected)


def test_flip_within_lengths_reverses_valid_steps_and_keeps_padding():
    x = torch.arange(2 * 5, dtype=torch.float64).view(2, 5, 1)
    flipped = flip_within_lengths(x, torch.tensor([5, 3]))
    assert flipped[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert flipped[1, :, 0].tolist() == [7, 6, 5, 8, 9]
    torch.testing.assert_close(flip_within_lengths(flipped, torch.tensor([5, 3])), x)


def test_dropout_is_active_in_training_only(overrides):
    block = _block(overrides, dropout=0.5, mlp="mlp")
    x = torch.randn(2, L, D, dtype=torch.float64)
    assert not torch.equal(block(x), block(x))
    block.eval()
    assert torch.equal(block(x), block(x))


@pytest.mark.parametrize(
    "switch, match",
    [({"norm": "batchnorm"}, "norm = 'batchnorm'.*layernorm"), ({"mlp": "ffn"}, "mlp = 'ffn'.*glu")],
)
def test_bad_switches_raise(overrides, switch, match):
    with pytest.raises(ConfigError, match=match):
        _block(overrides, **switch)


def test_mixer_must_be_a_factory(overrides):
    with pytest.raises(TypeError, match="factory"):
        Block(D, zoo.build_mixer("s4d", D, **overrides("s4d")))
