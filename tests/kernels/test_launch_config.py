"""The GPU tiling rules of ``launch_config`` and the backward's flip choice, checked on the host (no GPU needed):
the device's multiprocessor count is faked, and nothing is launched."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

# the kernel modules read TRITON_INTERPRET when imported; the interpreter tests need them imported under it
os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton", reason="triton is not installed")

from kernels.scan import autograd, triton_bwd  # noqa: E402

CUDA = torch.device("cuda")


@pytest.fixture
def h200(monkeypatch):
    """A CUDA device with 132 multiprocessors, outside the interpreter."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(multi_processor_count=132))


@pytest.mark.parametrize(
    "b, d, L, n, itemsize, block_r, tile, unroll, maxnreg",
    [
        (8, 1536, 2048, 16, 2, 2, 256, 4, 128),  # mamba130m-bf16: 6144 programs of 2 channels, 46 per SM
        (8, 1536, 2048, 16, 4, 2, 128, 2, None),  # mamba130m-fp32: float32 tiles of 128 steps, unrolled 2
        (8, 512, 4096, 64, 2, 2, 256, 4, 128),  # n64-bf16: 2048 programs, 15.5 per SM
        (2, 512, 16384, 16, 2, 1, 256, 16, None),  # long-bf16: 512 programs of two would be 3.9 per SM: one each
        (2, 512, 16384, 64, 4, 1, 128, 16, None),  # unrolled at most 16
    ],
)
def test_real_a_forward_tiling(h200, b, d, L, n, itemsize, block_r, tile, unroll, maxnreg):
    cfg = autograd.launch_config(b, L, d, n, 1, CUDA, itemsize=itemsize)
    assert (cfg.block_r, cfg.tile, cfg.num_warps, cfg.unroll, cfg.maxnreg) == (block_r, tile, 1, unroll, maxnreg)
    assert (cfg.bwd_block_r, cfg.bwd_num_warps, cfg.bwd_stages, cfg.stages) == (2, 1, 3, 1)


def test_block_r_divides_the_channels_of_a_block(h200):
    cfg = autograd.launch_config(8, 2048, 1536, 16, 512, CUDA, itemsize=2)  # h = 512: 3 channels per block
    assert (cfg.block_r, cfg.bwd_block_r) == (1, 1)


def test_complex_a_is_not_unrolled_or_capped(h200):
    cfg = autograd.launch_config(8, 2048, 1536, 16, 1, CUDA, is_complex=True, itemsize=2)
    assert (cfg.block_r, cfg.unroll, cfg.maxnreg, cfg.bwd_block_r) == (1, 1, None, 1)


def test_overrides_win_over_the_rules(h200):
    cfg = autograd.launch_config(8, 2048, 1536, 16, 1, CUDA, itemsize=2, unroll=8, maxnreg=0, bwd_stages=1, stages=2)
    assert (cfg.unroll, cfg.maxnreg, cfg.bwd_stages, cfg.stages) == (8, 0, 1, 2)


def test_forward_and_backward_split_into_chunks_on_their_own(h200):
    # long-bf16: 1024 forward programs (one channel each) fill 132 SMs twice over, one pass; 512 backward programs
    # (two channels each) are fewer than 4 per SM: 2 chunks
    cfg = autograd.launch_config(2, 16384, 512, 16, 1, CUDA, itemsize=2)
    assert (cfg.n_tiles, cfg.n_chunks, cfg.bwd_n_chunks, cfg.bwd_tiles_per_chunk) == (64, 1, 2, 32)
    cfg = autograd.launch_config(8, 2048, 1536, 16, 1, CUDA, itemsize=2)  # mamba130m-bf16: one pass each
    assert (cfg.n_chunks, cfg.bwd_n_chunks) == (1, 1)
    cfg = autograd.launch_config(2, 16384, 512, 16, 1, CUDA, itemsize=2, tiles_per_chunk=16, bwd_tiles_per_chunk=16)
    assert (cfg.n_chunks, cfg.bwd_n_chunks) == (4, 4)


def test_interpreter_keeps_one_stage(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    cfg = autograd.launch_config(8, 2048, 1536, 16, 1, CUDA, itemsize=2)
    assert (cfg.bwd_stages, cfg.maxnreg, cfg.unroll) == (1, None, 1)


def _prepared(dtype, time_major, fast=True, dt_dtype=None):
    def steps(dtype):
        x = torch.zeros(1, 64, 3, dtype=dtype)
        return x.transpose(1, 2).contiguous().transpose(1, 2) if time_major else x

    return SimpleNamespace(u=steps(dtype), dt=steps(dt_dtype or dtype), z=None, flags={"FAST": fast})


@pytest.mark.parametrize(
    "dtype, time_major, fast, warps, tile, expected",
    [
        (torch.bfloat16, True, True, 1, 256, 8),  # 16-byte loads: 8 steps per thread
        (torch.float32, True, True, 1, 128, 4),
        (torch.float32, True, True, 1, 256, 0),  # two runs of 4 steps per thread: Triton may regroup them
        (torch.bfloat16, True, True, 1, 512, 0),
        (torch.float32, True, True, 1, 64, 0),  # 64 steps do not cover 32 lanes × 4
        (torch.bfloat16, False, True, 1, 256, 0),  # row-major: time is not the vector axis
        (torch.bfloat16, True, True, 2, 256, 0),  # two warps: lanes no longer span the tile
        (torch.bfloat16, True, False, 1, 256, 0),  # interpreter: no inline shuffles
    ],
)
def test_shuffle_flip_only_where_the_layout_is_known(dtype, time_major, fast, warps, tile, expected):
    cfg = SimpleNamespace(bwd_num_warps=warps, tile=tile)
    assert triton_bwd.lane_vector(_prepared(dtype, time_major, fast), cfg) == expected


def test_no_shuffle_flip_when_dt_has_another_dtype():
    """A float32 dt beside bf16 u may give the tile another vector width: the generic flip is used."""
    cfg = SimpleNamespace(bwd_num_warps=1, tile=256)
    assert triton_bwd.lane_vector(_prepared(torch.bfloat16, True, dt_dtype=torch.float32), cfg) == 0
    assert triton_bwd.lane_vector(_prepared(torch.bfloat16, True, dt_dtype=torch.bfloat16), cfg) == 8
