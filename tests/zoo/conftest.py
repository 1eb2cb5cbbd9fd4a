"""Shared settings of the zoo tests: the scan backend the SSM mixers use, small overrides per mixer."""

import pytest

import zoo

# The SSM mixers' scan backend in these tests: the step-loop reference until the fast CPU backend is committed.
SCAN_BACKEND = "reference"


def small_overrides(name: str, **extra) -> dict:
    """Overrides that keep mixer ``name`` (registered or variant) small and on the test scan backend."""
    mixer, _ = zoo.variants.resolve_mixer(name)
    fields = zoo.config_fields(mixer)
    small = {"scan_backend": SCAN_BACKEND, "n_state": 4, "n_blocks": 2, "n_heads": 2}
    return {key: value for key, value in small.items() if key in fields} | extra


@pytest.fixture
def overrides():
    """``overrides(name, **extra)`` -> small overrides for mixer ``name``."""
    return small_overrides
