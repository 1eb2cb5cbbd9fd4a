"""The runner end to end on tiny cells: training, skip, retry, divergence, locking, plugins, worker processes."""

import json
import textwrap

from ablations import store
from ablations.config import compose, split_overrides
from ablations.launchers.local import LocalConfig, plan_workers
from ablations.run import main
from ablations.train import run


def _results(root, grid):
    return {p.parent.name: json.loads(p.read_text()) for p in (root / "runs" / grid).glob("*/result.json")}


def test_grid_records_divergence_finishes_the_rest_and_skips_finished_cells(workdir, tiny, write_grid, capsys):
    grid = write_grid(
        """
        name: lr
        axes:
          train.lr: [3.0e-3, 1.0e+3]
        """
    )
    args = [f"grid={grid}", *tiny, "train.max_steps_per_epoch=20"]
    assert main(args) == 1  # not every cell is ok
    out = capsys.readouterr().out
    results = _results(workdir, "lr")
    by_lr = {r["axes"]["train.lr"]: r for r in results.values()}
    assert by_lr[3e-3]["status"] == "ok" and by_lr[1e3]["status"] == "diverged"
    assert by_lr[1e3]["diverged_step"] is not None and by_lr[1e3]["steps"] == by_lr[1e3]["diverged_step"]
    ok = by_lr[3e-3]
    assert ok["n_params"] > 0 and ok["tokens_per_s"] > 0 and ok["scan_backend"] == "torch"
    assert ok["metrics"]["best_epoch"] == 0 and "test/rel_error" in ok["metrics"] and "val/rel_error" in ok["metrics"]
    rows = store.read_metrics(workdir / "runs" / "lr" / ok["run_id"])
    assert [r["epoch"] for r in rows] == [0] and {"step", "time_s", "lr", "train/loss", "val/loss"} <= set(rows[0])
    assert "[2/2]" in out and "diverged at step" in out and "ETA" in out
    assert "python -m analysis.report runs/lr" in out
    summary = (workdir / "runs" / "lr" / "summary.csv").read_text()
    assert "test/rel_error" in summary and len(summary.strip().splitlines()) == 3

    files = {rid: (workdir / "runs" / "lr" / rid / "result.json") for rid in results}
    stamps = {rid: path.stat().st_mtime_ns for rid, path in files.items()}
    assert main(args) == 1  # nothing retrained: both results stay as they were
    assert capsys.readouterr().out.count("(stored)") == 2
    assert {rid: path.stat().st_mtime_ns for rid, path in files.items()} == stamps

    assert main([*args, "--retry-failed"]) == 1  # re-runs the diverged cell only
    assert files[ok["run_id"]].stat().st_mtime_ns == stamps[ok["run_id"]]
    assert files[by_lr[1e3]["run_id"]].stat().st_mtime_ns != stamps[by_lr[1e3]["run_id"]]


def test_a_locked_cell_is_left_to_its_holder(workdir, tiny):
    config = compose([split_overrides(tiny)])
    path = store.run_dir("runs", "default", config)
    path.mkdir(parents=True)
    with store.RunLock(path):
        assert run(config, path) == {"status": "locked", "run_id": path.name}
    assert not (path / store.RESULT_FILE).exists()
    assert run(config, path)["status"] == "ok"


PLUGIN = '''
"""A user's mixer, outside seqzoo: a causal running mean followed by a linear map."""
from dataclasses import dataclass

import torch

from zoo import Mixer, register_mixer


@register_mixer("running_mean")
class RunningMean(Mixer):
    @dataclass
    class Config:
        scale: float = 1.0

    def __init__(self, d_model, cfg):
        super().__init__(d_model, cfg)
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype).view(1, -1, 1)
        return self.proj(self.cfg.scale * x.cumsum(1) / steps)
'''


def test_plugin_mixer_runs_in_worker_processes_and_reaches_the_summary(workdir, tiny, write_grid, capsys):
    (workdir / "user_mixers.py").write_text(textwrap.dedent(PLUGIN))
    grid = write_grid(
        """
        name: plug
        axes:
          mixer: [b2s6, running_mean]
        """
    )
    overrides = [t for t in tiny if not t.startswith(("mixer.", "launcher."))]
    assert main([f"grid={grid}", *overrides, "plugins=[user_mixers]", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "running_mean" in out.split("test/rel_error (mean")[1]  # a row of the summary table
    statuses = {r["axes"]["mixer"]: r["status"] for r in _results(workdir, "plug").values()}
    assert statuses == {"b2s6": "ok", "running_mean": "ok"}


def test_worker_plan_pins_gpus_and_splits_cpu_cores(monkeypatch):
    import ablations.launchers.local as local

    monkeypatch.setattr(local, "_gpu_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert plan_workers(LocalConfig(), 10)[0::2] == (2, ["3", "5"])
    monkeypatch.setattr(local, "_gpu_count", lambda: 0)
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert plan_workers(LocalConfig(workers=2), 10) == (2, 2, [None, None])
    assert plan_workers(LocalConfig(), 3) == (3, 1, [None, None, None])  # never more workers than cells
