"""The LRA generators (ListOps, Pathfinder) and the ``python -m ablations.data`` command line."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from ablations.data import listops, pathfinder
from ablations.data.__main__ import main
from ablations.tasks import build_task, list_tasks
from ablations.tasks.lra_text import listops_tokens, read_tsv

SMALL_LISTOPS = dict(n_train=40, n_val=5, n_test=5, max_depth=6, max_args=5, min_length=20, max_length=120)


def stack_value(tokens: list[str]) -> int:
    """Evaluate a ListOps token list (as the LRA tokenizer leaves it: ``]`` is ``X``) with a stack."""
    stack: list = []
    for token in tokens:
        if token.startswith("["):
            stack.append(token)
        elif token == "X":
            args = []
            while not (isinstance(stack[-1], str) and stack[-1].startswith("[")):
                args.append(stack.pop())
            op = stack.pop()
            ops = {"[MIN": min, "[MAX": max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: sum(a) % 10}
            stack.append(ops[op](args))
        else:
            stack.append(int(token))
    assert len(stack) == 1
    return stack[0]


def test_listops_generator_follows_the_procedure(tmp_path):
    counts = listops.generate(tmp_path, **SMALL_LISTOPS, seed=3, progress=False)
    assert counts == {"train": 40, "val": 5, "test": 5}
    sources = []
    for split in ("train", "val", "test"):
        for _, (source, target) in read_tsv(tmp_path / f"basic_{split}.tsv", 2, ["Source", "Target"]):
            tokens = listops_tokens(source)
            assert 20 < len(tokens) < 120  # the length field counts exactly the tokens left without parentheses
            assert int(target) == stack_value(tokens)
            assert source.count("(") == source.count(")")
            depth = max(np.cumsum([t.startswith("[") - (t == "X") for t in tokens]))
            assert depth <= 6 - 1  # the root sits at depth 1; values at max_depth end the recursion
            sources.append(source)
    assert len(set(sources)) == len(sources)
    ops = {t for s in sources for t in listops_tokens(s) if t.startswith("[")}
    assert ops == {"[MIN", "[MAX", "[MED", "[SM"}


def test_listops_generator_is_seeded_and_read_by_the_task(tmp_path):
    def digest(folder):
        return [hashlib.sha256((folder / f"basic_{s}.tsv").read_bytes()).hexdigest() for s in ("train", "val", "test")]

    main(["listops", "--out", str(tmp_path / "a" / "listops"), "--seed", "1"] + _flags(SMALL_LISTOPS))
    listops.generate(tmp_path / "b", **SMALL_LISTOPS, seed=1, progress=False)
    listops.generate(tmp_path / "c", **SMALL_LISTOPS, seed=2, progress=False)
    assert digest(tmp_path / "a" / "listops") == digest(tmp_path / "b") != digest(tmp_path / "c")
    train, val, test = build_task("lra_listops", data_root=tmp_path / "a", l_max=128).datasets()
    assert (len(train), len(val), len(test)) == (40, 5, 5)


def _flags(options: dict) -> list[str]:
    return [item for key, value in options.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def test_pathfinder_generator_writes_the_release_layout_with_balanced_labels(tmp_path):
    pathfinder.generate(tmp_path / "pathfinder", resolution=64, n_images=12, batch_size=6, workers=1, progress=False)
    base = tmp_path / "pathfinder" / "pathfinder64" / "curv_contour_length_14"
    assert sorted(p.name for p in (base / "metadata").iterdir()) == ["0.npy", "1.npy"]
    for batch in (0, 1):
        rows = [line.split() for line in (base / "metadata" / f"{batch}.npy").read_text().splitlines()]
        assert [r[:3] for r in rows] == [[f"imgs/{batch}", f"sample_{i}.png", str(i)] for i in range(6)]
        assert sorted(int(r[3]) for r in rows) == [0, 0, 0, 1, 1, 1]
        for r in rows:
            image = np.asarray(Image.open(base / r[0] / r[1]))
            assert image.shape == (64, 64) and image.dtype == np.uint8 and image.max() == 255
            assert 0.02 < (image > 64).mean() < 0.5  # paths and markers on a dark background
    task = build_task("lra_pathfinder", data_root=tmp_path, resolution=64)
    train, val, test = task.datasets()
    assert len(train) + len(val) + len(test) == 12


def test_pathfinder_command_writes_a_montage(tmp_path, capsys):
    out, picture = tmp_path / "pathfinder", tmp_path / "montage.png"
    main(
        ["pathfinder", "--out", str(out), "--resolution", "64", "--n-images", "4", "--workers", "1"]
        + ["--montage", str(picture)]
    )
    assert str(picture) in capsys.readouterr().out
    assert np.asarray(Image.open(picture)).shape == (4 * 68, 4 * 4 * 68)


def test_pathfinder_generator_is_seeded_across_worker_processes(tmp_path):
    def digest(root):
        files = sorted((root / "pathfinder64").rglob("*.*"))
        return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()

    pathfinder.generate(tmp_path / "one", resolution=64, n_images=4, batch_size=2, workers=1, progress=False)
    pathfinder.generate(tmp_path / "two", resolution=64, n_images=4, batch_size=2, workers=2, progress=False)
    pathfinder.generate(tmp_path / "other", resolution=64, n_images=4, batch_size=2, workers=1, seed=1, progress=False)
    assert digest(tmp_path / "one") == digest(tmp_path / "two") != digest(tmp_path / "other")


def test_pathfinder_rejects_an_unknown_resolution(tmp_path):
    with pytest.raises(ValueError, match="resolution must be one of"):
        pathfinder.generate(tmp_path, resolution=48, n_images=1, progress=False)


def test_list_shows_every_task_and_what_is_missing(tmp_path, capsys):
    (tmp_path / "listops").mkdir()
    listops.generate(tmp_path / "listops", **SMALL_LISTOPS, progress=False)
    assert main(["list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == set(list_tasks())
    assert "built-in" in rows["forgetting"] and "4096/512/1024" in rows["forgetting"]
    assert "missing" in rows["smnist"] and str(tmp_path / "mnist") in rows["smnist"]
    assert "found" in rows["lra_listops"] and str(tmp_path / "listops") in rows["lra_listops"]
