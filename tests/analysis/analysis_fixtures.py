"""A small constructed run store, written with the store's own writers, whose statistics are computed by hand."""

from __future__ import annotations

from pathlib import Path

from ablations import store

# (bias, n_blocks) -> list of (seed, status, test accuracy or None). Chosen so every aggregate case appears:
# three seeds, two seeds plus a divergence, one seed plus two failures, and ties.
CELLS = {
    (True, 1): [(0, "ok", 0.80), (1, "ok", 0.84), (2, "ok", 0.86)],
    (True, 4): [(0, "ok", 0.90), (1, "ok", 0.92), (2, "diverged", None)],
    (False, 1): [(0, "ok", 0.70), (1, "failed", None), (2, "failed", None)],
    (False, 4): [(0, "ok", 0.75), (1, "ok", 0.75), (2, "ok", 0.78)],
}
EPOCHS = 3


def config_for(grid: str, bias: bool, n_blocks: int, seed: int, mixer: str = "b2s6", task: str = "digits") -> dict:
    """A resolved config in the runner's layout, with the grid's axes recorded under ``grid.axes``."""
    return {
        "mixer": {"name": mixer, "n_state": 16, "n_blocks": n_blocks, "bias": bias, "complex": True},
        "model": {"d_model": 32, "n_layers": 2},
        "task": {"name": task, "length": 64},
        "train": {"lr": 0.003, "epochs": EPOCHS},
        "seed": seed,
        "plugins": [],
        "grid": {"name": grid, "variant": "default", "axes": {"mixer.bias": bias, "mixer.n_blocks": n_blocks}},
    }


def write_run(root: Path, config: dict, status: str | None, acc: float | None) -> Path:
    """One run directory: config, a learning curve ending at ``acc``, and a result (none when status is None)."""
    directory = store.run_dir(root, config["grid"]["name"], config)
    directory.mkdir(parents=True)
    store.write_config(directory, config)
    final = 0.5 if acc is None else acc
    for epoch in range(EPOCHS):
        frac = (epoch + 1) / EPOCHS
        store.append_metrics(
            directory,
            {
                "epoch": epoch,
                "step": 10 * (epoch + 1),
                "time_s": 1.0 + epoch,
                "lr": 0.003,
                "train/loss": 2.0 - frac,
                "val/loss": 2.1 - frac,
                "val/acc": final * frac,
            },
        )
    if status is not None:
        metrics = {} if acc is None else {"val/acc": acc + 0.01, "test/acc": acc, "best_epoch": EPOCHS - 1}
        store.write_result(
            directory,
            {
                "run_id": directory.name,
                "grid": config["grid"]["name"],
                "variant": config["grid"]["variant"],
                "axes": config["grid"]["axes"],
                "status": status,
                "metric": "acc",
                "higher_is_better": True,
                "metrics": metrics,
                "wall_time_s": 12.5,
                "n_params": 1234,
                "tokens_per_s": 5000.0,
                "steps": 30,
                "scan_backend": "torch",
                "device": "cpu",
                "versions": {"torch": "2.13.0"},
                "git_rev": "abc123",
                "error": "boom" if status == "failed" else None,
                "diverged_step": 17 if status == "diverged" else None,
                "started_at": "t0",
                "finished_at": "t1",
            },
        )
    return directory
