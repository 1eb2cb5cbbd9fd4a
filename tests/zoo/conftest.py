"""Shared settings of the zoo tests: the scan backend the SSM mixers use, small overrides per mixer."""

import pytest

import zoo

# The SSM mixers' scan backend in these tests: what users get (the chunked torch path on CPU).
SCAN_BACKEND = "auto"


def small_overrides(name: str, **extra) -> dict:
    """Overrides that keep mixer ``name`` small and on the test scan backend (a variant's own fields stay)."""
    mixer, variant = zoo.variants.resolve_mixer(name)
    fields = zoo.config_fields(mixer)
    small = {"scan_backend": SCAN_BACKEND, "n_state": 4, "n_blocks": 2, "n_heads": 2}
    return {key: value for key, value in small.items() if key in fields and key not in variant} | extra


@pytest.fixture
def overrides():
    """``overrides(name, **extra)`` -> small overrides for mixer ``name``."""
    return small_overrides
