"""``launcher=local``: cells run in worker processes on this machine.

With CUDA GPUs visible, one worker per GPU, each pinned through ``CUDA_VISIBLE_DEVICES`` before it touches
CUDA. On CPU, ``workers`` processes share the cores: each sets torch to ``cores // workers`` threads. One
worker runs cells in the launching process itself (no start-up cost, and signals reach the trainer directly).
SIGTERM/SIGINT are forwarded to the workers, whose cells checkpoint and stop; nothing new starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import re
import signal
from dataclasses import dataclass
from typing import Any

from ablations.grid import Cell
from ablations.launchers.base import Launcher, OnResult
from ablations.launchers.threads import use_threads


@dataclass
class LocalConfig:
    """``launcher.*`` of ``launcher=local``.

    Attributes:
        workers: worker processes; None: one per visible GPU, else one per CPU core (small models train
            faster as parallel single-threaded cells than as one multi-threaded cell).
        threads: torch threads per CPU worker; None: the cores divided by the workers.
    """

    workers: int | None = None
    threads: int | None = None


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan_workers(cfg: LocalConfig, n_cells: int) -> tuple[int, int, list[str | None]]:
    """``(workers, threads per worker, CUDA_VISIBLE_DEVICES of each worker)`` for ``n_cells`` cells."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpus = _gpu_count()
    workers = cfg.workers or (gpus if gpus else cores)
    workers = max(1, min(workers, n_cells))
    threads = cfg.threads or max(1, cores // workers)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",") if visible else [str(i) for i in range(gpus)]
    devices = [ids[i % len(ids)] for i in range(workers)] if gpus else [None] * workers
    return workers, threads, devices


def _init_worker(threads: int, devices, lock) -> None:
    """Pin this worker to its GPU (taken from the shared list) and set its CPU threads."""
    with lock:
        device = devices.pop(0) if len(devices) else None
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    use_threads(threads)


def _run_cell(config: dict[str, Any], path: str, retry_failed: bool) -> dict[str, Any]:
    from ablations.train import run

    return run(config, path, retry_failed=retry_failed)


def _stopping_signal(result: dict[str, Any]) -> int:
    """The signal number a cancelled result names (the trainer's ``"signal N at step S: ..."``), else SIGTERM."""
    found = re.match(r"signal (\d+)", result.get("error") or "")
    return int(found.group(1)) if found else int(signal.SIGTERM)


class LocalLauncher(Launcher):
    Config = LocalConfig

    def launch(self, cells: list[Cell], on_result: OnResult, retry_failed: bool = False) -> None:
        workers, threads, devices = plan_workers(self.cfg, len(cells))
        if workers == 1:
            self._inline(cells, on_result, retry_failed, threads)
        else:
            self._pool(cells, on_result, retry_failed, workers, threads, devices)

    def _inline(self, cells, on_result, retry_failed, threads) -> None:
        import torch

        from ablations.train import run

        torch.set_num_threads(threads)
        for cell in cells:
            result = run(cell.config, cell.path, retry_failed=retry_failed)
            on_result(cell, result)
            if result.get("status") == "cancelled":  # in-process, only a signal to this process cancels a cell
                self.interrupted = _stopping_signal(result)
                return

    def _pool(self, cells, on_result, retry_failed, workers, threads, devices) -> None:
        context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
        manager_lock = context.Lock()
        shared = context.Manager().list(devices) if any(devices) else devices

        # Spawned workers inherit the environment: the OpenMP pool must be sized before torch is imported there.
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        pool = cf.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(threads, shared, manager_lock)
        )
        futures = {pool.submit(_run_cell, cell.config, str(cell.path), retry_failed): cell for cell in cells}

        def forward(signum, frame):
            self.interrupted = signum
            for future in futures:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                if process.is_alive():
                    os.kill(process.pid, signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for future in cf.as_completed(futures):
                if future.cancelled():
                    continue
                cell = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # the worker process died (killed, out of memory)
                    result = {"status": "failed", "error": f"worker died: {type(error).__name__}: {error}"}
                on_result(cell, result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
            for sig, handler in previous.items():
                signal.signal(sig, handler)
