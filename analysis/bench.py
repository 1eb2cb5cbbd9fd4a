"""``python -m analysis.bench [--runs 10000] [--out bench.json]``: how fast a large run store loads.

Generates a synthetic store of ``--runs`` finished runs (a 5 × 4 grid over ``mixer.n_blocks`` × ``train.lr`` with
seeds, 12 evaluations each, 3 % failed and 2 % diverged) in a temporary directory, then times
:func:`analysis.load`, :func:`analysis.load_curves` and :func:`analysis.aggregate` and writes the timings as JSON.
The files have the runner's layout and format (``yaml.safe_dump`` config, JSON-lines metrics, indented
``result.json``) but are written without the runner's fsyncs, so generating 10 000 runs takes seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ablations import store

EVALUATIONS = 12


def write_synthetic_store(root: Path, n_runs: int, grid: str = "bench") -> Path:
    """``n_runs`` finished run directories under ``<root>/<grid>``; returns the grid directory."""
    import numpy as np

    rng = np.random.default_rng(0)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    blocks, lrs = (1, 2, 4, 8, 16), (1e-3, 3e-3, 1e-2, 3e-2)
    for i in range(n_runs):
        h, lr, seed = blocks[i % 5], lrs[i // 5 % 4], i // 20
        axes = {"mixer.n_blocks": h, "train.lr": lr}
        config = {
            "mixer": {
                "name": "b2s6",
                "n_state": 16,
                "n_blocks": h,
                "bias": True,
                "complex": True,
                "discretization": "zoh",
                "dt_min": 0.001,
                "dt_max": 0.1,
                "dt_lr_scale": 0.1,
            },
            "model": {"d_model": 32, "n_layers": 2, "norm": "rmsnorm", "mlp": "glu", "dropout": 0.0},
            "task": {"name": "digits", "batch_size": 64},
            "train": {"lr": lr, "epochs": EVALUATIONS, "weight_decay": 0.05, "warmup": 0.1, "clip": 1.0},
            "seed": seed,
            "plugins": [],
            "grid": {"name": grid, "variant": "default", "axes": axes},
        }
        directory = root / grid / f"{i:012x}"
        directory.mkdir(parents=True)
        (directory / store.CONFIG_FILE).write_text(yaml.dump(config, Dumper=dumper, sort_keys=False))
        acc = float(np.clip(0.8 + 0.01 * np.log2(h) + rng.normal(0, 0.02), 0, 1))
        lines = [
            json.dumps(
                {
                    "epoch": e,
                    "step": 50 * (e + 1),
                    "time_s": 2.0 * (e + 1),
                    "lr": lr,
                    "train/loss": 1 / (e + 1),
                    "val/loss": 1.1 / (e + 1),
                    "val/acc": acc * (e + 1) / EVALUATIONS,
                }
            )
            for e in range(EVALUATIONS)
        ]
        (directory / store.METRICS_FILE).write_text("\n".join(lines) + "\n")
        status = rng.choice(["ok", "failed", "diverged"], p=[0.95, 0.03, 0.02])
        result = {
            "run_id": directory.name,
            "grid": grid,
            "variant": "default",
            "axes": axes,
            "status": str(status),
            "metric": "acc",
            "higher_is_better": True,
            "metrics": {"val/acc": acc, "test/acc": acc, "test/loss": 0.3, "best_epoch": EVALUATIONS - 1}
            if status == "ok"
            else {},
            "wall_time_s": 30.0,
            "n_params": 12345,
            "tokens_per_s": 1e5,
            "steps": 50 * EVALUATIONS,
            "scan_backend": "torch",
            "device": "cpu",
            "versions": {"python": platform.python_version()},
            "git_rev": "0" * 40,
            "error": "synthetic failure" if status == "failed" else None,
            "diverged_step": 300 if status == "diverged" else None,
            "started_at": "t0",
            "finished_at": "t1",
        }
        (directory / store.RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return root / grid


def run(n_runs: int) -> dict:
    """Generate a store of ``n_runs`` runs in a temporary directory and time loading it; returns the timings."""
    import analysis

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        grid = write_synthetic_store(Path(tmp), n_runs)
        generate_s = time.perf_counter() - started

        started = time.perf_counter()
        records = sum(1 for _ in store.iter_runs(grid))
        iter_runs_s = time.perf_counter() - started

        started = time.perf_counter()
        runs = analysis.load(grid)
        load_s = time.perf_counter() - started

        started = time.perf_counter()
        curves = analysis.load_curves(grid, runs)
        curves_s = time.perf_counter() - started

        started = time.perf_counter()
        cells = analysis.aggregate(runs, ["mixer.n_blocks", "train.lr"])
        aggregate_s = time.perf_counter() - started
    return {
        "n_runs": n_runs,
        "rows": len(runs),
        "records": records,
        "curve_rows": len(curves),
        "cells": len(cells),
        "generate_s": round(generate_s, 3),
        "store_iter_runs_s": round(iter_runs_s, 3),
        "load_s": round(load_s, 3),
        "load_curves_s": round(curves_s, 3),
        "aggregate_s": round(aggregate_s, 3),
        "yaml_libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "torch_imported": "torch" in sys.modules,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="number of runs in the synthetic store")
    parser.add_argument("--out", help="write the JSON here as well as to stdout")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be positive")
    text = json.dumps(run(args.runs), indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
