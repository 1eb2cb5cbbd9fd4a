"""Config composition, grid expansion and the status-2 errors: every mistake stops before a run dir exists."""

import pytest

from ablations import store
from ablations.config import ConfigError, compose, group_choices, split_overrides
from ablations.grid import expand, load_grid
from ablations.run import main


def test_compose_applies_choices_then_dotted_keys_with_types():
    config = compose([split_overrides(["mixer=b2s6_nobias", "mixer.n_blocks=4", "train.lr=1e-3", "train.epochs=3"])])
    assert config["mixer"]["name"] == "b2s6" and config["mixer"]["bias"] is False
    assert config["mixer"]["n_blocks"] == 4
    assert config["train"]["lr"] == pytest.approx(1e-3) and isinstance(config["train"]["lr"], float)
    assert config["train"]["epochs"] == 3
    assert {"mixer", "model", "task", "train", "launcher", "seed", "plugins", "store", "data", "grid"} <= set(config)
    # a later choice of the same group wins, and the mixer's own schema fills every field
    config = compose([[("mixer", "b2s6_nobias")], [("mixer", "s6")]])
    assert config["mixer"]["name"] == "s6" and "bias" not in config["mixer"]


@pytest.mark.parametrize(
    "argument,needles",
    [
        ("mixer.n_blockz=4", ["mixer.n_blockz", "n_blocks"]),
        ("mixer=b2s7", ["b2s7", "b2s6"]),
        ("train.lr=fast", ["train.lr", "fast", "float"]),
        ("model=hueg", ["model=hueg", "Valid"]),
        ("trian.lr=1", ["trian", "train"]),
    ],
)
def test_bad_command_line_exits_2_naming_the_problem(workdir, tiny, capsys, argument, needles):
    assert main([*tiny, argument]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err
    assert not (workdir / "runs").exists()


def test_grid_cell_that_the_mixer_rejects_exits_2_before_anything_runs(workdir, tiny, write_grid, capsys):
    grid = write_grid(
        """
        name: bad
        base: {model.d_model: 16}
        axes:
          mixer.n_blocks: [2, 3]
        """
    )
    assert main([f"grid={grid}", *[t for t in tiny if not t.startswith("mixer.n_blocks")]]) == 2
    err = capsys.readouterr().err
    assert "mixer.n_blocks=3" in err and "does not divide" in err
    assert not (workdir / "runs").exists()  # the valid first cell did not run either


def test_grid_expansion_crosses_variants_axes_and_seeds(workdir, tiny, write_grid):
    grid = write_grid(
        """
        name: g
        base: {mixer: b2s6}
        variants:
          - {name: complex}
          - {name: real, mixer.complex: false}
        axes:
          mixer.bias: [true, false]
          mixer.n_blocks: [1, 2]
        seeds: [0, 1]
        """
    )
    cells = expand(load_grid(grid), split_overrides([*tiny[:-2], "train.lr=1e-3"]))
    assert len(cells) == 16 and len({c.run_id for c in cells}) == 16
    real = [c for c in cells if c.config["grid"]["variant"] == "real"]
    assert len(real) == 8 and all(c.config["mixer"]["complex"] is False for c in real)
    assert all(c.config["train"]["lr"] == pytest.approx(1e-3) for c in cells)  # the command line reaches every cell
    first = cells[0]
    axes = {"mixer.bias": True, "mixer.n_blocks": 1}
    assert first.config["grid"] == {"name": "g", "variant": "complex", "axes": axes}
    assert first.path == workdir / "runs" / "g" / first.run_id
    assert store.run_id(first.config) == first.run_id
    with pytest.raises(ConfigError, match="is an axis"):
        expand(load_grid(grid), [("mixer.bias", True)])


def test_run_ids_follow_semantic_keys_only(tiny):
    def ids(*extra):
        return store.run_id(compose([split_overrides([*tiny, *extra])]))

    assert ids() == ids()
    assert ids("launcher.workers=4") == ids()  # how many workers train it does not change a result
    assert ids("store.root=elsewhere", "train.log_every=1") == ids()
    assert ids("train.lr=1e-2") != ids()
    assert ids("seed=1") != ids()


def test_dry_run_lists_cells_and_creates_nothing(workdir, tiny, capsys):
    assert main(["grid=smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "mixer.bias" in out and "pending" in out and "2 cells" in out
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize("name", group_choices("grid"))
def test_every_shipped_grid_expands_into_buildable_cells_under_its_own_name(name, tmp_path):
    """A grid file copied for a variant (lrd_long from lrd) that kept the old name would share its store."""
    spec = load_grid(name)
    cells = expand(spec, [], root=str(tmp_path))
    assert spec["name"] == name and cells
    assert {cell.path.parent for cell in cells} == {tmp_path / name}
    assert not (tmp_path / name).exists()


def test_list_shows_groups_and_mixer_fields(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "grid: " in out and "bias_x_blocks" in out
    assert "b2s6: " in out and "n_blocks=8" in out
