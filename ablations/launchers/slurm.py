"""``launcher=slurm``: one submitit job array per grid; preempted jobs requeue and resume from their checkpoint.

Needs the optional extra ``seqzoo[slurm]`` (submitit). Resources come from ``configs/launcher/slurm.yaml``
(partition, time, GPUs, CPUs, memory, array parallelism). The run store must be on a file system the nodes
share: each job trains its cell through ``ablations.train.run`` into the store, and the launcher reads the
results back as the jobs end. ``launcher.cluster=local`` runs the same path on this machine through submitit's
local executor (what the tests do); ``debug`` runs it in-process.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablations import store
from ablations.grid import Cell
from ablations.launchers.base import Launcher, OnResult
from ablations.launchers.threads import use_threads
from zoo.registry import ConfigError, closest


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
        sbatch: further sbatch options, long name without dashes -> value (``{"account": "proj", "qos":
            "high", "constraint": "a100"}``), passed through submitit's ``slurm_additional_parameters``.
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
    sbatch: dict[str, Any] = field(default_factory=dict)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CellJob:
    """The callable each array job runs. submitit calls :meth:`checkpoint` on preemption or timeout: the job is
    requeued with the same arguments, and ``run`` resumes from the cell's last ``checkpoint.pt``.

    ``threads`` (the job's ``cpus_per_task``) sizes torch's CPU threads before the cell trains, as the local
    launcher does per worker; ``train.threads``, when set, overrides it.
    """

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def __call__(self, config: dict[str, Any], path: str, retry_failed: bool) -> dict[str, Any]:
        from ablations.train import run

        if self.threads:
            use_threads(self.threads)
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


def _slurm(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def check_cluster(cfg: SlurmConfig) -> None:
    """Fail before anything is written (exit 2) when the controller does not answer or the partition is unknown."""
    where = "configs/launcher/slurm.yaml or the command line"
    try:
        ping = _slurm("scontrol", "ping")
    except FileNotFoundError:
        raise ConfigError(
            "launcher=slurm: Slurm's commands (scontrol, sbatch) are not on PATH; run from a node of the cluster, "
            f"or set launcher.cluster=local to run the same path on this machine ({where})."
        ) from None
    if ping.returncode != 0 and " is UP" not in ping.stdout:
        said = (ping.stdout + ping.stderr).strip().splitlines()
        raise ConfigError(
            f"launcher=slurm: the Slurm controller does not answer (scontrol ping: {said[0] if said else '?'}). "
            "Run from a machine that reaches it (a login node) or point SLURM_CONF at the cluster's slurm.conf; "
            f"to run the same path on this machine set launcher.cluster=local ({where})."
        )
    if cfg.partition:
        known = _slurm("sinfo", "--noheader", "--format=%R").stdout.split()
        if cfg.partition not in known:
            raise ConfigError(
                f"launcher.partition={cfg.partition}: no such partition on this cluster.{closest(cfg.partition, known)}"
                f" Set launcher.partition in {where} (null: the cluster's default)."
            )


def _ended_on_slurm(handles: list) -> list:
    """The handles whose array task has left the queue (``squeue``; pending, running, requeued and completing
    tasks are in it). A task requeued by preemption, timeout or ``scontrol requeue`` already has a ``cancelled``
    result while it waits to resume, so neither the store nor the result pickle says it has ended; and
    submitit's own job state needs accounting (``sacct``), which many clusters do not run."""
    array_id = handles[0].job_id.split("_")[0]
    res = _slurm("squeue", "--noheader", "--array", f"--jobs={array_id}", "--format=%i")
    if res.returncode != 0 and "Invalid job id" not in res.stderr:  # "invalid": every task ended and was purged
        return []  # the controller did not answer this time: ask again at the next poll
    queued = set(res.stdout.split())
    return [h for h in handles if h.job_id not in queued]


def _left_without_result(job_id: str) -> dict[str, Any]:
    """The result of a job that left the queue without a ``result.json`` (cancelled before it started, or
    killed before it could checkpoint), with Slurm's state and reason."""
    res = _slurm("scontrol", "show", "job", "--oneliner", job_id)
    fields = dict(f.split("=", 1) for f in res.stdout.split() if "=" in f)
    if "JobState" in fields:
        why = " ".join(f"{k}={fields[k]}" for k in ("JobState", "Reason") if k in fields)
    else:  # a task cancelled while still in the array's pending record leaves no record of its own
        why = "cancelled while pending; scontrol has no record"
    return {"status": "cancelled", "error": f"Slurm job {job_id} ended without a result ({why})"}


SBATCH_HINTS = (
    (("gres", "gpu"), ("gpus_per_node",)),
    (("memory", "mem"), ("mem_gb",)),
    (("time limit",), ("time_min",)),
    (("processors", "cpu"), ("cpus_per_task",)),
    (("node configuration",), ("gpus_per_node", "cpus_per_task", "mem_gb")),
    (("partition",), ("partition",)),
    (("account", "qos", "constraint", "feature", "reservation"), ("sbatch",)),
)
"""(words of sbatch's error, lower case) -> the ``launcher.*`` keys that set what it rejects."""


def rejected(error: Exception) -> ConfigError:
    """The ``ConfigError`` for a job array sbatch refused (``submitit``'s ``FailedJobError``): sbatch's own words
    and the ``launcher.*`` keys to change; nothing was submitted, so nothing trained."""
    said = " ".join(str(error).split()) or type(error).__name__
    lower = said.lower()
    keys = [k for words, ks in SBATCH_HINTS if any(w in lower for w in words) for k in ks]
    keys = list(dict.fromkeys(keys)) or ["partition", "gpus_per_node", "cpus_per_task", "mem_gb", "time_min", "sbatch"]
    names = ", ".join(f"launcher.{k}" for k in keys)
    cpu_only = " (0 on a partition without GPUs)" if "gpus_per_node" in keys else ""
    return ConfigError(
        f"launcher=slurm: sbatch rejected the job array ({said}); nothing was submitted and nothing trained. "
        f"Change {names}{cpu_only} in configs/launcher/slurm.yaml or on the command line."
    )


class SlurmLauncher(Launcher):
    Config = SlurmConfig

    def __init__(self, cfg: SlurmConfig):
        super().__init__(cfg)
        if cfg.cluster == "slurm" or (cfg.cluster is None and shutil.which("srun")):  # as submitit's AutoExecutor
            check_cluster(cfg)

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
        if cfg.sbatch:
            params["slurm_additional_parameters"] = dict(cfg.sbatch)
        executor.update_parameters(**params)
        return executor

    def launch(self, cells: list[Cell], on_result: OnResult, retry_failed: bool = False) -> None:
        if not cells:
            return
        executor = self.executor()
        Path(self.cfg.folder.split("%j")[0]).mkdir(parents=True, exist_ok=True)
        job = CellJob(threads=self.cfg.cpus_per_task)
        try:
            jobs = executor.map_array(
                job, [c.config for c in cells], [str(c.path) for c in cells], [retry_failed] * len(cells)
            )
        except _submitit().core.utils.FailedJobError as error:
            raise rejected(error) from None
        pending = dict(zip(jobs, cells, strict=True))
        on_slurm = executor.cluster == "slurm"
        previous = {sig: signal.signal(sig, self._stop_handler(list(pending), on_slurm)) for sig in STOP_SIGNALS}
        try:
            self._collect(pending, on_slurm, on_result)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_handler(self, handles: list, on_slurm: bool):
        """SIGTERM/SIGINT to the runner: the first cancels the array (each running job gets Slurm's SIGTERM,
        checkpoints and reports ``cancelled``) and the runner waits for their results; a second stops waiting."""

        def stop(signum, frame):
            if self.interrupted is not None:
                raise KeyboardInterrupt
            self.interrupted = signum
            if on_slurm:
                _slurm("scancel", handles[0].job_id.split("_")[0])
            else:
                for handle in handles:
                    handle.cancel(check=False)

        return stop

    def _collect(self, pending: dict, on_slurm: bool, on_result: OnResult) -> None:
        """Report each job's result as it ends, until none is left."""
        while pending:
            for handle in _ended_on_slurm(list(pending)) if on_slurm else [j for j in pending if j.done()]:
                cell = pending.pop(handle)
                _, stored, _ = store.read_run(cell.path)
                if on_slurm and stored is None and not handle.paths.result_pickle.exists():
                    on_result(cell, _left_without_result(handle.job_id))
                    continue
                try:
                    result = stored if on_slurm and stored is not None else handle.result()
                except Exception as error:  # the job failed outside the trainer: read what the store has
                    result = stored or {"status": "failed", "error": f"job {handle.job_id}: {error}"}
                on_result(cell, result)
            if pending:
                time.sleep(self.cfg.poll_s)
