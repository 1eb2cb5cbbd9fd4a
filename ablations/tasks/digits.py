"""scikit-learn's bundled 8×8 handwritten digits read as a sequence: the zero-setup smoke task.

1797 images of 8×8 pixels with values 0..16, ten classes. ``layout="pixels"`` reads them row by row as a
length-64 sequence of one channel (``x``: ``(64, 1)``); ``layout="rows"`` as 8 steps of 8 channels
(``x``: ``(8, 8)``). Pixel values are scaled to [0, 1]. The split is fixed and stratified by class
(1257 train / 180 val / 360 test), independent of the run's seed, so every run sees the same test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ablations.tasks.base import Task, input_spec, output_spec, register_task

_SPLIT_SEED = 0  # the fixed split; never the run's seed
N_VAL, N_TEST = 180, 360


@register_task("digits")
class Digits(Task):
    """Classify the digit (10 classes) from its pixels read in raster order."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        layout: str = "pixels"  # "pixels": 64 steps × 1 channel; "rows": 8 steps × 8 channels

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if cfg.layout not in ("pixels", "rows"):
            raise ValueError(f"digits: layout must be 'pixels' or 'rows', got {cfg.layout!r}.")
        self._data = None

    @property
    def input(self):
        return input_spec("real", 1 if self.cfg.layout == "pixels" else 8)

    @property
    def output(self):
        return output_spec("classes", 10)

    @property
    def seq_len(self) -> int:
        return 64 if self.cfg.layout == "pixels" else 8

    def datasets(self):
        if self._data is None:
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split

            images, labels = load_digits(return_X_y=True)
            x = torch.tensor(images, dtype=torch.float32).reshape(len(images), self.seq_len, -1) / 16.0
            y = torch.tensor(labels, dtype=torch.int64)
            index = torch.arange(len(y)).numpy()
            rest, test = train_test_split(index, test_size=N_TEST, stratify=labels, random_state=_SPLIT_SEED)
            train, val = train_test_split(rest, test_size=N_VAL, stratify=labels[rest], random_state=_SPLIT_SEED)
            self._data = tuple(torch.utils.data.TensorDataset(x[i], y[i]) for i in (train, val, test))
        return self._data
