"""Sizing a worker's CPU thread pools, shared by the launchers (a local worker, a Slurm job)."""

from __future__ import annotations

import os


def use_threads(threads: int) -> None:
    """Give this process ``threads`` CPU threads: ``OMP_NUM_THREADS`` (read by OpenMP when torch is first
    imported here, and inherited by children) and torch's intra-op pool. ``train.threads``, when set, overrides
    it in the trainer."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
