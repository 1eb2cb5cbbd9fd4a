"""analysis.load / load_curves on the constructed store: rows, columns, skipped directories, no torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from analysis_fixtures import CELLS, EPOCHS

import analysis


def test_load_one_row_per_finished_run(toy_store):
    with pytest.warns(UserWarning, match="skipped 3 run directories"):
        runs = analysis.load(toy_store)
    assert len(runs) == sum(len(seeds) for seeds in CELLS.values())
    assert runs.attrs["axes"] == ["mixer.bias", "mixer.n_blocks"]
    for column in (
        "mixer.n_blocks",
        "train.lr",
        "seed",
        "grid.name",
        "status",
        "test/acc",
        "wall_time_s",
        "n_params",
        "tokens_per_s",
        "scan_backend",
        "versions.torch",
        "path",
    ):
        assert column in runs.columns, column
    assert "grid.axes.mixer.bias" not in runs.columns
    counts = runs["status"].value_counts().to_dict()
    assert counts == {"ok": 9, "failed": 2, "diverged": 1}
    cell = runs[(runs["mixer.bias"]) & (runs["mixer.n_blocks"] == 1)].sort_values("seed")
    assert cell["test/acc"].tolist() == [acc for _, _, acc in CELLS[(True, 1)]]


def test_load_reports_partial_and_corrupt_directories(toy_store):
    with pytest.warns(UserWarning) as caught:
        runs = analysis.load(toy_store)
    reasons = dict(runs.attrs["skipped"])
    assert len(reasons) == 3
    text = " ".join(reasons.values())
    assert "no result.json yet" in text and "result.json is unreadable" in text and "config.yaml is unreadable" in text
    assert all(path in str(caught[0].message) for path in reasons)


def test_load_missing_path_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs/<grid>"):
        analysis.load(tmp_path / "nope")


def test_load_curves_long_format(toy_store):
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    curves = analysis.load_curves(toy_store, runs)
    acc = curves[curves["metric"] == "val/acc"]
    assert len(acc) == len(runs) * EPOCHS
    assert {"run_id", "seed", "mixer.bias", "mixer.n_blocks", "epoch", "step", "value"} <= set(curves.columns)
    one = runs.iloc[0]
    last = acc[acc["run_id"] == one["run_id"]].sort_values("step")["value"].iloc[-1]
    assert last == pytest.approx(one["test/acc"] if one["status"] == "ok" else 0.5)


def test_load_curves_skips_torn_lines(toy_store, tmp_path):
    toy_store = shutil.copytree(toy_store, tmp_path / "toy")
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    path = runs["path"].iloc[0]
    with open(f"{path}/metrics.jsonl", "a") as f:
        f.write('{"epoch": 9, "step": 9')
    curves = analysis.load_curves(toy_store, runs)
    assert len(curves.attrs["problems"]) == 1
    assert 9 not in curves["epoch"].tolist()


def test_loading_aggregating_and_reporting_never_import_torch(toy_store):
    code = (
        "import sys, warnings, analysis; warnings.simplefilter('ignore');"
        f"runs = analysis.load({str(toy_store)!r}); analysis.load_curves({str(toy_store)!r}, runs);"
        "analysis.aggregate(runs, ['mixer.bias'], n_boot=100); import analysis.report;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'zoo', 'omegaconf')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().replace("'", '"')) == []
