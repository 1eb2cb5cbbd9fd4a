"""Fixtures of the runner tests: a tiny, fast cell and a store under the test's own directory."""

import textwrap

import pytest

TINY = [
    "model=tiny",
    "train=smoke",
    "task=forgetting",
    "task.seq_len=8",
    "task.n_train=64",
    "task.n_val=16",
    "task.n_test=16",
    "mixer.n_state=2",
    "mixer.n_blocks=2",
    "launcher.workers=1",
]
"""Command-line overrides that make any cell train in well under a second."""


@pytest.fixture
def tiny():
    return list(TINY)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a fresh directory, so the default store ``runs/`` lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_grid(workdir):
    """Write a grid YAML into the work directory and return its path as the ``grid=`` value."""

    def write(text: str, name: str = "g") -> str:
        path = workdir / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write
