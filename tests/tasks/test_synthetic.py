"""The synthetic tasks: deterministic from the seed across processes, and each one's definition holds."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ablations.tasks import IGNORE_INDEX, build_task
from ablations.tasks.coefficient_recovery import first_primes

SIZES = {"n_train": 24, "n_val": 8, "n_test": 8}
SMALL = {
    "coefficient_recovery": {"seq_len": 64},
    "forgetting": {"seq_len": 16},
    "adding": {"seq_len": 16},
    "lti_recovery": {"seq_len": 32},
    "copy": {"n_noise": 12},
    "selective_copy": {"n_noise": 12},
    "induction": {"seq_len": 24},
    "mqar": {"seq_len": 32, "vocab_size": 32},
    "long_memory": {"seq_len": 24, "position": 3},
}


def digest(name: str, seed: int) -> list[str]:
    """sha256 of each split's tensors, in order train, val, test."""
    task = build_task(name, seed=seed, **SIZES, **SMALL[name])
    return [
        hashlib.sha256(b"".join(t.numpy().tobytes() for t in split.tensors)).hexdigest() for split in task.datasets()
    ]


def test_same_seed_is_byte_identical_across_processes_and_seeds_differ():
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from test_synthetic import SMALL, digest;"
        "print(json.dumps({n: digest(n, 5) for n in SMALL}))"
    )
    here = str(Path(__file__).parent)
    other = json.loads(
        subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True, check=True).stdout
    )
    for name in SMALL:
        mine = digest(name, 5)
        assert mine == other[name], f"{name}: data differs between processes"
        assert len(set(mine)) == 3, f"{name}: two splits are identical"
        assert set(mine).isdisjoint(digest(name, 6)), f"{name}: seeds 5 and 6 give the same data"


def splits(name, **overrides):
    return build_task(name, **{**SIZES, **SMALL[name], **overrides}).datasets()


def test_coefficient_recovery_signal_is_the_stated_cosine_sum():
    x, g = splits("coefficient_recovery", n_train=16)[0].tensors
    L = x.shape[1]
    t = 2 * np.pi * np.arange(L) / L
    basis = np.cos(np.outer([2, 3, 5, 7, 11, 13, 17, 19, 23, 29], t))
    recovered = x[..., 0].double().numpy() @ basis.T * 2 / L  # cosines of distinct frequencies < L/2 are orthogonal
    np.testing.assert_allclose(recovered, g.numpy(), atol=1e-5)
    assert first_primes(10)[-1] == 29


def test_adding_target_is_the_sum_of_the_marked_values():
    x, y = splits("adding", n_train=200)[0].tensors
    marks = x[..., 1]
    assert torch.equal(marks.sum(1), torch.full((200,), 2.0))
    half = x.shape[1] // 2
    assert torch.equal(marks[:, :half].sum(1), torch.ones(200))
    torch.testing.assert_close(y[:, 0], (x[..., 0] * marks).sum(1))


@pytest.mark.parametrize("name", ["copy", "selective_copy"])
def test_copying_targets_are_the_data_tokens_in_order_after_the_markers(name):
    task = build_task(name, **SIZES, **SMALL[name])
    x, y = task.datasets()[0].tensors
    M, A = task.cfg.n_memorize, task.cfg.n_tokens
    assert x.shape[1] == task.seq_len == task.cfg.n_noise + 2 * M
    assert (x[:, -M:] == A - 1).all() and (y[:, :-M] == IGNORE_INDEX).all()
    for row, target in zip(x, y, strict=True):
        data = row[:-M][(row[:-M] != 0)]
        assert torch.equal(data, target[-M:])
        assert ((1 <= data) & (data <= A - 2)).all()
    at_start = (x[:, :M] != 0).all(1)
    assert at_start.all() if name == "copy" else not at_start.all()


def test_induction_target_follows_the_first_special_token():
    task = build_task("induction", **SIZES, **SMALL["induction"])
    x, y = task.datasets()[0].tensors
    special = task.cfg.vocab_size - 1
    for row, target in zip(x, y, strict=True):
        where = (row == special).nonzero()[:, 0]
        assert len(where) == 2 and where[1] == len(row) - 1
        assert target[-1] == row[where[0] + 1] and (target[:-1] == IGNORE_INDEX).all()


def test_mqar_queries_recall_the_bound_values_from_split_vocabularies():
    task = build_task("mqar", **{**SIZES, "n_train": 64}, **SMALL["mqar"])
    x, y = task.datasets()[0].tensors
    K, V = task.cfg.n_kv_pairs, task.cfg.vocab_size
    gaps = []
    for row, target in zip(x, y, strict=True):
        keys, values = row[: 2 * K : 2], row[1 : 2 * K : 2]
        assert len(set(keys.tolist())) == K and (keys < V // 2).all() and (keys >= 1).all() and (values >= V // 2).all()
        bound = dict(zip(keys.tolist(), values.tolist(), strict=True))
        queried = (target != IGNORE_INDEX).nonzero()[:, 0]
        assert sorted(row[queried].tolist()) == sorted(bound)
        assert all(bound[row[q].item()] == target[q].item() for q in queried)
        gaps += ((queried - 2 * K) // 2).tolist()
    space = (task.cfg.seq_len - 2 * K) // 2
    assert np.mean(gaps) < (space - 1) / 2  # the power law favours short gaps over a uniform draw


def test_long_memory_target_is_the_token_at_position_s():
    task = build_task("long_memory", **SIZES, **SMALL["long_memory"])
    x, y = task.datasets()[0].tensors
    s, S = task.cfg.position, task.cfg.n_symbols
    assert torch.equal(y[:, -1], x[:, s]) and (x[:, -1] == 0).all()
    assert ((1 <= x[:, s]) & (x[:, s] <= S)).all()
    noise = torch.cat([x[:, :s], x[:, s + 1 : -1]], 1)
    assert (noise > S).all() and (noise < task.vocab_size).all()


def test_lti_recovery_target_is_the_convolution_with_the_systems_impulse_response():
    task = build_task("lti_recovery", **SIZES, **SMALL["lti_recovery"])
    u, y = task.datasets()[0].tensors
    L = u.shape[1]
    kernel = task.scale * task.impulse_response(L)
    expected = np.stack([np.convolve(row, kernel)[:L] for row in u[..., 0].double().numpy()])
    np.testing.assert_allclose(y[..., 0].numpy(), expected, rtol=1e-4, atol=1e-5)
    assert (np.abs(task.a) < 1).all()
    assert build_task("lti_recovery", seed=1).a.tolist() != task.a.tolist()
