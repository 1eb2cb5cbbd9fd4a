"""`python -m ablations.run ... launcher=slurm` against the real single-node cluster of `conftest.py`.

Accounting is off on the test cluster (no slurmdbd, so no `sacct`): these tests read job state from `squeue`
while the runner works, and results from the run store. The grid is the shipped two-cell `smoke` grid,
shrunk further on the command line; one cell needs one CPU, so both cells of the array run at once.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from ablations import store

GRID = "smoke"
# One CPU thread per cell (as Slurm allots), no GPU, little memory, a fast poll; train.threads is not part of
# the run id, so local and Slurm runs of these settings land in the same run directories.
TINY = [f"grid={GRID}", "train.threads=1"]
ON_SLURM = [
    "launcher=slurm",
    "launcher.gpus_per_node=0",
    "launcher.cpus_per_task=1",
    "launcher.mem_gb=1",
    "launcher.time_min=10",
    "launcher.poll_s=0.2",
]
# Long enough (6 x 60 steps, about 3 s on one core) that a requeue lands mid-training, with a checkpoint every
# 0.2 s; at 2 x 60 steps (0.9 s) the cell could finish between its first checkpoint and the requeue.
LONGER = ["task.n_train=960", "train.epochs=6", "train.max_steps_per_epoch=60", "train.checkpoint_every_s=0.2"]
TIMEOUT_S = 120


def runner_argv(tmp: Path, *overrides: str, launcher: str = "slurm") -> list[str]:
    """The command line of one runner invocation with its store and submitit folder under `tmp`."""
    return [
        sys.executable,
        "-m",
        "ablations.run",
        *TINY,
        *(ON_SLURM + [f"launcher.folder={tmp / 'submitit'}/%j"] if launcher == "slurm" else ["launcher=local"]),
        f"store.root={tmp / 'runs'}",
        *overrides,
    ]


class QueueWatcher(threading.Thread):
    """Polls `squeue` every 0.1 s until stopped, keeping every (array job id, task id, state) it saw."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: set[tuple[str, str, str]] = set()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.seen |= squeue()
            self._halt.wait(0.1)

    def stop(self) -> "QueueWatcher":
        self._halt.set()
        self.join()
        return self

    def arrays(self) -> dict[str, set[str]]:
        """Array job id -> the task ids seen in it."""
        out: dict[str, set[str]] = {}
        for array, task, _ in self.seen:
            out.setdefault(array, set()).add(task)
        return out


def squeue() -> set[tuple[str, str, str]]:
    """(array job id, array task id, state) of every job in the queue, one line per array task."""
    res = subprocess.run(
        ["squeue", "--noheader", "--array", "--format=%F %K %T"], capture_output=True, text=True, timeout=10
    )
    return {tuple(line.split()) for line in res.stdout.splitlines() if line.strip()}


def run_watched(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, QueueWatcher]:
    """Run the runner to completion while a QueueWatcher records what it submitted."""
    watcher = QueueWatcher()
    watcher.start()
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    finally:
        watcher.stop()
    return done, watcher


def records(tmp: Path) -> dict[str, store.RunRecord]:
    """Run id -> record of every run directory of the grid in the store under `tmp`."""
    return {r.path.name: r for r in store.iter_runs(tmp / "runs" / GRID)}


def explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"


def test_grid_runs_as_one_array_and_matches_a_local_run(slurm, tmp_path):
    argv = runner_argv(tmp_path / "local", launcher="local")
    local = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert local.returncode == 0, explain(local)
    done, watcher = run_watched(runner_argv(tmp_path / "slurm"), tmp_path)
    assert done.returncode == 0, explain(done)

    arrays = watcher.arrays()
    assert len(arrays) == 1, f"one job array expected in squeue, saw {arrays}"
    local_runs, slurm_runs = records(tmp_path / "local"), records(tmp_path / "slurm")
    assert next(iter(arrays.values())) == {str(i) for i in range(len(local_runs))}
    assert {r.status for r in slurm_runs.values()} == {"ok"}, {k: r.status for k, r in slurm_runs.items()}
    assert slurm_runs.keys() == local_runs.keys(), "the same cells (run ids) wherever they run"
    for run_id, record in slurm_runs.items():
        assert record.result["metrics"] == local_runs[run_id].result["metrics"], run_id
    summaries = [tmp_path / t / "runs" / GRID / store.SUMMARY_FILE for t in ("local", "slurm")]
    local_summary, slurm_summary = (pd.read_csv(path) for path in summaries)
    pd.testing.assert_frame_equal(slurm_summary, local_summary, check_exact=True)


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"runner exited ({proc.returncode}) before {what}\n{out[-2000:]}\n{err[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def preempted(slurm_cluster, submitit, tmp_path_factory):
    """(tmp dir, the finished runner, the array job id, the store's records) of one `preempt` run."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in slurm_cluster.env.items():
            mp.setenv(key, value)
        yield preempt(tmp_path_factory.mktemp("preempted"))


def preempt(tmp: Path) -> tuple[Path, subprocess.CompletedProcess, str, dict[str, store.RunRecord]]:
    """Run the two-cell grid on Slurm; once both cells have checkpointed, requeue task 0 and cancel task 1."""
    watcher = QueueWatcher()
    watcher.start()
    argv = runner_argv(tmp, *LONGER)
    proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        grid = tmp / "runs" / GRID
        _wait_for(lambda: len(list(grid.glob(f"*/{store.CHECKPOINT_FILE}"))) == 2, 60, "both cells checkpointed", proc)
        running = _wait_for(lambda: {(a, t) for a, t, s in squeue() if s == "RUNNING"}, 10, "running tasks", proc)
        (array,) = {a for a, _ in running}
        for argv in (["scontrol", "requeue", f"{array}_0"], ["scancel", f"{array}_1"]):
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        watcher.stop()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return tmp, done, array, records(tmp)


def _only(records_: dict[str, store.RunRecord], statuses: tuple[str, ...]) -> store.RunRecord:
    matching = [r for r in records_.values() if r.status in statuses]
    assert len(matching) == 1, f"one cell with status in {statuses} expected: {[r.status for r in records_.values()]}"
    return matching[0]


@pytest.mark.usefixtures("slurm")
def test_requeued_cell_resumes_from_its_checkpoint(preempted):
    tmp, done, array, runs = preempted
    requeued = _only(runs, ("ok",))
    log = (requeued.path / store.LOG_FILE).read_text()
    resumed = [int(s) for s in re.findall(r"resumed from checkpoint at epoch \d+, step (\d+)", log)]
    assert resumed and resumed[0] > 0, f"the requeued cell did not resume from a checkpoint:\n{log}"
    steps = [row["step"] for row in store.read_metrics(requeued.path)]
    assert steps == sorted(set(steps)), f"evaluation steps repeat or go back (restarted?): {steps}"
    assert requeued.result["steps"] > resumed[0], "training went on after the resume"
    job = subprocess.run(["scontrol", "show", "job", f"{array}_0"], capture_output=True, text=True).stdout
    assert "Restarts=1" in job, f"Slurm did not restart task 0:\n{job}"


def test_cancelled_cell_is_recorded_with_its_reason(preempted):
    tmp, done, array, runs = preempted
    cancelled = _only(runs, ("cancelled", "failed"))
    assert cancelled.result["error"], "a cancelled cell says why"
    assert len(runs) == 2 and _only(runs, ("ok",)), "the rest of the array completes"
    assert done.returncode == 1, f"a cell cancelled from outside is a cell not ok: {explain(done)}"
    assert "stopped:" not in done.stdout, explain(done)
    summary = pd.read_csv(tmp / "runs" / GRID / store.SUMMARY_FILE)
    assert (summary["n_ok"].sum(), summary["n_failed"].sum()) == (1, 1), summary
    assert re.search(r"\(1 (cancelled|failed)\)", done.stdout), explain(done)
    line = re.search(r"^\[\d/2\] (cancelled|failed) .*$", done.stdout, re.MULTILINE)
    assert line and "signal 15" in line.group(), f"its progress line says why: {explain(done)}"


@pytest.mark.usefixtures("slurm")
def test_rerun_reruns_only_the_cancelled_cell(preempted):
    tmp, _, _, runs = preempted
    finished = _only(runs, ("ok",))
    before = (finished.path / store.RESULT_FILE).read_bytes()
    again, watcher = run_watched(runner_argv(tmp, *LONGER), tmp)
    assert again.returncode == 0, explain(again)
    assert [len(tasks) for tasks in watcher.arrays().values()] == [1], f"one single-task array: {watcher.seen}"
    assert (finished.path / store.RESULT_FILE).read_bytes() == before, "a finished cell is never re-run"
    assert {r.status for r in records(tmp).values()} == {"ok"}


def test_task_cancelled_before_it_ran_is_reported_not_waited_for(slurm, tmp_path):
    """With one task at a time, task 1 is cancelled while pending: it never writes a result, the job leaves
    the queue, and the runner must say so (it has no `sacct` to learn it from) while task 0 completes."""
    argv = runner_argv(tmp_path, "launcher.array_parallelism=1")
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pending = _wait_for(lambda: {a for a, t, s in squeue() if t == "1" and s == "PENDING"}, 60, "task 1", proc)
        (array,) = pending
        subprocess.run(["scancel", f"{array}_1"], check=True, timeout=10)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    assert done.returncode == 1, explain(done)
    assert [r.status for r in records(tmp_path).values()] == ["ok"], "task 0 completes; task 1 never started"
    line = re.search(r"^\[\d/2\] cancelled .*$", done.stdout, re.MULTILINE)
    why = ("JobState=CANCELLED", "cancelled while pending")  # scontrol's, or its lack of record
    assert line and any(w in line.group() for w in why), f"the line says why (scontrol): {explain(done)}"
    summary = pd.read_csv(tmp_path / "runs" / GRID / store.SUMMARY_FILE)
    assert (summary["n_ok"].sum(), summary["n_failed"].sum()) == (1, 1), "the cancelled task is counted"
    assert "(1 cancelled)" in done.stdout, explain(done)


def test_runner_stopped_by_sigterm_cancels_its_jobs_and_exits_143(slurm, tmp_path):
    """SIGTERM to the runner (not to a job): it cancels the array, the running cells checkpoint, it exits 143
    without a summary, and nothing of the array is left in the queue."""
    proc = subprocess.Popen(
        runner_argv(tmp_path, *LONGER), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        grid = tmp_path / "runs" / GRID
        _wait_for(lambda: len(list(grid.glob(f"*/{store.CHECKPOINT_FILE}"))) == 2, 60, "both cells checkpointed", proc)
        (array,) = {a for a, _, _ in squeue()}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert done.returncode == 128 + signal.SIGTERM, explain(done)
    assert "stopped:" in done.stdout and not (grid / store.SUMMARY_FILE).exists(), explain(done)
    assert not {a for a, _, _ in squeue() if a == array}, "the runner's jobs are cancelled with it"
    assert {r.status for r in records(tmp_path).values()} <= {"cancelled", "ok"}, records(tmp_path)


def _assert_config_error(done: subprocess.CompletedProcess, key: str, tmp: Path) -> None:
    assert done.returncode == 2, explain(done)
    assert key in done.stderr and "configs/launcher/slurm.yaml" in done.stderr, explain(done)
    assert not (tmp / "runs").exists() or not any((tmp / "runs").rglob("*")), "no run directory may be written"


def test_unknown_partition_is_a_config_error(slurm, tmp_path):
    done = subprocess.run(
        runner_argv(tmp_path, "launcher.partition=no_such_partition"), cwd=tmp_path, capture_output=True, text=True
    )
    _assert_config_error(done, "launcher.partition", tmp_path)
    assert "no_such_partition" in done.stderr


def test_unreachable_controller_is_a_config_error(slurm, cluster_helper, tmp_path):
    """A copy of the cluster's config whose controller port nothing listens on."""
    (port,) = cluster_helper.free_ports(1)
    conf = tmp_path / "slurm.conf"
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+$", f"SlurmctldPort={port}", slurm.conf.read_text()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    start = time.monotonic()
    done = subprocess.run(runner_argv(tmp_path), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    _assert_config_error(done, "launcher.", tmp_path)
    assert "controller" in done.stderr.lower()
    assert time.monotonic() - start < 30, "an unreachable controller is reported promptly"


def test_resources_sbatch_rejects_are_a_config_error(slurm, tmp_path):
    """The test cluster has no GPUs: sbatch refuses `gpus_per_node=1` at submission, before anything trains."""
    done = subprocess.run(
        runner_argv(tmp_path, "launcher.gpus_per_node=1"), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    _assert_config_error(done, "launcher.gpus_per_node", tmp_path)
    assert "sbatch" in done.stderr and "Traceback" not in done.stderr, explain(done)
    assert "nothing trained" in done.stderr, explain(done)


def test_extra_sbatch_options_reach_sbatch(slurm, tmp_path):
    """`launcher.sbatch.<option>` is passed to sbatch: a feature no node has is refused, naming launcher.sbatch."""
    done = subprocess.run(
        runner_argv(tmp_path, "launcher.sbatch.constraint=no_such_feature"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_config_error(done, "launcher.sbatch", tmp_path)
    assert "feature" in done.stderr.lower(), explain(done)
    scripts = list((tmp_path / "submitit").rglob("*submission*.sh"))  # kept when sbatch refuses it
    assert any("#SBATCH --constraint=no_such_feature" in s.read_text() for s in scripts), scripts
