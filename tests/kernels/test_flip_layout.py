"""The backward's lane-shuffle flip (``_flip_time`` with ``LANE_V`` > 0) is right only on the tile layout it assumes:
one warp, 32 lanes along time, V consecutive steps per thread. That layout is Triton's choice, so this compiles the
backward for sm_90 (no GPU needed: Triton's wheel carries ptxas) at every configuration ``lane_vector`` enables and
reads the layout of each shuffle from the TTGIR. A wrong layout showed on the H200 as O(1) errors in du, dA, dΔ
and dB."""

import os
import subprocess
import sys

import pytest
import torch

# the kernel modules read TRITON_INTERPRET when imported; the interpreter tests need them imported under it (the
# compilation for sm_90 runs in a subprocess without it)
os.environ["TRITON_INTERPRET"] = "1"

from benchmarks.kernel_sass import shuffle_layouts  # noqa: E402
from kernels.scan import triton_bwd  # noqa: E402


def _lane_vector(dtype: torch.dtype, tile: int) -> int:
    steps = torch.zeros(1, 1, tile, dtype=dtype).transpose(1, 2)  # time-major (b, L, d): stride 1 along L
    x = type("Prepared", (), {"u": steps, "dt": steps, "z": None, "flags": {"FAST": True}})
    return triton_bwd.lane_vector(x, type("Cfg", (), {"bwd_num_warps": 1, "tile": tile}))


@pytest.mark.parametrize(
    "dtype, tile, block_r, complex_a, unroll, stages, masked",
    [
        ("bf16", 256, 2, False, 1, 3, False),  # the GPU defaults for real A
        ("bf16", 256, 2, False, 1, 3, True),  # L not a multiple of the tile: masked loads
        ("bf16", 256, 1, True, 1, 3, False),  # complex A
        ("fp16", 256, 2, False, 2, 1, False),
        ("fp32", 128, 2, False, 1, 3, False),
        ("fp32", 128, 1, True, 1, 3, True),
    ],
)
def test_lane_shuffles_run_on_the_layout_they_assume(dtype, tile, block_r, complex_a, unroll, stages, masked,
                                                     tmp_path):  # fmt: skip
    v = _lane_vector({"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype], tile)
    assert v == 16 // {"bf16": 2, "fp16": 2, "fp32": 4}[dtype]
    args = ["bwd", "--block-r", block_r, "--tile", tile, "--warps", 1, "--unroll", unroll, "--stages", stages,
            "--lane-v", v, "--dtype", dtype, "--out", tmp_path]  # fmt: skip
    args += (["--complex"] if complex_a else []) + (["--masked"] if masked else [])
    env = {k: val for k, val in os.environ.items() if k != "TRITON_INTERPRET"} | {"TRITON_DEFAULT_FP_FUSION": "1"}
    run = subprocess.run([sys.executable, "-m", "benchmarks.kernel_sass", *map(str, args)], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, f"compiling the backward for sm_90 failed:\n{run.stderr[-3000:]}"
    (ttgir,) = tmp_path.glob("*.ttgir")
    layouts = shuffle_layouts(ttgir.read_text())
    assert layouts, "no lane shuffle found in the compiled backward"
    for layout in layouts:
        assert isinstance(layout, dict), f"shuffle on a non-blocked layout {layout}"
        assert layout["threadsPerWarp"] == [1, 32, 1] and layout["warpsPerCTA"] == [1, 1, 1], layout
        assert layout["sizePerThread"] == [1, 1, v], layout
