"""The report on the constructed store, the figures it chooses, and the shipped paper table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import config_for, write_run

import analysis
from analysis import plots
from analysis.reference import paper_table
from analysis.report import main

PAPER_NOTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "papers" / "b2s6.md"


@pytest.fixture(scope="module")
def report_dir(toy_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    with pytest.warns(UserWarning, match="skipped 3"):
        assert main([str(toy_store), "--out", str(out)]) == 0
    return out


def test_report_writes_figures_summary_and_markdown(report_dir):
    for name in ("heatmap", "pointplot", "curves", "paper_comparison"):
        for ext in ("png", "svg"):
            path = report_dir / f"{name}.{ext}"
            assert path.stat().st_size > 1000, path
        assert (report_dir / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (report_dir / "report.md").read_text()
    embedded = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert sorted(embedded) == sorted(f"{n}.png" for n in ("heatmap", "pointplot", "curves", "paper_comparison"))
    assert "3 directories skipped" in text and "1 diverged" in text and "2 failed" in text


def test_summary_csv_is_the_aggregate(report_dir, toy_store):
    summary = pd.read_csv(report_dir / "summary.csv")
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    cells = analysis.aggregate(runs, ["mixer.bias", "mixer.n_blocks"])
    merged = summary.merge(cells, on=["mixer.bias", "mixer.n_blocks"], suffixes=("", "_direct"))
    assert len(merged) == len(cells) == 4
    for column in ("mean", "count", "failure_rate", "ci_low"):
        pd.testing.assert_series_equal(merged[column], merged[f"{column}_direct"], check_names=False)


def test_mixer_by_task_grid_gets_the_table_plot(tmp_path):
    root = tmp_path / "runs"
    for mixer, task, acc in [("s4d", "a", 0.9), ("s6", "a", 0.7), ("s4d", "b", 0.6), ("s6", "b", 0.8)]:
        for seed in (0, 1):
            config = config_for("mixers", True, 1, seed, mixer=mixer, task=task)
            config["grid"]["axes"] = {"mixer.name": mixer, "task.name": task}
            write_run(root, config, "ok", acc + 0.01 * seed)
    out = tmp_path / "report"
    main([str(root / "mixers"), "--out", str(out)])
    assert (out / "table.png").exists() and (out / "curves.png").exists()
    assert not (out / "heatmap.png").exists() and not (out / "pointplot.png").exists()
    assert "| s4d | 0.905 ± 0.007" in (out / "report.md").read_text()


def test_labels_and_colours_are_stable():
    assert plots.label("mixer.n_blocks") == "blocks h [mixer.n_blocks]"
    assert plots.label("test/acc") == "test accuracy"
    assert plots.label("train.foo") == "train.foo"
    assert plots.mixer_colour("s6") == plots.palette(["b2s6", "s6"], "mixer.name")["s6"]
    assert plots.mixer_colour("my_mixer") == plots.mixer_colour("my_mixer")
    assert plots.palette(["attention", "s4d"], "variant") == {m: plots.mixer_colour(m) for m in ("attention", "s4d")}
    ordered = plots.palette(["b2s6", "b2s6_nobias"], "mixer")  # variants: distinct colours in order
    assert len(set(ordered.values())) == 2


def test_report_refuses_a_missing_directory(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope")])
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.skipif(not PAPER_NOTES.exists(), reason="the paper notes are not next to this checkout")
def test_shipped_scifar_table_matches_the_paper_notes():
    rows = re.findall(r"^\| (\d+) \| (\d+) \| ([^|]+)\| ([^|]+)\| ([^|]+)\|$", PAPER_NOTES.read_text(), re.M)
    parsed = []
    for h, p, *columns in rows:
        for (bias, complex_), cell in zip([(True, True), (False, True), (True, False)], columns, strict=True):
            mean, std = re.findall(r"[\d.]+", cell)
            parsed.append((int(h), int(p), bias, complex_, float(mean), float(std)))
    table = paper_table("b2s6_scifar")
    assert len(parsed) == len(table) == 24
    assert sorted(parsed) == sorted(map(tuple, table.itertuples(index=False)))


def test_bench_store_loads_and_reports_timings(tmp_path):
    from analysis import bench

    assert bench.main(["--runs", "40", "--out", str(tmp_path / "bench.json")]) == 0
    timings = json.loads((tmp_path / "bench.json").read_text())
    assert timings["rows"] == timings["records"] == 40
    assert timings["curve_rows"] > 40 * bench.EVALUATIONS  # several metrics per evaluation
    assert timings["cells"] == 20
    assert all(timings[k] >= 0 for k in ("load_s", "load_curves_s", "aggregate_s"))


def test_axis_over_mixer_variants_gets_heatmap_and_paper_comparison(tmp_path):
    """The shipped bias_x_blocks grid's shape: an axis over group choices (b2s6 variants) × mixer.n_blocks."""
    root = tmp_path / "runs"
    variants = {"b2s6": (True, True), "b2s6_nobias": (False, True), "b2s6_real": (True, False)}
    for choice, (bias, complex_) in variants.items():
        for h in (1, 4):
            for seed in (0, 1):
                config = config_for("bxb", bias, h, seed)
                config["mixer"]["complex"] = complex_
                config["grid"]["axes"] = {"mixer": choice, "mixer.n_blocks": h}
                write_run(root, config, "ok", 0.5 + 0.1 * bias + 0.2 * complex_ + 0.01 * seed)
    out = tmp_path / "report"
    main([str(root / "bxb"), "--out", str(out)])
    for name in ("heatmap", "pointplot", "curves", "paper_comparison"):
        assert (out / f"{name}.png").exists(), name
    summary = pd.read_csv(out / "summary.csv").set_index(["mixer", "mixer.n_blocks"])
    assert summary.loc[("b2s6_real", 4), "mean"] == pytest.approx(0.605)


def test_a_numeric_axis_is_drawn_along_x_even_with_more_mixers(tmp_path):
    """The lrd grid's shape: variants named after mixers × task.seq_len; accuracy against L, one line per mixer."""
    root = tmp_path / "runs"
    mixers = ["s4d", "s6", "attention", "ncs_ssm"]  # more levels than the length axis
    for rank, mixer in enumerate(mixers):
        for length in (64, 256, 1024):
            config = config_for("lrd", True, 1, 0, mixer=mixer, task="long_memory")
            config["task"] = {"name": "long_memory", "seq_len": length}
            config["grid"].update(variant=mixer, axes={"task.seq_len": length})
            write_run(root, config, "ok", 1.0 - 0.1 * rank * length / 1024)
    out = tmp_path / "report"
    main([str(root / "lrd"), "--out", str(out)])
    text = (out / "report.md").read_text()
    assert "test accuracy against task.seq_len" in text
    assert "| variant | 64 | 256 | 1024 |" in text  # heatmap and point-plot tables: a row per mixer, L across
    assert "| task.seq_len | variant | mean |" in text  # learning curves: a panel per L, never averaged over L
    summary = pd.read_csv(out / "summary.csv").set_index(["variant", "task.seq_len"])
    assert summary.loc[("ncs_ssm", 1024), "mean"] == pytest.approx(0.7)
