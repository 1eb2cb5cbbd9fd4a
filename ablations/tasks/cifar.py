"""Sequential CIFAR-10 from the official python pickles, as in state-spaces/s4.

Each 32 × 32 image is read pixel by pixel (L = 1024): RGB as 3 channels normalised per channel with s4's
statistics, or ``grayscale`` (Pillow's luma) as 1 channel normalised with mean 122.6 / 255 and std
61 / 255; ``tokenize`` (grayscale only) gives grey levels 0 … 255 as tokens instead. ``pool = 2`` averages
2 × 2 squares (L = 256). The official test batch is the test split; a seeded random ``val_fraction`` of the
training batches is validation (s4: 0.1, seed 42).

Files: ``<root>/cifar/cifar-10-batches-py/data_batch_1 … data_batch_5`` and ``test_batch`` (the layout
torchvision, and so s4, uses). The pickles are read by a restricted unpickler that only builds numpy
arrays, lists and strings, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import DataFormatError, DatasetMissing, register_task
from ablations.tasks.image_sequences import ImageTask, random_split, rgb_to_gray

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how a protocol-2 pickle written by Python 3 stores bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are expected)")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: images ``(n, 32, 32, 3)`` uint8 and labels ``(n,)``; ``DataFormatError`` if malformed."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DataFormatError(path, f"not a CIFAR-10 python pickle ({err}).") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFormatError(path, "a CIFAR-10 batch is a dict with b'data' and b'labels'.")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataFormatError(path, f"b'data' must be (n, 3072) uint8 matching {len(labels)} labels, got {data.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFormatError(path, "labels must be in 0 … 9.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


@register_task("scifar")
class SCIFAR(ImageTask):
    """Classify a CIFAR-10 image read pixel by pixel."""

    metric = "accuracy"
    higher_is_better = True
    height = width = 32

    @dataclass
    class Config:
        grayscale: bool = False  # one luma channel instead of RGB as three channels
        tokenize: bool = False  # grayscale levels 0 … 255 as tokens (requires grayscale)
        pool: int = 1  # average pool × pool squares first: 1 gives L = 1024, 2 gives L = 256
        val_fraction: float = 0.1  # share of the training images held out for validation
        split_seed: int = 42  # seed of the train/val split (s4's)

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        self.check_pool()
        if cfg.tokenize and not cfg.grayscale:
            raise ValueError("scifar: tokenize needs grayscale: true (RGB pixels are not single tokens).")
        self.mean, self.std = (
            ((122.6 / 255,), (61.0 / 255,)) if cfg.grayscale else ((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
        )
        self._data = None

    @property
    def channels(self) -> int:
        return 1 if self.cfg.grayscale else 3

    def locate(self) -> Path:
        folder = self.data_root / "cifar" / "cifar-10-batches-py"
        names = (*TRAIN_FILES, TEST_FILE)
        if not all((folder / n).is_file() for n in names):
            raise DatasetMissing(
                self.name,
                folder,
                names,
                "download cifar-10-python.tar.gz (cs.toronto.edu/~kriz/cifar.html) and unpack it in <root>/cifar.",
            )
        return folder

    def datasets(self):
        if self._data is None:
            folder = self.locate()
            names = (*TRAIN_FILES, TEST_FILE)
            batches = [read_batch(folder / n) for n in names]
            images = [rgb_to_gray(b[0]) if self.cfg.grayscale else b[0] for b in batches]
            train = self.sequences(np.concatenate(images[:5]), np.concatenate([b[1] for b in batches[:5]]))
            test = self.sequences(images[5], batches[5][1])
            self._data = (*random_split(train, self.cfg.val_fraction, self.cfg.split_seed), test)
        return self._data


@register_task("lra_image")
class LRAImage(SCIFAR):
    """The LRA's Image task: grayscale CIFAR-10 read pixel by pixel (L = 1024), s4's setting."""

    @dataclass
    class Config(SCIFAR.Config):
        grayscale: bool = True  # one luma channel instead of RGB as three channels
