"""param_groups honours every mixer's optim_hints: checked parameter by parameter, by identity."""

import pytest
import torch

import zoo
from zoo import InputSpec, ModelConfig, OutputSpec, SequenceModel

LR, WD = 1e-2, 0.1


def _model(name, overrides, **model):
    config = ModelConfig(d_model=16, n_layers=2, mlp="glu", **model)
    return SequenceModel(name, overrides(name), config, InputSpec("tokens", 10), OutputSpec("classes", 3))


def settings(model, lr=LR):
    """id(param) -> (lr, weight decay) as the optimiser will see them; every parameter exactly once."""
    found = {}
    for group in zoo.param_groups(model, lr=lr, weight_decay=WD):
        for p in group["params"]:
            assert id(p) not in found, "a parameter is in two groups"
            found[id(p)] = (group["lr"], group["weight_decay"])
    assert len(found) == len(list(model.parameters()))
    return found


def _mixers(model):
    return [m for m in model.modules() if isinstance(m, zoo.Mixer)]


@pytest.mark.parametrize("variant", ["b2s6", "b2s6_nobias", "b2s6_real"])
def test_b2s6_no_decay_on_A_D_B_bias_and_scaled_dt_lr(overrides, variant):
    model = _model(variant, overrides)
    found = settings(model)
    for mixer in _mixers(model):
        no_decay = [mixer.A_log, mixer.D] + [getattr(mixer, n) for n in ("A_imag", "B_bias") if hasattr(mixer, n)]
        for p in no_decay:
            assert found[id(p)] == (LR, 0.0)
        for p in (mixer.dt_weight, mixer.dt_bias):
            assert found[id(p)] == (pytest.approx(LR * 0.1), 0.0)  # 0.1 × lr = 1e-3, at the cap
        for p in (mixer.B_weight, mixer.C_weight, mixer.output[0].weight):
            assert found[id(p)] == (LR, WD)
    assert found[id(model.encoder.weight)] == (LR, WD)
    assert found[id(model.norm.weight)] == (LR, 0.0)  # 1-D: no decay by the default rule
    assert found[id(model.head.bias)] == (LR, 0.0)


def test_dt_lr_is_capped_at_dt_lr_max(overrides):
    model = _model("b2s6", overrides)
    mixer = _mixers(model)[0]
    assert settings(model, lr=0.1)[id(mixer.dt_bias)][0] == pytest.approx(1e-3)
    assert settings(model, lr=1e-3)[id(mixer.dt_bias)][0] == pytest.approx(1e-4)


@pytest.mark.parametrize("name", ["s6", "mamba"])
def test_s6_core_no_decay_on_A_D_dt_bias(overrides, name):
    model = _model(name, overrides)
    found = settings(model)
    for mixer in _mixers(model):
        core = mixer.core
        for p in (core.A_log, core.D, core.dt_bias):
            assert found[id(p)] == (LR, 0.0)
        for p in (core.dt_down.weight, core.dt_up.weight, core.x_proj.weight):
            assert found[id(p)] == (LR, WD)


def test_s6_dt_lr_scale_reaches_the_dt_projection(overrides):
    model = SequenceModel(
        "s6",
        overrides("s6", dt_lr_scale=0.5),
        ModelConfig(d_model=16),
        InputSpec("tokens", 10),
        OutputSpec("classes", 3),
    )
    core = _mixers(model)[0].core
    found = settings(model)
    assert found[id(core.dt_down.weight)] == (pytest.approx(LR * 0.5), WD)
    assert found[id(core.dt_bias)] == (pytest.approx(LR * 0.5), 0.0)
    assert found[id(core.x_proj.weight)] == (LR, WD)


def test_s4d_kernel_parameters_capped_without_decay(overrides):
    model = _model("s4d", overrides)
    found = settings(model)
    for mixer in _mixers(model):
        for p in (mixer.log_dt, mixer.A_log, mixer.A_imag, mixer.B):
            assert found[id(p)] == (pytest.approx(1e-3), 0.0)
        for p in (mixer.C, mixer.D):
            assert found[id(p)] == (LR, 0.0)


def test_bidirectional_blocks_hint_both_directions(overrides):
    model = _model("b2s6", overrides, bidirectional=True)
    found = settings(model)
    assert len(_mixers(model)) == 4
    for mixer in _mixers(model):
        assert found[id(mixer.B_bias)] == (LR, 0.0)


def test_groups_work_with_adamw(overrides):
    model = _model("b2s6", overrides)
    optimiser = torch.optim.AdamW(zoo.param_groups(model, lr=LR, weight_decay=WD))
    model(torch.randint(0, 10, (2, 5))).sum().backward()
    optimiser.step()
    assert {g["weight_decay"] for g in optimiser.param_groups} == {0.0, WD}


def test_conflicting_hints_raise():
    class Twice(zoo.Mixer):
        Config = dict

        def __init__(self):
            super().__init__(2, None)
            self.w = torch.nn.Parameter(torch.ones(2))

        def forward(self, x):
            return x * self.w

        def optim_hints(self):
            return [([self.w], {"lr_scale": 0.1}), ([self.w], {"lr_scale": 0.5})]

    with pytest.raises(ValueError, match="twice"):
        zoo.param_groups(Twice(), lr=LR, weight_decay=WD)
