"""The trainer's malloc setting: freed tensors stay in the heap for the next step instead of being faulted in again."""

import ctypes
import resource
import sys

import pytest
import torch

from ablations.train import retain_freed_memory


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


def _churn() -> None:
    """Allocate 24 tensors of 4 MB at once, touching every page, and free them all."""
    tensors = [torch.ones(1 << 20) for _ in range(24)]
    del tensors


@pytest.mark.skipif(not _glibc(), reason="a setting of glibc's malloc (Linux)")
def test_freed_tensors_are_reused_without_page_faults():
    """96 MB freed at once exceeds any trim threshold glibc picks by itself (at most 64 MB): it would hand the
    memory back and fault ~2.5·10⁴ pages in again on every reallocation."""
    retain_freed_memory()
    _churn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        _churn()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    trimmed = 5 * 24 * (4 << 20) // resource.getpagesize()  # every page of every churn faulted in again
    assert faults < trimmed / 10, f"{faults} page faults while reallocating 5 × 96 MB of freed tensors"
