"""Mixer variants load from configs/mixer and really differ; bad configurations raise the documented errors."""

import pytest
import torch

import zoo
from zoo import ConfigError

D = 16


def test_every_config_file_names_a_registered_mixer_with_valid_fields():
    names = zoo.list_mixer_configs()
    assert {"s4d", "s6", "mamba", "b2s6", "attention", "b2s6_nobias", "b2s6_real", "b2s6_h1"} <= set(names)
    for name in names:
        mixer, overrides = zoo.load_mixer_config(name)
        zoo.make_config(mixer, **overrides)  # raises on an unknown field


@pytest.mark.parametrize(
    "variant, expected",
    [("b2s6_nobias", {"bias": False}), ("b2s6_real", {"complex": False}), ("b2s6_h1", {"n_blocks": 1})],
)
def test_variant_files_switch_one_field(variant, expected):
    assert zoo.load_mixer_config(variant) == ("b2s6", expected)


def _build(name, overrides, **extra):
    return zoo.build_mixer(name, D, **overrides(name, **extra))


def test_nobias_has_no_B_bias_parameter(overrides):
    assert "B_bias" in dict(_build("b2s6", overrides).named_parameters())
    assert "B_bias" not in dict(_build("b2s6_nobias", overrides).named_parameters())


def test_real_has_a_real_A_and_real_parameters(overrides):
    default, real = _build("b2s6", overrides), _build("b2s6_real", overrides)
    assert default.transition().is_complex() and not real.transition().is_complex()
    assert real.B_weight.shape == default.B_weight.shape[:-1]  # no (…, 2) real view of a complex tensor
    assert "A_imag" not in dict(real.named_parameters())


def test_h1_has_one_block_and_the_default_has_several(overrides):
    h1 = zoo.build_mixer("b2s6_h1", D)  # the file's n_blocks must win over nothing else
    assert h1.n_blocks == 1 and h1.dt_weight.shape == (1, D)
    assert zoo.build_mixer("b2s6", D).n_blocks == 8


def test_variants_compute_different_functions(overrides):
    x = torch.randn(2, 6, D)
    outputs = {}
    for name in ("b2s6", "b2s6_nobias", "b2s6_real", "b2s6_h1"):
        torch.manual_seed(0)
        outputs[name] = _build(name, overrides)(x)
    for name in ("b2s6_nobias", "b2s6_real", "b2s6_h1"):
        assert not torch.allclose(outputs[name], outputs["b2s6"], atol=1e-4), name


def test_shared_A_is_an_expanded_view(overrides):
    A = _build("b2s6", overrides).transition()
    assert A.shape == (D, 4) and A.stride(0) == 0


def test_explicit_overrides_win_over_the_variant_file(overrides):
    assert _build("b2s6_h1", overrides, n_blocks=4).n_blocks == 4


def test_load_mixer_config_reads_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: s6\nn_state: 8\n")
    assert zoo.load_mixer_config(str(path)) == ("s6", {"n_state": 8})
    path.write_text("n_state: 8\n")
    with pytest.raises(ConfigError, match="name: <registered mixer>"):
        zoo.load_mixer_config(str(path))


def test_unknown_mixer_names_the_closest_mixers_and_variants():
    with pytest.raises(ConfigError, match="Unknown mixer 'b2s6_nobia'.*Did you mean 'b2s6_nobias'"):
        zoo.build_mixer("b2s6_nobia", D)
    with pytest.raises(ConfigError, match="Unknown mixer 'mamb'.*'mamba'"):
        zoo.get_mixer("mamb")
    with pytest.raises(ConfigError, match="No mixer config 'b2s6_rel'.*'b2s6_real'"):
        zoo.load_mixer_config("b2s6_rel")


def test_unknown_field_lists_the_valid_fields():
    with pytest.raises(ConfigError, match="no config field 'n_block'.*Did you mean 'n_blocks'.*Valid: .*bias.*complex"):
        zoo.build_mixer("b2s6", D, n_block=4)


def test_n_blocks_must_divide_d_model():
    with pytest.raises(ConfigError, match=r"b2s6.n_blocks = 5 does not divide d_model = 16.*\[1, 2, 4, 8, 16\]"):
        zoo.build_mixer("b2s6", D, n_blocks=5)


@pytest.mark.parametrize(
    "name, field, value, match",
    [
        ("b2s6", "discretization", "bilinear", "b2s6.discretization = 'bilinear'.*zoh"),
        ("s6", "scan_backend", "cuda", "s6.scan_backend = 'cuda'.*reference"),
        ("s4d", "output", "gated", "s4d.output = 'gated'.*glu"),
        ("attention", "positions", "alibi", "attention.positions = 'alibi'.*rotary"),
        ("attention", "n_heads", 3, r"attention.n_heads = 3 does not divide d_model = 16"),
        ("mamba", "dt_rank", 0, "dt_rank = 0"),
    ],
)
def test_bad_values_name_the_field(name, field, value, match):
    with pytest.raises(ConfigError, match=match):
        zoo.build_mixer(name, D, **{field: value})


def test_learned_positions_reject_sequences_longer_than_max_len():
    mixer = zoo.build_mixer("attention", D, positions="learned", max_len=4)
    assert mixer(torch.randn(1, 4, D)).shape == (1, 4, D)
    with pytest.raises(ValueError, match="max_len = 4"):
        mixer(torch.randn(1, 5, D))
