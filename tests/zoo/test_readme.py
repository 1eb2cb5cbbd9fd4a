"""A mixer from outside seqzoo registers and trains through the same SequenceModel; the README's examples run.

The README's code blocks are extracted and run as they are written, so the documented example cannot drift.
"""

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import zoo
from zoo import InputSpec, ModelConfig, OutputSpec, SequenceModel, registry

README = Path(__file__).resolve().parents[2] / "README.md"
TOKENS, PER_POSITION = InputSpec("tokens", 8), OutputSpec("classes", 8, per_position=True)


def readme_blocks(section: str, language: str = "python") -> list[str]:
    """The ``language`` code blocks of the README section ``section``, in order."""
    text = README.read_text()
    match = re.search(f"<!-- section: {section} -->(.*?)<!-- end section: {section} -->", text, re.S)
    assert match, f"README.md has no section {section!r}"
    return re.findall(f"```{language}\n(.*?)```", match.group(1), re.S)


@pytest.fixture
def isolated_registry(monkeypatch):
    """Mixers registered inside the test disappear afterwards, so other tests' list_mixers() never see them."""
    monkeypatch.setattr(registry._MIXERS, "classes", dict(registry._MIXERS.classes))


def test_mixer_defined_in_a_test_file_registers_and_trains(isolated_registry, previous_token_losses):
    @zoo.register_mixer("shift_by_one")
    class ShiftByOne(zoo.Mixer):
        """y[t] = W x[t - 1]: enough to predict the previous token."""

        @dataclass
        class Config:
            scale: float = 1.0

        def __init__(self, d_model, cfg):
            super().__init__(d_model, cfg)
            self.proj = torch.nn.Linear(d_model, d_model)

        def forward(self, x):
            shifted = torch.nn.functional.pad(x, (0, 0, 1, 0))[:, :-1]
            return self.cfg.scale * self.proj(shifted)

    assert "shift_by_one" in zoo.list_mixers()
    model = SequenceModel(
        "shift_by_one",
        {"scale": 0.5},
        ModelConfig(d_model=16, n_layers=1),
        InputSpec("tokens", 8),
        OutputSpec("classes", 8, True),
    )
    assert model.mixer_config == ShiftByOne.Config(scale=0.5)
    losses = previous_token_losses(model, steps=60)
    assert losses[-1] < 0.3 * losses[0]
    with pytest.raises(ConfigError := zoo.ConfigError, match="no config field 'scal'.*'scale'"):
        zoo.build_mixer("shift_by_one", 16, scal=2.0)
    assert issubclass(ConfigError, ValueError)


def test_readme_plugin_example_imports_registers_and_trains(
    isolated_registry, tmp_path, monkeypatch, capsys, previous_token_losses
):
    module_code, usage_code = readme_blocks("adding-a-mixer")
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "my_mixers.py").write_text(module_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        exec(compile(usage_code, "README.md (adding-a-mixer)", "exec"), {})
        assert "torch.Size([2, 5])" in capsys.readouterr().out
        assert "causal_conv" in zoo.list_mixers()

        variant = tmp_path / "causal_conv_wide.yaml"
        variant.write_text("name: causal_conv\nkernel_size: 3\n")
        model = SequenceModel(
            str(variant),
            {},
            ModelConfig(d_model=16, n_layers=1),
            InputSpec("tokens", 8),
            OutputSpec("classes", 8, True),
        )
        assert model.mixer_config.kernel_size == 3
        hinted = {id(p) for g in zoo.param_groups(model, 1e-2, 0.1) if g["weight_decay"] == 0 for p in g["params"]}
        assert id(model.blocks[0].mixer.conv.weight) in hinted
        losses = previous_token_losses(model, steps=60)
        assert losses[-1] < 0.3 * losses[0]
    finally:
        for name in [m for m in sys.modules if m == "my_pkg" or m.startswith("my_pkg.")]:
            del sys.modules[name]


def test_readme_mixers_example_runs(capsys):
    (code,) = readme_blocks("mixers")
    exec(compile(code, "README.md (mixers)", "exec"), {})
    count, shape = capsys.readouterr().out.split(maxsplit=1)
    assert int(count) > 0 and shape.strip() == "torch.Size([4, 10])"


def test_readme_mixer_table_lists_the_shipped_mixers_and_variants():
    section = README.read_text().split("<!-- section: mixers -->")[1].split("<!-- end section: mixers -->")[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", section, re.M)
    shipped = {"s4d", "s6", "mamba", "b2s6", "b2s6_nobias", "b2s6_real", "b2s6_h1", "attention"}
    assert shipped <= {config for config, _ in rows}
    for config, mixer in rows:
        assert zoo.load_mixer_config(config)[0] == mixer
