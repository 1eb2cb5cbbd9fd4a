"""``python -m kernels.bench`` on its smoke shapes: records for every shape and backend, JSON and markdown."""

from __future__ import annotations

import json

from kernels import bench


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
        assert r["rel_err_y"] < 1e-5 and r["rel_err_grad"] < 1e-4  # float32 against the float64 reference
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
