"""Statistics over seeds: mean, standard deviation, bootstrap 95 % interval and failure rates per cell.

Only runs with status ``ok`` and a finite metric enter the mean, std and interval; failed, diverged and
cancelled runs are counted in the rates, never averaged as zeros. A cell with one successful seed gets no
interval (``ci_note`` says so) rather than a zero-width one that would look like certainty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

N_BOOT = 10_000
"""Bootstrap resamples per cell."""

NOTE_ONE_SEED = "one seed: no interval"
NOTE_NO_RUNS = "no successful run"


def main_metric(runs: pd.DataFrame) -> str:
    """The store's headline metric column: ``test/<metric>`` from the runs' ``metric`` field (e.g. ``test/acc``).

    Falls back to ``val/<metric>`` when no test value was recorded; raises ``KeyError`` naming the numeric
    columns when the runs name no metric that exists.
    """
    names = runs["metric"].dropna().unique() if "metric" in runs.columns else []
    for name in names:
        for candidate in (name, f"test/{name}", f"val/{name}"):
            if "/" in candidate and candidate in runs.columns and runs[candidate].notna().any():
                return candidate
    numeric = [c for c in runs.columns if "/" in c and pd.api.types.is_numeric_dtype(runs[c])]
    raise KeyError(f"No main metric found (runs name {list(names)}); pass metric= one of {numeric}.")


def bootstrap_mean_ci(
    samples: np.ndarray, n_boot: int = N_BOOT, level: float = 0.95, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Percentile-bootstrap interval of the mean for many cells of equal size at once.

    ``samples`` is (cells, k) with k ≥ 2; returns (cells, 2) lower and upper bounds. One (cells, block, k) index
    draw per block of resamples (blocks keep the index array near 4 M entries however large k is).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    cells, k = samples.shape
    block = max(1, min(n_boot, 4_000_000 // (cells * k)))
    means = np.empty((cells, n_boot))
    for start in range(0, n_boot, block):
        stop = min(start + block, n_boot)
        index = rng.integers(0, k, size=(cells, stop - start, k))
        means[:, start:stop] = samples[np.arange(cells)[:, None, None], index].mean(axis=2)
    tail = (1.0 - level) / 2.0
    return np.quantile(means, [tail, 1.0 - tail], axis=1).T


def aggregate(
    runs: pd.DataFrame,
    by: Sequence[str],
    metric: str | None = None,
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per cell of ``by``: mean, std (ddof 1), count, bootstrap interval over seeds, failure and divergence rates.

    Args:
        runs: :func:`analysis.load`'s frame (needs ``status`` and the ``metric`` column).
        by: config columns that define a cell, e.g. ``["mixer.bias", "mixer.n_blocks"]``.
        metric: column to summarise; default :func:`main_metric` (``test/<the store's metric>``).
        n_boot, level, seed: resamples, interval level and the seed of the bootstrap (results are repeatable).

    Returns one row per cell with ``by`` as columns and ``mean``, ``std``, ``count`` (successful seeds),
    ``n_runs``, ``n_failed``, ``n_diverged``, ``n_cancelled``, ``failure_rate``, ``divergence_rate``,
    ``ci_low``, ``ci_high``, ``ci_note`` (empty, or why a cell has no interval); ``attrs["metric"]`` names it.
    """
    by = list(by)
    metric = metric or main_metric(runs)
    missing = [c for c in [*by, metric, "status"] if c not in runs.columns]
    if missing:
        raise KeyError(f"aggregate: no column(s) {missing}; available: {sorted(runs.columns)}.")
    frame = runs[[*by, "status", metric]].copy()
    values = pd.to_numeric(frame[metric], errors="coerce")
    frame["_ok"] = (frame["status"] == "ok") & np.isfinite(values)
    frame["_value"] = values.where(frame["_ok"])
    grouped = frame.groupby(by, dropna=False, sort=True)
    cells = grouped.agg(
        mean=("_value", "mean"),
        std=("_value", "std"),
        count=("_ok", "sum"),
        n_runs=("status", "size"),
        n_failed=("status", lambda s: int((s == "failed").sum())),
        n_diverged=("status", lambda s: int((s == "diverged").sum())),
        n_cancelled=("status", lambda s: int((s == "cancelled").sum())),
    ).reset_index()
    cells["count"] = cells["count"].astype(int)
    cells["failure_rate"] = cells["n_failed"] / cells["n_runs"]
    cells["divergence_rate"] = cells["n_diverged"] / cells["n_runs"]
    cells["ci_low"], cells["ci_high"] = np.nan, np.nan
    cells["ci_note"] = ""
    cells.loc[cells["count"] == 1, "ci_note"] = NOTE_ONE_SEED
    cells.loc[cells["count"] == 0, "ci_note"] = NOTE_NO_RUNS

    samples = [g["_value"].dropna().to_numpy(float) for _, g in grouped]
    rng = np.random.default_rng(seed)
    sizes = np.array([len(s) for s in samples])
    for k in sorted(set(sizes[sizes >= 2])):  # cells of equal size share one vectorised draw
        where = np.flatnonzero(sizes == k)
        bounds = bootstrap_mean_ci(np.stack([samples[i] for i in where]), n_boot, level, rng)
        cells.loc[where, "ci_low"] = bounds[:, 0]
        cells.loc[where, "ci_high"] = bounds[:, 1]
    cells.attrs["metric"] = metric
    cells.attrs["level"] = level
    return cells
