"""The task registry, config validation, the data root and the missing-dataset error."""

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

import ablations.tasks as tasks
from ablations.tasks import IGNORE_INDEX, DatasetMissing, Task, build_task, get_task, list_tasks, register_task
from zoo.registry import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "task"


def test_shipped_tasks_are_registered():
    assert {"digits", "forgetting"} <= set(list_tasks())
    assert get_task("digits").name == "digits"


def test_unknown_task_names_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'digits'"):
        get_task("digit")


def test_unknown_config_field_names_the_valid_ones():
    with pytest.raises(ConfigError, match="no config field 'sigma'.*sigma1"):
        build_task("forgetting", sigma=2.0)


def test_build_task_applies_overrides_and_data_root(tmp_path):
    task = build_task("forgetting", data_root=tmp_path, seq_len=7, seed=3)
    assert (task.cfg.seq_len, task.cfg.seed, task.seq_len) == (7, 3, 7)
    assert task.data_root == tmp_path.resolve()


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path))
    assert tasks.data_root() == tmp_path.resolve()
    monkeypatch.delenv("SEQZOO_DATA")
    monkeypatch.chdir(tmp_path)
    assert tasks.data_root() == (tmp_path / "data").resolve()


def test_dataset_missing_names_path_files_and_remedy(tmp_path):
    err = DatasetMissing("smnist", tmp_path / "mnist", ["train-images-idx3-ubyte"], "run the generator")
    assert isinstance(err, FileNotFoundError)
    text = str(err)
    assert str(tmp_path / "mnist") in text and "train-images-idx3-ubyte" in text and "run the generator" in text


def test_register_task_rejects_bad_classes():
    with pytest.raises(TypeError, match="not a subclass"):
        register_task("bad")(object)

    class NoConfig(Task):
        pass

    with pytest.raises(TypeError, match="Config"):
        register_task("bad")(NoConfig)
    with pytest.raises(ValueError, match="taken"):

        @register_task("digits")
        class Other(Task):
            @dataclass
            class Config:
                x: int = 0


def test_every_config_field_has_a_default_and_seeded_tasks_expose_seed():
    for name in list_tasks():
        cls = get_task(name)
        for field in dataclasses.fields(cls.Config):
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            assert has_default, f"{name}.{field.name} has no default"
        assert isinstance(cls.metric, str) and isinstance(cls.higher_is_better, bool)


def test_every_shipped_task_has_a_config_file_matching_its_schema():
    files = {p.stem: p for p in CONFIG_DIR.glob("*.yaml")}
    assert set(list_tasks()) <= set(files), f"missing configs/task files: {set(list_tasks()) - set(files)}"
    for stem, path in files.items():
        raw = OmegaConf.to_container(OmegaConf.load(path))
        name = raw.pop("name")
        assert name in list_tasks(), f"{path.name}: unknown task {name!r}"
        assert stem not in list_tasks() or stem == name, f"{path.name} configures {name!r}"
        schema = OmegaConf.structured(get_task(name).Config)
        OmegaConf.merge(schema, raw)  # unknown keys or wrong types raise
        build_task(name, **raw)


def test_import_is_light():
    code = "import sys, ablations.tasks; print(sorted(m for m in ('sklearn', 'PIL', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _Classes(Task):
    """A stand-in whose output declaration is only what the default loss and metrics read."""

    Config = None
    input = seq_len = None
    output = SimpleNamespace(kind="classes")

    def datasets(self):
        raise NotImplementedError


def test_default_class_metrics_skip_ignored_positions():
    task = _Classes(None, Path("."))
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]])  # (batch 1, L 3, classes 2)
    target = torch.tensor([[0, 0, IGNORE_INDEX]])
    metrics = task.batch_metrics(logits, target)
    assert metrics["accuracy"] == (1.0, 2)
    loss_sum, count = metrics["loss"]
    assert count == 2
    assert loss_sum / count == pytest.approx(float(task.loss(logits, target)), rel=1e-6)


def test_readme_example_registers_a_working_task():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("<!-- section: tasks -->") : readme.index("<!-- end section: tasks -->")]
    code = section.split("```python\n")[1].split("```")[0]
    check = (
        "\nt = __import__('ablations.tasks').tasks.build_task('my_task')\nprint(t.input.kind, t.output.dim, t.seq_len)"
    )
    out = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["real", "10", "64"]
