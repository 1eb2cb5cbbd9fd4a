"""``launcher=slurm``: one submitit job array per grid; preempted jobs requeue and resume from their checkpoint.

Needs the optional extra ``seqzoo[slurm]`` (submitit). Resources come from ``configs/launcher/slurm.yaml``
(partition, time, GPUs, CPUs, memory, array parallelism). The run store must be on a file system the nodes
share: each job trains its cell through ``ablations.train.run`` into the store, and the launcher reads the
results back as the jobs end. ``launcher.cluster=local`` runs the same path on this machine through submitit's
local executor (what the tests do); ``debug`` runs it in-process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablations import store
from ablations.grid import Cell
from ablations.launchers.base import Launcher, OnResult
from zoo.registry import ConfigError


@dataclass
class SlurmConfig:
    """``launcher.*`` of ``launcher=slurm``.

    Attributes:
        partition: Slurm partition (None: the cluster's default).
        time_min: wall-clock limit of each job, minutes.
        gpus_per_node: GPUs per job (one cell per job).
        cpus_per_task: CPU cores per job.
        mem_gb: memory per job, GB.
        array_parallelism: at most this many jobs of the array run at once.
        folder: submitit's folder for job scripts and logs (``%j`` is the job id).
        cluster: None (Slurm if available), ``"slurm"``, ``"local"`` (local processes) or ``"debug"``.
        max_requeues: how many times a preempted or timed-out job is requeued.
        poll_s: seconds between checks of the jobs' state.
    """

    partition: str | None = None
    time_min: int = 240
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 32
    array_parallelism: int = 64
    folder: str = "runs/.submitit/%j"
    cluster: str | None = None
    max_requeues: int = 3
    poll_s: float = 5.0


class CellJob:
    """The callable each array job runs. submitit calls :meth:`checkpoint` on preemption or timeout: the job is
    requeued with the same arguments, and ``run`` resumes from the cell's last ``checkpoint.pt``."""

    def __call__(self, config: dict[str, Any], path: str, retry_failed: bool) -> dict[str, Any]:
        from ablations.train import run

        return run(config, path, retry_failed=retry_failed)

    def checkpoint(self, *args: Any, **kwargs: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            "launcher=slurm needs submitit: pip install 'seqzoo[slurm]' (or pip install submitit)."
        ) from None
    return submitit


class SlurmLauncher(Launcher):
    Config = SlurmConfig

    def executor(self):
        """A submitit executor with this config's resources."""
        submitit = _submitit()
        cfg = self.cfg
        executor = submitit.AutoExecutor(folder=cfg.folder, cluster=cfg.cluster, slurm_max_num_timeout=cfg.max_requeues)
        params: dict[str, Any] = {
            "timeout_min": cfg.time_min,
            "gpus_per_node": cfg.gpus_per_node,
            "cpus_per_task": cfg.cpus_per_task,
            "mem_gb": cfg.mem_gb,
            "slurm_array_parallelism": cfg.array_parallelism,  # prefixed keys only reach the Slurm executor
        }
        if cfg.partition:
            params["slurm_partition"] = cfg.partition
        executor.update_parameters(**params)
        return executor

    def launch(self, cells: list[Cell], on_result: OnResult, retry_failed: bool = False) -> None:
        if not cells:
            return
        executor = self.executor()
        Path(self.cfg.folder.split("%j")[0]).mkdir(parents=True, exist_ok=True)
        job = CellJob()
        jobs = executor.map_array(
            job, [c.config for c in cells], [str(c.path) for c in cells], [retry_failed] * len(cells)
        )
        pending = dict(zip(jobs, cells, strict=True))
        while pending:
            for handle in [j for j in pending if j.done()]:
                cell = pending.pop(handle)
                try:
                    result = handle.result()
                except Exception as error:  # the job failed outside the trainer: read what the store has
                    _, stored, status = store.read_run(cell.path)
                    result = stored or {"status": "failed", "error": f"job {handle.job_id}: {error}"}
                on_result(cell, result)
            if pending:
                time.sleep(self.cfg.poll_s)
