"""Tiny builds of every task for the tests: small synthetic sizes, and fixture files for file-based tasks."""

import pytest
from fixture_files import (
    write_aan,
    write_cifar,
    write_imdb,
    write_listops,
    write_mnist,
    write_pathfinder,
    write_toy_ucr,
)

from ablations.tasks import build_task

SIZES = {"n_train": 16, "n_val": 8, "n_test": 8}
TINY = {
    "digits": {},
    "forgetting": {"seq_len": 12, **SIZES},
    "coefficient_recovery": {"seq_len": 64, **SIZES},
    "adding": {"seq_len": 12, **SIZES},
    "lti_recovery": {"seq_len": 16, **SIZES},
    "copy": {"n_noise": 8, "n_memorize": 3, **SIZES},
    "selective_copy": {"n_noise": 8, "n_memorize": 3, **SIZES},
    "induction": {"seq_len": 16, **SIZES},
    "mqar": {"seq_len": 16, "vocab_size": 16, "n_kv_pairs": 2, **SIZES},
    "long_memory": {"seq_len": 16, **SIZES},
    "ucr": {"dataset": "Toy"},
    "smnist": {"pool": 4},
    "psmnist": {"pool": 4},
    "sfashion": {"pool": 4},
    "psfashion": {"pool": 4},
    "scifar": {"pool": 4},
    "lra_image": {"pool": 4},
    "lra_listops": {"l_max": 32},
    "lra_text": {"l_max": 32, "min_freq": 1},
    "lra_retrieval": {"l_max": 64},
    "lra_pathfinder": {"pool": 4},
    "lra_pathx": {"resolution": 32, "pool": 4},
}
"""Overrides that make each task small enough to train a few steps in a test."""


FIXTURES = {
    "ucr": lambda root: write_toy_ucr(root),
    "smnist": lambda root: write_mnist(root / "mnist" / "MNIST" / "raw"),
    "psmnist": lambda root: write_mnist(root / "mnist"),
    "sfashion": lambda root: write_mnist(root / "fashion_mnist", gz=True),
    "psfashion": lambda root: write_mnist(root / "fashion_mnist" / "FashionMNIST" / "raw"),
    "scifar": lambda root: write_cifar(root / "cifar" / "cifar-10-batches-py"),
    "lra_image": lambda root: write_cifar(root / "cifar" / "cifar-10-batches-py"),
    "lra_listops": lambda root: write_listops(root / "listops"),
    "lra_text": lambda root: write_imdb(root / "imdb" / "aclImdb"),
    "lra_retrieval": lambda root: write_aan(root / "aan"),
    "lra_pathfinder": lambda root: write_pathfinder(root),
    "lra_pathx": lambda root: write_pathfinder(root),
}
"""Writers of small official-format files for the tasks that read files (called with the data root)."""


@pytest.fixture
def tiny_task(tmp_path):
    """``tiny_task(name)``: task ``name`` at test size, its data root under ``tmp_path``."""

    def build(name):
        FIXTURES.get(name, lambda root: None)(tmp_path)
        return build_task(name, data_root=tmp_path, **TINY[name])

    return build


@pytest.fixture
def tiny_names():
    """The tasks that have a tiny build."""
    return set(TINY)
