"""A real single-node Slurm cluster for the whole test session, brought up by `scripts/slurm_cluster.py`.

The tests in this folder skip, with the reason, where the Slurm and munge daemons are not installed
(`apt-get install slurmctld slurmd slurm-client munge`) or cannot start, or submitit is missing. With
`SEQZOO_REQUIRE_SLURM=1` (for CI, which installs all of these) the skip becomes a failure, so a broken
install cannot pass as a skipped test.
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm_cluster.py"


def _load_helper():
    spec = importlib.util.spec_from_file_location("slurm_cluster", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


slurm_helper = _load_helper()


def _unavailable(reason: str):
    if os.environ.get("SEQZOO_REQUIRE_SLURM") == "1":
        pytest.fail(f"SEQZOO_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cluster_helper():
    """The `scripts/slurm_cluster.py` module; skips where the daemons are not installed."""
    missing = slurm_helper.missing_programs()
    if missing:
        _unavailable(f"Slurm not installed (missing {', '.join(missing)}): {slurm_helper.INSTALL_HINT}")
    return slurm_helper


@pytest.fixture(scope="session")
def submitit():
    """The submitit module (the optional extra `seqzoo[slurm]`); skips where it is not installed."""
    try:
        import submitit
    except ImportError:
        _unavailable("submitit not installed (launcher=slurm's optional extra): pip install -e '.[slurm]'")
    return submitit


@pytest.fixture(scope="session")
def slurm_cluster(cluster_helper):
    """A running cluster for the whole session, stopped (every daemon by its pid file) at its end.

    Its directory is a short one under the system temp dir: the munge socket path must fit in 108 bytes.
    Clients find it through `cluster.env` (`SLURM_CONF`); the `slurm` fixture exports that to one test.
    """
    root = Path(tempfile.mkdtemp(prefix="seqzoo-slurm-"))
    try:
        cluster = cluster_helper.start(root)
    except cluster_helper.ClusterError as e:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the Slurm daemons did not start: {e}")
    yield cluster
    killed = cluster_helper.stop(root)
    shutil.rmtree(root, ignore_errors=True)
    assert not killed, f"daemons that ignored SIGTERM and were killed: {killed}"


@pytest.fixture
def slurm(slurm_cluster, submitit, monkeypatch):
    """The session's cluster, with its `SLURM_CONF` exported for this test (and so to submitit and the runner)."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster
