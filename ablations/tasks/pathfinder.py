"""LRA Pathfinder and Path-X from the official release layout, read as state-spaces/s4 does.

Files: ``<root>/pathfinder/pathfinder{R}/curv_contour_length_14/metadata/<k>.npy`` and the PNGs they name
(``imgs/<k>/sample_<i>.png``). Each metadata row reads ``<image dir> <file name> <index> <label> …``. The
release writes these ``.npy`` files as plain text, one row per line; metadata written by ``numpy.save``
(a string array, one row per image) is read as well. s4's blacklist (an empty image) is honoured.

An image ``R × R`` becomes a length-``R²`` sequence of one channel normalised to [−1, 1] (s4: mean 0.5,
std 0.5), or grey levels 0 … 255 as tokens with ``tokenize``; ``pool`` averages squares first. s4 splits
the whole set randomly 80 / 10 / 10 with seed 42, and so does this task. Path-X is the 128 × 128 set
(L = 16384); ``lra_pathfinder`` reads any of 32, 64, 128, 256 (``python -m ablations.data pathfinder`` can
generate them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablations.tasks.base import DataFormatError, DatasetMissing, register_task
from ablations.tasks.image_sequences import ImageTask

DIFFICULTY = "curv_contour_length_14"
BLACKLIST = {"pathfinder32/curv_baseline/imgs/0/sample_172.png"}  # s4's: an empty file in the release
NPY_MAGIC = b"\x93NUMPY"


def read_metadata(path: Path) -> list[tuple[int, list[str]]]:
    """``(line or row number, fields)`` of one metadata file, text or ``numpy.save`` format."""
    if path.read_bytes()[:6] == NPY_MAGIC:
        try:
            rows = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise DataFormatError(path, f"not a string array ({err}).") from None
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        return [(i + 1, [str(v) for v in row]) for i, row in enumerate(rows)]
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(i + 1, line.split()) for i, line in enumerate(lines) if line.strip()]


class PNGReader:
    """``reader(i)``: image ``i`` of ``paths`` as s4 opens it (Pillow, converted to grey), ``(side, side, 1)`` uint8.

    A class rather than a closure so that data-loader worker processes can receive it."""

    def __init__(self, paths: list[Path], side: int):
        self.paths, self.side = paths, side

    def __call__(self, i: int) -> np.ndarray:
        from PIL import Image

        with Image.open(self.paths[i]) as image:
            pixels = np.array(image.convert("L"))
        if pixels.shape != (self.side, self.side):
            raise DataFormatError(self.paths[i], f"image is {pixels.shape}, expected {self.side} × {self.side}.")
        return pixels[..., None]


@register_task("lra_pathfinder")
class LRAPathfinder(ImageTask):
    """Decide whether the two circles of an image are joined by one dashed path."""

    metric = "accuracy"
    higher_is_better = True
    n_classes = 2
    mean, std = (0.5,), (0.5,)

    @dataclass
    class Config:
        resolution: int = 32  # image side R: 32, 64, 128 or 256 (L = R²)
        tokenize: bool = False  # grey levels 0 … 255 as tokens instead of normalised reals
        pool: int = 1  # average pool × pool squares first (L = (R / pool)²)
        val_fraction: float = 0.1  # share of the images for validation (s4's)
        test_fraction: float = 0.1  # share of the images for testing (s4's)
        split_seed: int = 42  # seed of the random split (s4's)

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.resolution not in (32, 64, 128, 256):
            raise ValueError(f"{self.name}: resolution must be 32, 64, 128 or 256, got {cfg.resolution}.")
        self.height = self.width = cfg.resolution
        self.check_pool()
        self._data = None

    def folder(self) -> Path:
        return self.data_root / "pathfinder" / f"pathfinder{self.cfg.resolution}"

    def metadata_files(self) -> list[Path]:
        """The metadata files in s4's order (by number); ``DatasetMissing`` if there are none."""
        base = self.folder() / DIFFICULTY
        files = sorted((base / "metadata").glob("*.npy"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
        if not files:
            raise DatasetMissing(
                self.name,
                base,
                ["metadata/0.npy …", "imgs/0/sample_0.png …"],
                "download lra_release.gz (github.com/google-research/long-range-arena) and link its "
                f"pathfinder{self.cfg.resolution} folder there, or run "
                f"`python -m ablations.data pathfinder --resolution {self.cfg.resolution} "
                f"--out {self.data_root / 'pathfinder'}`.",
            )
        return files

    def locate(self) -> Path:
        self.metadata_files()
        return self.folder()

    def samples(self) -> list[tuple[Path, int]]:
        """``(image path, label)`` of every listed image, in s4's order."""
        samples = []
        for path in self.metadata_files():
            for number, fields in read_metadata(path):
                if len(fields) < 4:
                    raise DataFormatError(
                        path, f"a row needs at least 4 fields (dir, file, index, label): {fields}", number
                    )
                if fields[3] not in ("0", "1"):
                    raise DataFormatError(path, f"label {fields[3]!r} must be 0 or 1.", number)
                image = Path(DIFFICULTY) / fields[0] / fields[1]
                if f"{self.folder().name}/{image}" not in BLACKLIST:
                    samples.append((self.folder() / image, int(fields[3])))
        return samples

    def datasets(self):
        if self._data is None:
            samples = self.samples()
            load = PNGReader([p for p, _ in samples], self.cfg.resolution)
            dataset = self.sequences(load, [label for _, label in samples])
            n = len(dataset)
            n_val, n_test = int(self.cfg.val_fraction * n), int(self.cfg.test_fraction * n)
            generator = torch.Generator().manual_seed(self.cfg.split_seed)
            self._data = tuple(torch.utils.data.random_split(dataset, [n - n_val - n_test, n_val, n_test], generator))
        return self._data


@register_task("lra_pathx")
class LRAPathX(LRAPathfinder):
    """Path-X: Pathfinder at 128 × 128, L = 16384."""

    @dataclass
    class Config(LRAPathfinder.Config):
        resolution: int = 128  # image side R: 32, 64, 128 or 256 (L = R²)
