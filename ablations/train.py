"""Train one grid cell: ``run(config) -> result`` is the single entry point every launcher calls.

``run`` owns the cell's run directory: it takes the lock (a cell another process trains is skipped), returns
the stored result of a finished cell untouched, resumes an interrupted one from ``checkpoint.pt``, and always
ends with an atomic ``result.json`` whose status is ``ok``, ``diverged`` (a NaN/inf loss, with the step),
``failed`` (an exception, with its traceback) or ``cancelled`` (SIGTERM/SIGINT: checkpointed, resumable).

The loop: AdamW with the mixers' parameter groups (``zoo.optim.param_groups``), linear warm-up then cosine,
gradient clipping, bf16 autocast on CUDA, an evaluation on the validation split each epoch, and the test
metric of the best validation epoch (test is evaluated once, on the weights selected by validation).
Seeding is deterministic: torch and numpy from ``seed``, the data order from ``(seed, epoch)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ablations import store
from ablations.config import TrainConfig, dataclass_from, import_plugins

# ---------------------------------------------------------------------------------------------------------------
# Building


def build_task_for(config: dict[str, Any]):
    """The cell's task (``ablations.tasks.build_task``) from ``config["task"]`` and ``config["data"]["root"]``."""
    from ablations.tasks import build_task

    fields = {k: v for k, v in config["task"].items() if k != "name"}
    return build_task(config["task"]["name"], data_root=config["data"]["root"], **fields)


def build_model(config: dict[str, Any], task) -> torch.nn.Module:
    """The cell's ``zoo.model.SequenceModel`` for ``task``'s input and output."""
    from zoo.model import ModelConfig, SequenceModel

    mixer = {k: v for k, v in config["mixer"].items() if k != "name"}
    model_cfg = dataclass_from(ModelConfig, config["model"])
    return SequenceModel(config["mixer"]["name"], mixer, model_cfg, task.input, task.output)


def scan_backend(config: dict[str, Any], device: torch.device) -> str | None:
    """The ``kernels.selective_scan`` backend the cell's mixer runs on ``device`` (None for a non-SSM mixer)."""
    requested = config["mixer"].get("scan_backend")
    if requested is None:
        return None
    from kernels.scan import resolve_backend

    return resolve_backend(requested, device)


def pick_device(train: TrainConfig) -> torch.device:
    if train.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if train.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is visible; use train.device=cpu or auto.")
    return torch.device(train.device)


def retain_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back to the OS (a no-op elsewhere).

    torch takes CPU tensors straight from malloc, and a training step frees and reallocates the same few-MB
    tensors over and over (the chunked scan's per-window temporaries above all). By default glibc returns the top
    of its heap to the OS whenever more than twice the largest recently freed block lies free there, so the next
    window faults the same pages in again: 1.4–2·10⁴ page faults per step of the digits test's model, a third of
    its training time on the 2-core CPU (in a cell, whose evaluations happen to raise glibc's thresholds, ~1.5 s
    of system time in 25 s). Trimming starts at 1 GiB here, and blocks up to 32 MiB (glibc's limit) come from
    the heap: the process keeps its peak heap, which the next step needs again.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_mmap_threshold, 32 << 20)


def lr_factor(step: int, total: int, train: TrainConfig) -> float:
    """Multiplier of the peak lr at ``step`` of ``total``: linear warm-up, then cosine to ``min_lr_frac``."""
    warmup = max(1, round(train.warmup_frac * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return train.min_lr_frac + (1 - train.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))


def _tensors(dataset) -> tuple[torch.Tensor, ...]:
    """A dataset as stacked tensors ``(x, y)`` or ``(x, y, lengths)`` (in memory: the tasks are small)."""
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return tuple(dataset.tensors)
    items = [dataset[i] for i in range(len(dataset))]
    return tuple(torch.stack([torch.as_tensor(item[k]) for item in items]) for k in range(len(items[0])))


# ---------------------------------------------------------------------------------------------------------------
# Provenance


@functools.cache
def versions() -> dict[str, str]:
    """Versions of Python and the libraries that change numbers."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    for package in ("seqzoo", "triton"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


@functools.cache
def git_rev() -> str | None:
    """The git revision of the seqzoo checkout (``+dirty`` if it has local changes), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "-uno"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------------------
# Signals


class _StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step (then: checkpoint, ``cancelled``)."""

    def __init__(self):
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if _is_main_thread():  # signal handlers can only be installed there
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step


class Stopped(Exception):
    """SIGTERM/SIGINT arrived; the state was checkpointed."""


# ---------------------------------------------------------------------------------------------------------------
# The cell


def run(config: dict[str, Any], path: str | os.PathLike | None = None, retry_failed: bool = False) -> dict[str, Any]:
    """Run one cell and return its result dict (the content of ``result.json``).

    ``path`` is the run directory (default ``<store.root>/<grid.name>/<run_id>``). A finished ``ok`` cell —
    or a ``failed``/``diverged`` one unless ``retry_failed`` — is returned as stored. A cell whose lock another
    process holds returns ``{"status": "locked"}`` without touching anything.
    """
    import_plugins(config.get("plugins"))  # a worker process or cluster job has not imported them yet
    path = Path(path) if path is not None else store.run_dir(config["store"]["root"], config["grid"]["name"], config)
    path.mkdir(parents=True, exist_ok=True)
    lock = store.RunLock(path)
    if not lock.acquire():
        return {"status": "locked", "run_id": path.name}
    try:
        _, previous, status = store.read_run(path)
        if status == "ok" or (status in ("failed", "diverged") and not retry_failed):
            return previous
        if not (path / store.CONFIG_FILE).exists():
            store.write_config(path, config)
        return _run_locked(config, path)
    finally:
        lock.release()


def _run_locked(config: dict[str, Any], path: Path) -> dict[str, Any]:
    grid = config["grid"]
    result: dict[str, Any] = {
        "run_id": path.name,
        "grid": grid["name"],
        "variant": grid["variant"],
        "axes": grid["axes"],
        "status": "failed",
        "metric": None,
        "higher_is_better": None,
        "metrics": {},
        "wall_time_s": None,
        "n_params": None,
        "tokens_per_s": None,
        "steps": 0,
        "scan_backend": None,
        "device": None,
        "versions": dict(versions()),
        "git_rev": git_rev(),
        "error": None,
        "diverged_step": None,
        "started_at": _now(),
        "finished_at": None,
    }
    log = open(path / store.LOG_FILE, "a", buffering=1)
    started = time.perf_counter()
    try:
        with _StopRequest() as stop:
            Trainer(config, path, result, log, stop).fit()
        result["status"] = "ok"
    except Diverged as error:
        result.update(status="diverged", diverged_step=error.step, error=str(error))
    except Stopped as error:
        result.update(status="cancelled", error=str(error))
    except Exception as error:  # a bad cell must never take the grid down: record it and go on
        result.update(status="failed", error=f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
    finally:
        result["finished_at"] = _now()
        if result["wall_time_s"] is None:  # not ok: the time this attempt ran
            result["wall_time_s"] = round(time.perf_counter() - started, 3)
        log.write(
            f"[{result['finished_at']}] status {result['status']}"
            + (f": {result['error']}" if result["error"] else "")
            + "\n"
        )
        log.close()
    store.write_result(path, result)
    return result


class Trainer:
    """The training loop of one cell, with checkpoint/resume; fills ``result`` as it goes."""

    def __init__(self, config: dict[str, Any], path: Path, result: dict[str, Any], log, stop: _StopRequest):
        self.config, self.path, self.result, self.log, self.stop = config, path, result, log, stop
        self.train_cfg = dataclass_from(TrainConfig, config["train"])
        self.timing: dict[str, float] = {}  # seconds per phase, reported as result["timing_s"] (see ablations.bench)
        result["timing_s"] = self.timing

    @contextlib.contextmanager
    def timed(self, phase: str):
        """Add the time spent in the block to ``self.timing[phase]``."""
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.timing[phase] = round(self.timing.get(phase, 0.0) + time.perf_counter() - tick, 4)

    def say(self, text: str) -> None:
        self.log.write(f"[{_now()}] {text}\n")

    def fit(self) -> None:
        cfg, tc, result = self.config, self.train_cfg, self.result
        if tc.threads:
            torch.set_num_threads(tc.threads)
        retain_freed_memory()
        device = pick_device(tc)
        result["device"] = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
        result["scan_backend"] = scan_backend(cfg, device)
        self._seed(cfg["seed"])

        setup_started = time.perf_counter()
        task = build_task_for(cfg)
        result["metric"], result["higher_is_better"] = task.metric, task.higher_is_better
        train, val, test = (tuple(t.to(device) for t in _tensors(d)) for d in task.datasets())
        model = build_model(cfg, task).to(device)
        result["n_params"] = model.num_parameters()
        from zoo.optim import param_groups

        groups = param_groups(model, tc.lr, tc.weight_decay)
        fused = {"fused": True} if device.type == "cuda" else {}
        optimizer = torch.optim.AdamW(groups, lr=tc.lr, betas=tuple(tc.betas), **fused)
        n_train = len(train[0])
        steps_per_epoch = math.ceil(n_train / tc.batch_size)
        if tc.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, tc.max_steps_per_epoch)
        total = tc.epochs * steps_per_epoch
        amp = tc.amp == "bf16" or (tc.amp == "auto" and device.type == "cuda")
        autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext

        state = {
            "epoch": 0,
            "step": 0,
            "elapsed": 0.0,
            "train_time": 0.0,
            "tokens": 0,
            "best": None,
            "best_state": None,
        }
        checkpoint = self.path / store.CHECKPOINT_FILE
        if checkpoint.exists():
            saved = torch.load(checkpoint, map_location=device, weights_only=False)
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state = saved["state"]
            torch.set_rng_state(saved["rng"]["torch"])
            if device.type == "cuda" and saved["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(saved["rng"]["cuda"])
            store.truncate_metrics(self.path, state["step"])
            self.say(f"resumed from checkpoint at epoch {state['epoch']}, step {state['step']}")
        else:
            self.say(f"start: {result['n_params']} parameters, {total} steps, scan {result['scan_backend']}")

        self.timing["setup"] = round(time.perf_counter() - setup_started, 4)
        started = time.perf_counter() - state["elapsed"]
        last_checkpoint = time.perf_counter()

        @self.timed("checkpoint")
        def save() -> None:
            state["elapsed"] = time.perf_counter() - started
            rng = {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            }
            payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state, "rng": rng}
            tmp = checkpoint.with_suffix(".pt.tmp")
            torch.save(payload, tmp)
            os.replace(tmp, checkpoint)

        bar = self._bar(total, state["step"])
        seq_len = train[0].shape[1]
        while state["epoch"] < tc.epochs:
            epoch = state["epoch"]
            order = torch.randperm(n_train, generator=torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + epoch))
            model.train()
            losses = []
            for i in range(state["step"] - epoch * steps_per_epoch, steps_per_epoch):
                with self.timed("data"):
                    index = order[i * tc.batch_size : (i + 1) * tc.batch_size].to(device)
                    batch = [t[index] for t in train]
                tick = time.perf_counter()
                for group in optimizer.param_groups:
                    group["lr"] = tc.lr * group["lr_scale"] * lr_factor(state["step"], total, tc)
                with autocast():
                    output = model(batch[0], batch[2] if len(batch) > 2 else None)
                loss = task.loss(output.float(), batch[1])
                value = loss.item()
                if not math.isfinite(value):
                    raise Diverged(state["step"], value)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                optimizer.step()
                state["train_time"] += time.perf_counter() - tick
                self.timing["step"] = round(self.timing.get("step", 0.0) + time.perf_counter() - tick, 4)
                state["tokens"] += len(index) * seq_len
                state["step"] += 1
                result["steps"] = state["step"]
                losses.append(value)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                if state["step"] % tc.log_every == 0:
                    self.say(f"epoch {epoch} step {state['step']}/{total} loss {value:.5g}")
                if self.stop.signal is not None:
                    save()
                    raise Stopped(f"signal {self.stop.signal} at step {state['step']}: checkpointed, resumable")
                if time.perf_counter() - last_checkpoint >= tc.checkpoint_every_s:
                    save()
                    last_checkpoint = time.perf_counter()

            with self.timed("eval"):
                val_metrics = self.evaluate(model, task, val, tc.eval_batch_size, autocast)
            row = {
                "epoch": epoch,
                "step": state["step"],
                "time_s": round(time.perf_counter() - started, 3),
                "lr": tc.lr * lr_factor(state["step"] - 1, total, tc),
                "train/loss": sum(losses) / len(losses) if losses else None,
                **{f"val/{k}": v for k, v in val_metrics.items()},
            }
            with self.timed("log"):
                store.append_metrics(self.path, row)
                self.say(json.dumps(row))
            score = val_metrics[task.metric]
            better = state["best"] is None or (
                score > state["best"] if task.higher_is_better else score < state["best"]
            )
            if better or not math.isfinite(state["best"]):
                state["best"] = score
                state["best_epoch"] = epoch
                state["best_val"] = val_metrics
                state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            state["epoch"] += 1
            save()
            last_checkpoint = time.perf_counter()
        if bar is not None:
            bar.close()

        model.load_state_dict(state["best_state"])
        with self.timed("eval"):
            test_metrics = self.evaluate(model, task, test, tc.eval_batch_size, autocast)
        result["metrics"] = {
            **{f"val/{k}": v for k, v in state["best_val"].items()},
            **{f"test/{k}": v for k, v in test_metrics.items()},
            "best_epoch": state["best_epoch"],
        }
        result["steps"] = state["step"]
        result["wall_time_s"] = round(time.perf_counter() - started, 3)
        result["tokens_per_s"] = round(state["tokens"] / state["train_time"], 1) if state["train_time"] > 0 else None

    @staticmethod
    def evaluate(model, task, split, batch_size, autocast) -> dict[str, float]:
        """Exact averages of ``task.batch_metrics`` over a split (weights summed, not batch means averaged)."""
        model.eval()
        sums: dict[str, list[float]] = {}
        with torch.no_grad():
            for start in range(0, len(split[0]), batch_size):
                batch = [t[start : start + batch_size] for t in split]
                with autocast():
                    output = model(batch[0], batch[2] if len(batch) > 2 else None)
                for name, (total, count) in task.batch_metrics(output.float(), batch[1]).items():
                    acc = sums.setdefault(name, [0.0, 0])
                    acc[0] += total
                    acc[1] += count
        model.train()
        return {name: total / count if count else float("nan") for name, (total, count) in sums.items()}

    def _bar(self, total: int, done: int):
        if not (self.train_cfg.progress and sys.stderr.isatty()):
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=done, desc=self.path.name, leave=False, dynamic_ncols=True)

    @staticmethod
    def _seed(seed: int) -> None:
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
