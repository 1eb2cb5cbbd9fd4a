"""Fixtures of the analysis tests: the constructed run store of :mod:`analysis_fixtures`."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_fixtures import CELLS, config_for, write_run

from ablations import store


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory) -> Path:
    """``<tmp>/runs/toy`` with the :data:`CELLS` runs plus one partial run and two corrupt directories.

    Built once per session: tests must not modify it (copy it first, as the torn-line test does)."""
    root = tmp_path_factory.mktemp("analysis") / "runs"
    for (bias, n_blocks), runs in CELLS.items():
        for seed, status, acc in runs:
            write_run(root, config_for("toy", bias, n_blocks, seed), status, acc)
    write_run(root, config_for("toy", True, 8, 0), None, None)  # in progress: config and curve, no result
    broken = write_run(root, config_for("toy", True, 8, 1), "ok", 0.9)
    (broken / store.RESULT_FILE).write_text('{"status": "ok", "metrics": {')  # torn result
    garbled = write_run(root, config_for("toy", True, 8, 2), "ok", 0.9)
    (garbled / store.CONFIG_FILE).write_text("mixer: [unclosed\n")
    return root / "toy"
