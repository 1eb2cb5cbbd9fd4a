"""``python -m kernels.bench`` on its smoke shapes: records for every shape and backend, JSON and markdown."""

from __future__ import annotations

import json

import pytest
import torch

from kernels import bench
from kernels.scan.autograd import same_layout


def test_bench_writes_json_and_markdown(tmp_path):
    records = bench.main(["--backend", "torch", "--shapes", "smoke", "--out", str(tmp_path), "--repeats", "1"])
    data = json.loads((tmp_path / "cpu_torch_vs_reference.json").read_text())
    table = (tmp_path / "cpu_torch_vs_reference.md").read_text()
    assert data["records"] == json.loads(json.dumps(records))
    assert {"device_name", "torch", "triton", "threads"} <= data["environment"].keys()
    shapes = {case.name for case in bench.SHAPE_SETS["smoke"].values()}
    assert {(r["shape"], r["backend"]) for r in records} == {(s, b) for s in shapes for b in ("reference", "torch")}
    for r in records:
        assert r["fwd_us"] > 0 and r["fwd_bwd_us"] > 0 and len(r["repeats"]["fwd_us"]) == 1
        assert r["layout"] == "row-major" and r["timer"] == "host clock median"  # the CPU defaults
        assert r["rel_err_y"] < 1e-5 and r["rel_err_grad"] < 1e-4  # float32 against the float64 reference
        assert "u" in r["rel_err_grads"] and max(r["rel_err_grads"].values()) == r["rel_err_grad"]  # per input
        speedup = r["speedup"]["reference"]
        assert speedup["fwd_us"] > 0 and speedup["fwd_bwd_us"] > 0
        if r["backend"] == "reference":
            assert speedup == {"fwd_us": 1.0, "fwd_bwd_us": 1.0}
        assert f"{r['shape']} | {r['backend']} |" in table


def test_case_inputs_follow_the_switches():
    """ScanCase.inputs gives exactly the arguments its switches name, with the contract's shapes."""
    case = bench.ScanCase(2, 5, 6, 3, h=3, B="bias", C="selective", dt="invariant", z=True, initial_state=True)
    x = case.inputs()
    assert x["B"] is None and x["B_bias"].shape == (6, 3) and x["B_bias"].is_complex()
    assert x["C"].shape == (2, 5, 3, 3) and not x["C"].is_complex() and x["C_bias"] is None
    assert x["dt"].shape == (6,) and x["z"].shape == (2, 5, 6) and x["initial_state"].shape == (2, 6, 3)
    assert case.name == "b2-L5-d6-n3-h3-complex-bias"


@pytest.mark.parametrize("name", ["s6", "b2s6"])
def test_time_major_inputs_are_views_of_channel_major_memory(name):
    """layout="time-major": u, dt, z have (b, d, L) memory strides and the row-major values of the same seed."""
    case = bench.SHAPE_SETS["smoke"][name]
    rows, cols = case.inputs(seed=3), case.inputs(seed=3, layout="time-major")
    b, L, d = case.b, case.L, case.d
    assert rows.keys() == cols.keys()
    for k, v in cols.items():
        if k in ("u", "dt", "z") and v is not None:
            assert v.shape == (b, L, d) and v.stride() == (L * d, 1, L), k
            assert rows[k].stride() == (L * d, d, 1), k
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, rows[k]), k
            assert torch.equal(bench.float64(cols)[k], bench.float64(rows)[k]), k  # the reference sees the same
        else:
            assert v == rows[k], k
    with pytest.raises(ValueError, match="layout"):
        case.inputs(layout="column-major")


def _time_major_run(tmp_path, shapes: str) -> list[dict]:
    argv = ["--backend", "torch", "--device", "cpu", "--layout", "time-major", "--shapes", shapes]
    records = bench.main([*argv, "--out", str(tmp_path), "--repeats", "1"])
    data = json.loads((tmp_path / "cpu_torch_vs_reference_time-major.json").read_text())
    table = (tmp_path / "cpu_torch_vs_reference_time-major.md").read_text()
    assert data["records"] == json.loads(json.dumps(records))
    assert data["environment"]["layout"] == "time-major"
    assert data["environment"]["timer"] == "host clock median"
    assert table.splitlines()[0].endswith(", time-major inputs")
    assert "(b, L, d) views of (b, d, L) memory" in table
    assert {r["name"] for r in records} == set(bench.SHAPE_SETS[shapes])
    for r in records:
        assert r["layout"] == "time-major" and r["timer"] == "host clock median"
        assert r["rel_err_y"] < 1e-5 and r["rel_err_grad"] < 1e-4
    return records


def test_bench_time_major_layout_on_cpu(tmp_path):
    """``--layout time-major --device cpu`` runs, records the layout and names the files after it."""
    _time_major_run(tmp_path, "smoke")


@pytest.mark.slow
def test_bench_time_major_layout_on_the_cpu_shapes(tmp_path):
    """The same on the CPU shape set (about a minute on two cores)."""
    _time_major_run(tmp_path, "cpu")


def test_measure_with_do_bench_interleaves_runners(monkeypatch):
    """timer="do_bench median" (CUDA's default) calls do_bench for median times, per repeat and runner, with no
    extra warm-up round, and records the median of its medians. A stand-in do_bench, as there is no GPU here."""
    import triton.testing

    calls = []

    def do_bench(fn, **kwargs):
        fn()
        calls.append(kwargs)
        return 0.25 * len(calls)  # ms

    monkeypatch.setattr(triton.testing, "do_bench", do_bench)
    case = bench.SHAPE_SETS["smoke"]["s6"]
    records = bench.measure(case, ["reference", "torch"], "cpu", 3, layout="time-major", timer="do_bench median")
    assert calls == [{**bench.DO_BENCH_MS, "return_mode": "median"}] * 12  # 3 repeats x 2 runners x (fwd, fwd+bwd)
    ref, torch_ = records
    # call k returns 250 k µs; the runners alternate: reference fwd, fwd+bwd, torch fwd, fwd+bwd, then again
    assert ref["repeats"] == {"fwd_us": [250.0, 1250.0, 2250.0], "fwd_bwd_us": [500.0, 1500.0, 2500.0]}
    assert torch_["repeats"] == {"fwd_us": [750.0, 1750.0, 2750.0], "fwd_bwd_us": [1000.0, 2000.0, 3000.0]}
    assert (ref["fwd_us"], torch_["fwd_bwd_us"]) == (1250.0, 2000.0)
    for r in records:
        assert r["timer"] == "do_bench median" and r["layout"] == "time-major"
        assert r["rel_err_y"] < 1e-5 and r["rel_err_grad"] < 1e-4
    with pytest.raises(ValueError, match="timer"):
        bench.measure(case, ["torch"], "cpu", 1, timer="wall")


def test_measure_gives_each_runner_the_upstream_gradient_in_its_y_layout(monkeypatch):
    """The upstream gradient has one set of values, stored like each runner's y (gpu_bench's ``randn_like(y)``)."""
    seen = {}

    def runner(name, layout):
        def fn(inputs):
            y = bench.selective_scan(**inputs, backend="torch")[0]
            y = same_layout(y, layout == "time-major")
            if y.requires_grad:
                y.register_hook(lambda g: seen.setdefault(name, []).append((g.stride(), g.clone())))
            return y

        return bench.Runner(fn, lambda case, device: True)

    monkeypatch.setitem(bench.RUNNERS, "rows", runner("rows", "row-major"))
    monkeypatch.setitem(bench.RUNNERS, "cols", runner("cols", "time-major"))
    case = bench.SHAPE_SETS["smoke"]["s6"]
    bench.measure(case, ["rows", "cols"], "cpu", 1, warmup=0, layout="time-major")
    L, d = case.L, case.d
    assert {stride for stride, _ in seen["rows"]} == {(L * d, d, 1)}
    assert {stride for stride, _ in seen["cols"]} == {(L * d, 1, L)}
    assert all(torch.equal(g, seen["rows"][0][1]) for _, g in seen["rows"] + seen["cols"])


def test_speedups_against_the_baseline_and_every_peer(monkeypatch):
    """``speedup[other]`` = other's µs / this backend's µs, for the baseline and every peer on the same shape;
    the markdown's "vs peer" column shows the peers' (hand-computed from the stand-in times below)."""
    monkeypatch.setitem(bench.RUNNERS, "peer_a", bench.Runner(None, lambda case, device: True, peer=True))
    records = [
        dict(shape="s", backend="reference", fwd_us=400.0, fwd_bwd_us=1200.0, rel_err_y=0.0, rel_err_grad=0.0),
        dict(shape="s", backend="torch", fwd_us=100.0, fwd_bwd_us=300.0, rel_err_y=0.0, rel_err_grad=0.0),
        dict(shape="s", backend="peer_a", fwd_us=200.0, fwd_bwd_us=150.0, rel_err_y=0.0, rel_err_grad=0.0),
        dict(shape="t", backend="torch", fwd_us=50.0, fwd_bwd_us=50.0, rel_err_y=0.0, rel_err_grad=0.0),
    ]
    bench.add_speedups(records, "reference")
    ref, torch_, peer, other_shape = records
    assert ref["speedup"] == {
        "reference": {"fwd_us": 1.0, "fwd_bwd_us": 1.0},
        "peer_a": {"fwd_us": 0.5, "fwd_bwd_us": 0.125},
    }
    assert torch_["speedup"] == {"reference": {"fwd_us": 4.0, "fwd_bwd_us": 4.0},
                                 "peer_a": {"fwd_us": 2.0, "fwd_bwd_us": 0.5}}  # fmt: skip
    assert peer["speedup"] == {"reference": {"fwd_us": 2.0, "fwd_bwd_us": 8.0}}  # not against itself
    assert "speedup" not in other_shape  # no baseline or peer timed on shape t
    env = {"device": "cpu", "device_name": "x", "torch": "t", "triton": None, "threads": 1, "cpu_count": 1}
    table = bench.markdown(records, env, "reference")
    assert "| s | torch | 100 | 300 | 4.0× | 4.0× | 2.00× / 0.50× peer_a |" in table
    assert "| s | peer_a | 200 | 150 | 2.0× | 8.0× | — |" in table


def test_once_times_a_backend_in_one_repeat(tmp_path):
    """``--once reference``: the slow baseline is timed in the first repeat only, the others in every one."""
    records = bench.main(["--backend", "torch", "--shapes", "smoke", "--out", str(tmp_path), "--repeats", "3",
                          "--once", "reference"])  # fmt: skip
    for r in records:
        timed = 1 if r["backend"] == "reference" else 3
        assert len(r["repeats"]["fwd_us"]) == len(r["repeats"]["fwd_bwd_us"]) == timed


def test_speedups_keep_dtypes_of_one_shape_apart(monkeypatch):
    """Two named cases of one shape in two dtypes (mamba130m-bf16 and -fp32) are compared only within each."""
    monkeypatch.setitem(bench.RUNNERS, "peer_a", bench.Runner(None, lambda case, device: True, peer=True))
    records = [
        dict(name=f"s-{dtype}", shape="s", backend=backend, fwd_us=us, fwd_bwd_us=2 * us, rel_err_y=0.0,
             rel_err_grad=0.0)
        for dtype, times in (("bf16", {"torch": 100.0, "peer_a": 300.0}), ("fp32", {"torch": 400.0, "peer_a": 200.0}))
        for backend, us in times.items()
    ]  # fmt: skip
    bench.add_speedups(records, "torch")
    assert [r["speedup"].get("peer_a", {}).get("fwd_us") for r in records] == [3.0, None, 0.5, None]
    assert [r["speedup"]["torch"]["fwd_us"] for r in records] == [1.0, 1 / 3, 1.0, 2.0]


def test_absent_peer_is_said_and_left_out(monkeypatch, tmp_path, capsys):
    """A requested peer that cannot run here is named with its reason (printed, in the JSON and the table) and
    has no rows; a runner's setup runs once, before any timing, on CUDA only (not here)."""
    calls = []
    monkeypatch.setitem(bench.RUNNERS, "ghost", bench.Runner(None, lambda case, device: False, peer=True,
                                                             needs=lambda: "not installed",
                                                             setup=lambda: calls.append("setup")))  # fmt: skip
    bench.main(["--backend", "torch", "ghost", "--shapes", "smoke", "--out", str(tmp_path), "--repeats", "1"])
    assert "ghost: absent, its rows are left out — not installed" in capsys.readouterr().out
    data = json.loads((tmp_path / "cpu_torch_ghost_vs_reference.json").read_text())
    assert data["environment"]["absent"] == {"ghost": "not installed"}
    assert {r["backend"] for r in data["records"]} == {"reference", "torch"}
    assert "Absent, so left out: ghost (not installed)." in (tmp_path / "cpu_torch_ghost_vs_reference.md").read_text()
    assert calls == []


def test_results_are_written_after_every_shape(monkeypatch, tmp_path):
    """An interrupted run keeps the shapes it finished: the JSON is rewritten after each shape."""
    real_measure = bench.measure
    seen = []

    def measure(case, *args, **kwargs):
        if seen:  # the second shape fails, as a crash or a time limit would
            raise RuntimeError("interrupted")
        seen.append(case)
        return real_measure(case, *args, **kwargs)

    monkeypatch.setattr(bench, "measure", measure)
    with pytest.raises(RuntimeError, match="interrupted"):
        bench.main(["--backend", "torch", "--shapes", "smoke", "--out", str(tmp_path), "--repeats", "1"])
    data = json.loads((tmp_path / "cpu_torch_vs_reference.json").read_text())
    assert {r["shape"] for r in data["records"]} == {seen[0].name}
    assert len(data["records"]) == 2
