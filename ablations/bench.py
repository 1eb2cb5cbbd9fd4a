"""``python -m ablations.bench``: how fast the runner trains, and how much of a cell's time is not the model.

After a warm-up cell that pays a process's one-time costs, for a small model (a cell of the default
``bias_x_blocks`` grid, as it runs there) and a medium one (``model=medium``: 4 layers, d = 128), it trains
one cell through the real path — composition, validation, ``ablations.train.run`` into a temporary store —
and reads the trainer's per-phase timing back from ``result.json``. Printed as JSON:

- ``steps_per_s``: training steps per second of model time (forward, backward, optimiser step);
- ``outside_model_share``: data batching + logging + checkpointing as a share of the cell's wall time;
- ``runner_overhead_share``: everything that is neither model compute, evaluation nor the task's data and
  model set-up — composing and validating the cell, data batching, logging, checkpoints, the result file — as
  a share of the cell's wall time as the launcher sees it. The runner's target is under 2 % at the default
  grid size.

Options: ``--device cpu|cuda`` (default: CUDA if visible), ``--threads N`` (torch CPU threads, default 1: what
each worker of the local launcher uses on a CPU with as many workers as cores), ``--sizes small,medium``,
``--out FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES: dict[str, list[str]] = {
    "warmup": ["train=smoke"],  # pays the one-time costs of a process (lazy imports, first kernels); not reported
    "small": [],  # the default grid's base, unchanged
    "medium": ["model=medium", "model.n_layers=4", "mixer.n_state=16", "train.epochs=2"]
    + ["train.max_steps_per_epoch=10"],
}
"""Command-line overrides of one ``bias_x_blocks`` cell per size."""


def bench_size(size: str, device: str, root: Path) -> dict[str, Any]:
    """Train one cell of size ``size`` on ``device`` into ``root``; its throughput and time shares."""
    from ablations.config import split_overrides
    from ablations.grid import expand, load_grid
    from ablations.train import run

    spec = load_grid("bias_x_blocks")
    spec["axes"], spec["seeds"] = {"mixer.n_blocks": [8]}, [0]
    overrides = split_overrides([*SIZES[size], f"train.device={device}", "train.progress=false"])
    tick = time.perf_counter()
    (cell,) = expand(spec, overrides, root=str(root))
    compose_s = time.perf_counter() - tick
    tick = time.perf_counter()
    result = run(cell.config, cell.path)
    run_s = time.perf_counter() - tick
    if result["status"] != "ok":
        raise RuntimeError(f"bench cell {size} ended {result['status']}: {result.get('error')}")
    timing = result["timing_s"]
    wall = compose_s + run_s
    outside = timing.get("data", 0.0) + timing.get("log", 0.0) + timing.get("checkpoint", 0.0)
    model_and_eval = timing.get("step", 0.0) + timing.get("eval", 0.0)
    return {
        "model": cell.config["model"],
        "mixer": cell.config["mixer"]["name"],
        "n_params": result["n_params"],
        "steps": result["steps"],
        "batch": cell.config["train"]["batch_size"],
        "seq_len": cell.config["task"]["seq_len"],
        "scan_backend": result["scan_backend"],
        "steps_per_s": round(result["steps"] / timing["step"], 2),
        "tokens_per_s": result["tokens_per_s"],
        "cell_wall_s": round(wall, 3),
        "timing_s": timing | {"compose_and_validate": round(compose_s, 4)},
        "outside_model_share": round(outside / wall, 4),
        "runner_overhead_share": round((wall - model_and_eval - timing.get("setup", 0.0)) / wall, 4),
        "setup_share": round(timing.get("setup", 0.0) / wall, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablations.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if visible)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as a CPU worker)")
    parser.add_argument("--sizes", default="small,medium", help="comma-separated: small, medium")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    report: dict[str, Any] = {"device": device, "torch_threads": torch.get_num_threads(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="seqzoo-bench-") as root:
        for size in args.sizes.split(","):
            if size not in SIZES or size == "warmup":
                parser.error(f"--sizes: unknown size {size!r}; valid: {', '.join(SIZES)}")
            bench_size("warmup", device, Path(root))
            report["sizes"][size] = bench_size(size, device, Path(root))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
