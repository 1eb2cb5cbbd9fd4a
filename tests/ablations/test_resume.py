"""Crash safety: a runner killed mid-grid (SIGKILL) or stopped (SIGTERM) resumes where it was, retraining nothing."""

import json
import signal
import subprocess
import sys
import time

import pytest

from ablations import store
from ablations.run import main

GRID = """
name: resume
axes:
  mixer.bias: [true, false]
"""
# Long enough cells (~60 steps) that the kill lands inside one; a checkpoint after every step.
SLOW = ["task.n_train=400", "train.batch_size=4", "train.max_steps_per_epoch=60", "train.checkpoint_every_s=0"]


def _interrupt(workdir, tiny, grid, sig):
    """Start the grid in a subprocess, send ``sig`` once one cell is done and another has a checkpoint."""
    args = [f"grid={grid}", *tiny, *SLOW]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablations.run", *args], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    root = workdir / "runs" / "resume"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            dirs = [d for d in root.glob("*") if d.is_dir()]
            done = [d for d in dirs if (d / store.RESULT_FILE).exists()]
            midway = [d for d in dirs if (d / store.CHECKPOINT_FILE).exists() and d not in done]
            if done and midway:
                proc.send_signal(sig)
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.02)
        else:
            pytest.fail("the grid never reached a second cell")
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    return args, code, done, midway[0]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_interrupted_grid_resumes_without_retraining(workdir, tiny, write_grid, sig):
    grid = write_grid(GRID)
    args, code, done, midway = _interrupt(workdir, tiny, grid, sig)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert not (midway / store.RESULT_FILE).exists()
    else:  # the running cell checkpoints, records itself cancelled (resumable) and the runner exits 143
        assert code == 128 + signal.SIGTERM
        assert json.loads((midway / store.RESULT_FILE).read_text())["status"] == "cancelled"
    finished = {d: ((d / store.RESULT_FILE).read_bytes(), (d / store.RESULT_FILE).stat().st_mtime_ns) for d in done}

    assert main(args) == 0
    for d, (content, mtime) in finished.items():  # finished cells untouched
        assert (d / store.RESULT_FILE).read_bytes() == content
        assert (d / store.RESULT_FILE).stat().st_mtime_ns == mtime
    assert "resumed from checkpoint" in (midway / store.LOG_FILE).read_text()
    results = [json.loads(p.read_text()) for p in (workdir / "runs" / "resume").glob("*/result.json")]
    assert len(results) == 2 and all(r["status"] == "ok" for r in results)
    resumed = json.loads((midway / store.RESULT_FILE).read_text())
    assert resumed["steps"] == 60  # the interrupted cell ran exactly its steps, not more
    assert [row["epoch"] for row in store.read_metrics(midway)] == [0]
