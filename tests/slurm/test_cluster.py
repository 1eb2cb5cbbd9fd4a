"""The throw-away cluster itself: it schedules a submitit job array, and stopping it leaves nothing running."""

import os
import shutil
import tempfile
import time
from pathlib import Path

# Runs inside each array task (a shell command, so the job needs no test module on its import path):
# prints its argument squared and the Slurm ids the task ran under.
WHERE_AM_I = 'echo $(($0 * $0)) "$SLURM_ARRAY_JOB_ID" "$SLURM_ARRAY_TASK_ID" "$SLURM_JOB_PARTITION"'


def test_submitit_job_array_returns_results(slurm, submitit, tmp_path):
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_partition=slurm.partition, cpus_per_task=1)
    start = time.monotonic()
    jobs = executor.map_array(submitit.helpers.CommandFunction(["sh", "-c", WHERE_AM_I], verbose=False), [1, 2, 3, 4])
    results = [job.result().split() for job in jobs]
    elapsed = time.monotonic() - start
    squares, array_ids, task_ids, partitions = zip(*results, strict=True)
    assert list(squares) == ["1", "4", "9", "16"]
    assert len(set(array_ids)) == 1, f"one job array expected, got {set(array_ids)}"
    assert sorted(task_ids) == ["0", "1", "2", "3"]
    assert set(partitions) == {slurm.partition}
    print(f"4-task submitit array on {os.cpu_count()} cpus: {elapsed:.1f} s")


def test_stop_leaves_no_daemon_running(cluster_helper, slurm_cluster):
    """A second, short-lived cluster: after stop(), no process named in its pid files is alive, and the
    session's cluster, started by the same process, still runs."""
    root = Path(tempfile.mkdtemp(prefix="seqzoo-slurm-"))
    cluster = cluster_helper.start(root)
    try:
        pids = cluster_helper.daemon_pids(root)
        assert None not in pids.values(), f"a daemon without a live pid file: {pids}"
        assert cluster.conf.exists()
    finally:
        killed = cluster_helper.stop(root)
        shutil.rmtree(root, ignore_errors=True)
    assert killed == [], f"daemons that ignored SIGTERM: {killed}"
    alive = {daemon: pid for daemon, pid in pids.items() if cluster_helper.is_alive(pid)}
    assert not alive, f"still running after stop(): {alive}"
    assert cluster_helper.node_state(slurm_cluster) == "idle", "stopping one cluster left another alone"
