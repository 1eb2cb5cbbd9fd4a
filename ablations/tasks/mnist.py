"""Sequential (and bit-reversal permuted) MNIST and Fashion-MNIST from the IDX files, as in state-spaces/s4.

Each 28 × 28 image is read pixel by pixel (L = 784, one channel, values in [0, 1]); ``pool = 2`` averages
2 × 2 squares first (L = 196, a CPU-sized variant). ``psmnist`` / ``psfashion`` reorder the steps by s4's
bit-reversal permutation. The official test split is the test split; a seeded random ``val_fraction`` of
the training split is validation (s4: 0.1, seed 42).

Files (plain or ``.gz``): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, looked for in ``<root>/mnist/MNIST/raw`` (torchvision's and so s4's layout) and
``<root>/mnist``; for Fashion-MNIST in ``<root>/fashion_mnist/FashionMNIST/raw``, ``<root>/fashion_mnist``, and
the system folder where Debian's ``dataset-fashion-mnist`` package installs them.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import DataFormatError, DatasetMissing, register_task
from ablations.tasks.image_sequences import ImageTask, bitreversal_permutation, random_split

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (plain or gzip) as a uint8 array of its stated shape; ``DataFormatError`` if malformed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as err:  # a truncated or corrupt gzip stream
        raise DataFormatError(path, f"cannot be read ({err}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFormatError(path, "not an IDX file (the magic number must start with two zero bytes).")
    if data[2] != 0x08:
        raise DataFormatError(path, f"element type 0x{data[2]:02x} is not unsigned byte (0x08).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)):
        raise DataFormatError(
            path, f"holds {len(body)} bytes of data where its header {shape} needs {int(np.prod(shape))}."
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


@register_task("smnist")
class SMNIST(ImageTask):
    """Classify a handwritten digit read pixel by pixel."""

    metric = "accuracy"
    higher_is_better = True
    height = width = 28
    folder_names = ("mnist/MNIST/raw", "mnist")
    system_folders: tuple[Path, ...] = ()
    how = "download the four MNIST IDX files (yann.lecun.com/exdb/mnist or a mirror) into that folder."

    @dataclass
    class Config:
        permute: bool = False  # reorder the steps by s4's bit-reversal permutation
        pool: int = 1  # average pool × pool squares first: 1 gives L = 784, 2 gives L = 196
        val_fraction: float = 0.1  # share of the training images held out for validation
        split_seed: int = 42  # seed of the train/val split (s4's)

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        self.check_pool()
        self._data = None

    def permutation(self) -> np.ndarray | None:
        return bitreversal_permutation(self.seq_len) if self.cfg.permute else None

    def locate(self) -> Path:
        return self.folder()

    def folder(self) -> Path:
        """The first candidate folder holding all four files."""
        candidates = [self.data_root / f for f in self.folder_names] + list(self.system_folders)
        for folder in candidates:
            if all(find_file(folder, name) for pair in FILES.values() for name in pair):
                return folder
        raise DatasetMissing(self.name, candidates[0], [n for pair in FILES.values() for n in pair], self.how)

    def datasets(self):
        if self._data is None:
            folder = self.folder()
            splits = {}
            for split, (images, labels) in FILES.items():
                x, y = read_idx(find_file(folder, images)), read_idx(find_file(folder, labels))
                if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.shape[1:] != (self.height, self.width):
                    raise DataFormatError(
                        find_file(folder, images), f"images {x.shape} and labels {y.shape} do not fit 28 × 28 pairs."
                    )
                splits[split] = self.sequences(x[..., None], y)
            train, val = random_split(splits["train"], self.cfg.val_fraction, self.cfg.split_seed)
            self._data = (train, val, splits["test"])
        return self._data


@register_task("psmnist")
class PSMNIST(SMNIST):
    """sMNIST with the steps in bit-reversal order."""

    @dataclass
    class Config(SMNIST.Config):
        permute: bool = True  # reorder the steps by s4's bit-reversal permutation


@register_task("sfashion")
class SFashion(SMNIST):
    """Classify a Fashion-MNIST garment read pixel by pixel."""

    folder_names = ("fashion_mnist/FashionMNIST/raw", "fashion_mnist")
    system_folders = (SYSTEM_FASHION_DIR,)
    how = "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the four Fashion-MNIST IDX files."

    @dataclass
    class Config(SMNIST.Config):
        pass


@register_task("psfashion")
class PSFashion(SFashion):
    """sFashion with the steps in bit-reversal order."""

    @dataclass
    class Config(SMNIST.Config):
        permute: bool = True  # reorder the steps by s4's bit-reversal permutation
