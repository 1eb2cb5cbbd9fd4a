"""The papers' probes on the zoo's mixers at fixed seeds: fitted slopes and e-folding lengths, and the CLI."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from analysis import probes
from analysis.probe import main


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny problems: one intra-op thread is faster than two on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fits(frame) -> pd.DataFrame:
    return frame.attrs["fit"].set_index("mixer")


def test_lrd_decays_exponentially_for_ssms_not_for_attention():
    length = 192
    frame, _ = probes.lrd(("s4d", "s6", "attention"), d_model=8, length=length, draws=2, n_state=16, seed=0)
    fit = fits(frame)
    for ssm in ("s4d", "s6"):
        assert fit.loc[ssm, "site"] == "unit"
        assert 5 < fit.loc[ssm, "efold"] < length, fit  # decays by more than e within the window
    assert fit.loc["attention", "site"] == "layer"
    assert fit.loc["attention", "efold"] > 10 * length, fit  # flat in the lag
    lrd = frame.pivot(index="lag", columns="mixer", values="lrd")
    assert (lrd.loc[length - 1, ["s4d", "s6"]] < lrd.loc[1, ["s4d", "s6"]] / 3).all()


def test_influence_theorem_2():
    frame, _ = probes.influence(
        ("s4d", "s6", "b2s6"), scales=(1.0, 10.0, 100.0), d_model=8, length=16, draws=4, n_state=16, seed=0
    )
    fit = fits(frame)
    assert fit.loc["s4d", "ratio"] == pytest.approx(1.0, rel=1e-9)  # linear time-invariant: input-independent
    assert fit.loc["s6", "ratio"] < 1e-2 and fit.loc["s6", "slope"] < -2.0
    assert fit.loc["b2s6", "ratio"] > 10 * fit.loc["s6", "ratio"]
    assert fit.loc["b2s6", "slope"] > fit.loc["s6", "slope"] + 0.5


def test_grad_growth_theorem_3_slopes():
    frame, _ = probes.grad_growth(scales=(0.1, 1.0, 10.0), lengths=(16, 64, 256, 1024), trials=200, seed=0)
    fit = frame.attrs["fit"].set_index(["sweep", "param"])
    for key in [("c", "w"), ("c", "b"), ("L", "b")]:
        slope, paper = fit.loc[key, "slope"], fit.loc[key, "paper"]
        assert abs(slope - paper) <= 0.25 * paper, (key, slope, paper)
    assert math.isnan(fit.loc[("L", "w"), "paper"])


def test_stability_bounded_for_ssms():
    frame, _ = probes.stability(("s6", "s4d", "attention"), lengths=(16, 128, 512), d_model=8, draws=2, n_state=16)
    fit = fits(frame)
    for ssm in ("s6", "s4d"):
        assert abs(fit.loc[ssm, "slope"]) < 0.2 and fit.loc[ssm, "max_norm"] < 5, fit
    assert fit.loc["attention", "slope"] < -0.2  # averaging over more keys dilutes the output


def test_probe_cli_writes_data_and_figure(tmp_path, capsys):
    out = tmp_path / "probes"
    assert (
        main(["lrd", "mixers=[s6,b2s6_nobias]", "d_model=8", "length=16", "draws=1", "n_state=4", "--out", str(out)])
        == 0
    )
    for name in ("lrd.csv", "lrd_fit.csv", "lrd.png", "lrd.svg"):
        assert (out / name).stat().st_size > 0
    assert set(pd.read_csv(out / "lrd_fit.csv")["mixer"]) == {"s6", "b2s6_nobias"}
    assert "efold" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lrd", "lenght=3"], "Did you mean 'length'"),
        (["lrd", "mixers=[s7]"], "Unknown mixer 's7'"),
        (["lrd", "length"], "not key=value"),
    ],
)
def test_probe_cli_errors_name_the_fix(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_probe_cli_unknown_probe(capsys):
    with pytest.raises(SystemExit):
        main(["lrdd"])
    assert "Did you mean 'lrd'" in capsys.readouterr().err


def test_probe_a_trained_mixer_from_a_run_directory(tmp_path):
    """A run directory stands in for a mixer name: its first block's mixer is loaded from checkpoint.pt."""
    import zoo
    from ablations import store

    config = {"mixer": {"name": "s6", "n_state": 4}, "model": {"d_model": 8, "bidirectional": False}, "seed": 0}
    run = tmp_path / "runs" / "g" / "abc123"
    run.mkdir(parents=True)
    store.write_config(run, config)
    trained = zoo.build_mixer("s6", 8, n_state=4)
    with torch.no_grad():
        trained.core.dt_bias.add_(1.0)  # "training": weights that no initialisation produces
    weights = {f"blocks.0.mixer.{k}": v for k, v in trained.state_dict().items()}
    weights["blocks.0.norm.weight"] = torch.ones(8)
    torch.save({"model": weights}, run / store.CHECKPOINT_FILE)

    loaded = probes.trained_mixer(run)
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    frame, _ = probes.lrd((str(run), "s6"), d_model=8, length=16, draws=1, n_state=4)
    fit = fits(frame)
    assert fit.loc["s6@abc123", "site"] == "trained" and fit.loc["s6", "site"] == "unit"
