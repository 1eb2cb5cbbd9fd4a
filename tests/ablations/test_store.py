"""The run store: run-id stability, atomic results, locking, and readers that survive damaged directories."""

import json
import subprocess
import sys

import pytest

from ablations import store

CONFIG = {
    "mixer": {"name": "b2s6", "n_blocks": 4, "bias": True},
    "model": {"d_model": 32, "n_layers": 2},
    "task": {"name": "forgetting", "seed": 0},
    "train": {"lr": 3e-3, "epochs": 2, "log_every": 10},
    "seed": 0,
    "launcher": {"name": "local", "workers": 2},
    "store": {"root": "runs"},
    "grid": {"name": "g", "variant": None, "axes": {"mixer.n_blocks": 4}},
}


def _with(config, dotted, value):
    import copy

    config = copy.deepcopy(config)
    *parents, leaf = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[leaf] = value
    return config


def test_run_id_is_stable_and_ignores_key_order():
    reordered = dict(reversed(list(CONFIG.items())))
    assert store.run_id(CONFIG) == store.run_id(reordered)
    assert len(store.run_id(CONFIG)) == 12


@pytest.mark.parametrize("key,value", [("mixer.n_blocks", 8), ("train.lr", 1e-3), ("seed", 1), ("task.seed", 3)])
def test_semantic_change_gives_new_id(key, value):
    assert store.run_id(_with(CONFIG, key, value)) != store.run_id(CONFIG)


@pytest.mark.parametrize(
    "key,value",
    [("launcher.workers", 8), ("store.root", "/elsewhere"), ("train.log_every", 1), ("grid.name", "other")],
)
def test_non_semantic_change_keeps_id(key, value):
    assert store.run_id(_with(CONFIG, key, value)) == store.run_id(CONFIG)


def test_result_round_trip_and_status_check(tmp_path):
    store.write_config(tmp_path, CONFIG)
    assert store.read_run(tmp_path) == (CONFIG, None, "interrupted")
    with pytest.raises(ValueError, match="status"):
        store.write_result(tmp_path, {"status": "done"})
    store.write_result(tmp_path, {"status": "ok", "metrics": {"val/accuracy": 0.5}})
    config, result, status = store.read_run(tmp_path)
    assert status == "ok" and result["metrics"]["val/accuracy"] == 0.5
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_readers_report_damaged_directories(tmp_path):
    good, torn, empty = tmp_path / "g" / "a", tmp_path / "g" / "b", tmp_path / "g" / "c"
    for d in (good, torn, empty):
        d.mkdir(parents=True)
    store.write_config(good, CONFIG)
    store.write_result(good, {"status": "ok"})
    store.write_config(torn, CONFIG)
    (torn / store.RESULT_FILE).write_text('{"status": "ok", "metr')
    (empty / store.RESULT_FILE).write_text(json.dumps({"status": "failed"}))
    records = {r.path.name: r for r in store.iter_runs(tmp_path)}
    assert records["a"].status == "ok" and records["a"].problem is None
    assert records["b"].status == "corrupt" and "result.json" in records["b"].problem
    assert records["c"].status == "corrupt" and "config.yaml is missing" in records["c"].problem

    store.append_metrics(good, {"step": 1, "val/loss": 1.0})
    with open(good / store.METRICS_FILE, "a") as f:
        f.write('{"step": 2, "val/lo')  # a write torn by SIGKILL
    problems = []
    assert store.read_metrics(good, problems) == [{"step": 1, "val/loss": 1.0}]
    assert len(problems) == 1 and "metrics.jsonl:2" in problems[0]


def test_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from ablations.store import RunLock; l = RunLock({str(tmp_path)!r}); "
            "assert l.acquire(); print('held', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.is_locked(tmp_path)
        assert store.inspect_run(tmp_path).status in ("running", "corrupt")
        assert not store.RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / store.LOCK_FILE).exists()  # left behind by SIGKILL ...
    assert not store.is_locked(tmp_path)  # ... but not held
    with store.RunLock(tmp_path):
        assert store.is_locked(tmp_path)  # flock is per open file, so this process sees its own lock
    assert not (tmp_path / store.LOCK_FILE).exists()
