"""The slurm launcher's submitit path, run through submitit's local executor (skipped without submitit)."""

import io
import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from ablations.run import main

submitit = pytest.importorskip("submitit", reason="submitit is the optional extra seqzoo[slurm]; pip install submitit")


def test_job_array_through_submitit_local_executor(workdir, tiny, capsys):
    folder = workdir / "submitit" / "%j"
    args = ["grid=smoke", *[t for t in tiny if not t.startswith("launcher.")]]
    args += ["launcher=slurm", "launcher.cluster=local", "launcher.gpus_per_node=0"]
    args += ["launcher.cpus_per_task=1", "launcher.poll_s=0.2", f"launcher.folder={folder}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[2/2] ok" in out and "smoke: test/rel_error" in out
    results = [json.loads(p.read_text()) for p in (workdir / "runs" / "smoke").glob("*/result.json")]
    assert sorted(r["axes"]["mixer.bias"] for r in results) == [False, True]
    assert all(r["status"] == "ok" for r in results)
    assert any((workdir / "submitit").rglob("*_result.pkl"))  # the cells really ran as submitit jobs


def test_preempted_job_requeues_itself_with_the_same_cell():
    from ablations.launchers.slurm import CellJob

    job = CellJob()
    delayed = job.checkpoint({"seed": 0}, "runs/g/abc", False)
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert delayed.function is job and delayed.args == ({"seed": 0}, "runs/g/abc", False)


@pytest.mark.parametrize(
    ("said", "keys", "not_keys"),
    [
        ("sbatch: error: Invalid generic resource (gres) specification", ["gpus_per_node"], ["mem_gb"]),
        ("sbatch: error: Memory specification can not be satisfied", ["mem_gb"], ["gpus_per_node"]),
        (
            "sbatch: error: Requested node configuration is not available",
            ["gpus_per_node", "cpus_per_task", "mem_gb"],
            ["time_min"],
        ),
        ("sbatch: error: Invalid account or account/partition combination", ["sbatch", "partition"], ["mem_gb"]),
        ("sbatch: error: something new", ["partition", "gpus_per_node", "cpus_per_task", "mem_gb", "sbatch"], []),
    ],
)
def test_sbatch_rejection_names_the_settings_to_change(said, keys, not_keys):
    from ablations.launchers.slurm import rejected

    text = str(rejected(submitit.core.utils.FailedJobError(said)))
    assert said in text and "configs/launcher/slurm.yaml" in text
    assert all(f"launcher.{k}" in text for k in keys), text
    assert not any(f"launcher.{k}" in text for k in not_keys), text


def test_progress_line_of_a_cancelled_job_shows_why(monkeypatch):
    """A task cancelled before it started has no result of its own: its line shows what `scontrol` says (or
    that it keeps no record: a task cancelled inside the array's pending record); a stopped cell its error."""
    from ablations.launchers import slurm
    from ablations.progress import Progress

    said = iter(
        [
            ("JobId=8 ArrayJobId=7 ArrayTaskId=1 JobState=CANCELLED Reason=JobArrayTaskLimit Restarts=0", ""),
            ("", "slurm_load_jobs error: Invalid job id specified"),
        ]
    )
    monkeypatch.setattr(slurm, "_slurm", lambda *argv: subprocess.CompletedProcess(argv, 0, *next(said)))
    out = io.StringIO()
    progress = Progress(3, out)
    progress.finished(SimpleNamespace(label="never started"), slurm._left_without_result("7_1"))
    progress.finished(SimpleNamespace(label="no record"), slurm._left_without_result("7_2"))
    progress.finished(SimpleNamespace(label="scancelled"), {"status": "cancelled", "error": "signal 15 at step 3"})
    first, second, third = out.getvalue().splitlines()
    assert "cancelled" in first and "7_1" in first and "JobState=CANCELLED Reason=JobArrayTaskLimit" in first
    assert "cancelled" in second and "7_2" in second and "cancelled while pending" in second
    assert "cancelled" in third and "signal 15 at step 3" in third


def test_job_sets_torch_threads_from_cpus_per_task(monkeypatch):
    """As a local worker does: the job's threads are set before the trainer runs (which only overrides them
    when train.threads is set)."""
    import torch

    import ablations.train
    from ablations.launchers.slurm import CellJob

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    seen = {}

    def fake_run(config, path, retry_failed=False):
        seen.update(torch=torch.get_num_threads(), omp=os.environ["OMP_NUM_THREADS"])
        return {"status": "ok"}

    monkeypatch.setattr(ablations.train, "run", fake_run)
    try:
        wanted = 3 if before != 3 else 2
        assert CellJob(threads=wanted)({}, "runs/g/abc", False) == {"status": "ok"}
    finally:
        torch.set_num_threads(before)
    assert seen == {"torch": wanted, "omp": str(wanted)}
