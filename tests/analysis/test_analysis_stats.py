"""analysis.aggregate against statistics computed by hand on the constructed store."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from analysis_fixtures import CELLS

import analysis
from analysis.stats import NOTE_NO_RUNS, NOTE_ONE_SEED, bootstrap_mean_ci

AXES = ["mixer.bias", "mixer.n_blocks"]


def exact_bootstrap_quantiles(values, level=0.95):
    """Quantiles of the mean over all k**k equally likely resamples (the limit of infinitely many draws)."""
    means = sorted(statistics.fmean(draw) for draw in itertools.product(values, repeat=len(values)))
    tail = (1 - level) / 2
    return np.quantile(means, tail), np.quantile(means, 1 - tail), means


@pytest.fixture
def cells(toy_store):
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    return analysis.aggregate(runs, by=AXES).set_index(AXES)


@pytest.mark.parametrize("key", list(CELLS), ids=lambda k: f"bias{k[0]}-h{k[1]}")
def test_mean_std_count_rates(cells, key):
    runs = CELLS[key]
    ok = [acc for _, status, acc in runs if status == "ok"]
    row = cells.loc[key]
    assert row["count"] == len(ok)
    assert row["n_runs"] == len(runs)
    assert row["mean"] == pytest.approx(statistics.fmean(ok))
    if len(ok) > 1:
        assert row["std"] == pytest.approx(statistics.stdev(ok))
    else:
        assert np.isnan(row["std"])
    assert row["failure_rate"] == pytest.approx(sum(s == "failed" for _, s, _ in runs) / len(runs))
    assert row["divergence_rate"] == pytest.approx(sum(s == "diverged" for _, s, _ in runs) / len(runs))


@pytest.mark.parametrize("key", [k for k, runs in CELLS.items() if sum(s == "ok" for _, s, _ in runs) > 1])
def test_interval_matches_exact_bootstrap(cells, key):
    ok = [acc for _, status, acc in CELLS[key] if status == "ok"]
    low, high, means = exact_bootstrap_quantiles(ok)
    step = max(np.diff(sorted(set(means))))  # resampling error: at most one atom of the discrete distribution
    row = cells.loc[key]
    assert abs(row["ci_low"] - low) <= step and abs(row["ci_high"] - high) <= step
    assert min(ok) <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= max(ok)
    assert row["ci_note"] == ""


def test_one_seed_gets_no_interval_and_says_so(cells):
    row = cells.loc[(False, 1)]
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    assert row["ci_note"] == NOTE_ONE_SEED


def test_cell_without_successful_runs(toy_store):
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    runs.loc[runs["mixer.n_blocks"] == 1, "status"] = "failed"
    cells = analysis.aggregate(runs, by=["mixer.n_blocks"]).set_index("mixer.n_blocks")
    assert cells.loc[1, "count"] == 0 and cells.loc[1, "ci_note"] == NOTE_NO_RUNS
    assert cells.loc[1, "failure_rate"] == 1.0 and np.isnan(cells.loc[1, "mean"])


def test_bootstrap_is_seeded_and_converges():
    rng = np.random.default_rng(123)
    samples = rng.normal(size=(3, 5))
    first = bootstrap_mean_ci(samples, rng=np.random.default_rng(7))
    again = bootstrap_mean_ci(samples, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    for row, (low, high) in zip(samples, first, strict=True):
        exact_low, exact_high, _ = exact_bootstrap_quantiles(row)
        assert low == pytest.approx(exact_low, abs=0.05) and high == pytest.approx(exact_high, abs=0.05)


def test_default_metric_and_bad_column(toy_store):
    with pytest.warns(UserWarning):
        runs = analysis.load(toy_store)
    assert analysis.aggregate(runs, by=["mixer.bias"]).attrs["metric"] == "test/acc"
    with pytest.raises(KeyError, match="mixer.n_blockz"):
        analysis.aggregate(runs, by=["mixer.n_blockz"])
