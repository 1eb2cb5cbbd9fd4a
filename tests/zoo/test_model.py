"""SequenceModel: every input and output kind, both poolings, padding, and the documented errors."""

import pytest
import torch

import zoo
from zoo import ConfigError, InputSpec, ModelConfig, OutputSpec, SequenceModel

B, L = 3, 10
TOKENS, CLASSES = InputSpec("tokens", 11), OutputSpec("classes", 4)


def _model(overrides, mixer="s4d", model=None, input=TOKENS, output=CLASSES):
    return SequenceModel(mixer, overrides(mixer), model or ModelConfig(d_model=8, n_layers=2), input, output)


def _input(spec):
    if spec.kind == "tokens":
        return torch.randint(0, spec.dim, (B, L))
    return torch.randn(B, L, spec.dim)


@pytest.mark.parametrize("input", [InputSpec("tokens", 11), InputSpec("real", 3)], ids=lambda s: s.kind)
@pytest.mark.parametrize(
    "output",
    [OutputSpec("classes", 4), OutputSpec("regression", 2), OutputSpec("classes", 5, per_position=True)],
    ids=["classes", "regression", "per-position"],
)
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_shapes_for_every_input_output_and_pooling(overrides, input, output, pooling):
    model = _model(overrides, model=ModelConfig(d_model=8, n_layers=1, pooling=pooling), input=input, output=output)
    y = model(_input(input))
    expected = (B, L, output.dim) if output.per_position else (B, output.dim)
    assert y.shape == expected
    assert torch.isfinite(y).all()
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("pooling", ["mean", "last"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
def test_padding_does_not_change_pooled_output(overrides, pooling, bidirectional):
    """Right-padded sequences with ``lengths`` pool to what the unpadded sequences give on their own."""
    model = _model(overrides, model=ModelConfig(d_model=8, n_layers=2, pooling=pooling, bidirectional=bidirectional))
    x = torch.randint(0, 11, (B, L))
    lengths = torch.tensor([L, 4, 7])
    padded = model(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i : i + 1, :n])
        torch.testing.assert_close(padded[i : i + 1], alone, rtol=1e-5, atol=1e-5)
    garbage = x.clone()
    garbage[1, 4:] = 0
    torch.testing.assert_close(model(garbage, lengths), padded, rtol=1e-5, atol=1e-5)


def test_per_position_model_is_causal(overrides):
    model = _model(overrides, output=OutputSpec("classes", 11, per_position=True))
    x = torch.randint(0, 11, (B, L))
    changed = x.clone()
    changed[:, 6] = (x[:, 6] + 1) % 11
    y, y2 = model(x), model(changed)
    torch.testing.assert_close(y[:, :6], y2[:, :6])
    assert not torch.allclose(y[:, 6:], y2[:, 6:])


@pytest.mark.parametrize(
    "field, value, valid",
    [("norm", "batchnorm", "layernorm"), ("mlp", "swiglu", "glu"), ("pooling", "max", "mean")],
)
def test_model_config_rejects_unknown_choices(field, value, valid):
    with pytest.raises(ConfigError, match=f"model.{field}.*{valid}"):
        ModelConfig(**{field: value})


def test_specs_reject_unknown_kinds():
    with pytest.raises(ConfigError, match="input.kind.*tokens"):
        InputSpec("images", 3)
    with pytest.raises(ConfigError, match="output.kind.*regression"):
        OutputSpec("regresion", 1)


def test_wrong_input_shape_names_the_expected_shape(overrides):
    model = _model(overrides, input=InputSpec("real", 3))
    with pytest.raises(ValueError, match=r"\(batch, length, 3\)"):
        model(torch.randn(B, L, 2))


def test_unknown_mixer_names_the_closest(overrides):
    with pytest.raises(ConfigError, match="Did you mean 's4d'"):
        SequenceModel("s4", {}, ModelConfig(), InputSpec("tokens", 5), OutputSpec("classes", 2))


def test_unknown_mixer_field_lists_the_valid_fields():
    with pytest.raises(ConfigError, match="no config field 'n_states'.*Did you mean 'n_state'.*Valid: .*dt_max"):
        SequenceModel("s4d", {"n_states": 4}, ModelConfig(), InputSpec("tokens", 5), OutputSpec("classes", 2))


def test_describe_records_the_resolved_mixer(overrides):
    model = _model(overrides)
    record = model.describe()
    assert record["mixer"] == "s4d" and record["mixer_config"]["n_state"] == 4
    assert record["num_parameters"] == model.num_parameters()
    assert zoo.list_mixers()
