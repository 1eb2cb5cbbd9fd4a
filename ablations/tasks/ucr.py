"""Real time-series classification from the UCR / UEA archive, in the ``.ts`` format.

Zero setup: the sktime wheel bundles a handful of archive datasets (ACSF1 L = 1460, PLAID up to L = 1344,
OSULeaf L = 427, GunPoint L = 150, ArrowHead, ItalyPowerDemand, BasicMotions (6 channels),
JapaneseVowels (12 channels, variable length), ...). Install it with ``pip install --no-deps sktime``: its
files are found through the import system without importing sktime. Any other archive dataset is read
from ``<data root>/ucr/<Name>/<Name>_TRAIN.ts`` and ``<Name>_TEST.ts`` (the archive's own layout).

The archive's TEST split is the test split; ``val_fraction`` of TRAIN, stratified, is held out with a fixed
seed. Channels are standardised with the training split's mean and standard deviation; missing values
(``?``) become 0 after that. Variable-length datasets are right-padded to the longest series and their
items are ``(x, y, length)``; equal-length ones give ``(x, y)``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablations.tasks.base import DatasetMissing, Task, input_spec, output_spec, register_task
from ablations.tasks.padded import PaddedDataset
from ablations.tasks.ts_format import read_ts

_SPLIT_SEED = 0  # the fixed train/val split; never the run's seed


def sktime_data_dir() -> Path | None:
    """The folder of datasets bundled in the installed sktime wheel, found without importing sktime."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


@register_task("ucr")
class UCR(Task):
    """Classify a UCR / UEA time series (archive dataset ``dataset``)."""

    metric = "accuracy"
    higher_is_better = True

    @dataclass
    class Config:
        dataset: str = "GunPoint"  # the archive's dataset name (folder and file prefix), e.g. ACSF1, PLAID, OSULeaf
        val_fraction: float = 0.2  # share of the archive's TRAIN split held out for validation
        normalize: bool = True  # standardise each channel with the training split's statistics

    def __init__(self, cfg: Config, data_root: Path):
        super().__init__(cfg, data_root)
        if not 0 < cfg.val_fraction < 1:
            raise ValueError(f"ucr: val_fraction must be in (0, 1), got {cfg.val_fraction}.")
        self._data = None

    def locate(self) -> Path:
        return self.folder()

    def folder(self) -> Path:
        """The first folder holding ``<dataset>_TRAIN.ts`` and ``_TEST.ts``: the data root's, then sktime's."""
        name = self.cfg.dataset
        candidates = [self.data_root / "ucr" / name]
        bundled = sktime_data_dir()
        if bundled is not None:
            candidates.append(bundled / name)
        for folder in candidates:
            if (folder / f"{name}_TRAIN.ts").is_file() and (folder / f"{name}_TEST.ts").is_file():
                return folder
        raise DatasetMissing(
            f"ucr/{name}",
            candidates[0],
            [f"{name}_TRAIN.ts", f"{name}_TEST.ts"],
            "`pip install --no-deps sktime` bundles ACSF1, ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand, "
            "JapaneseVowels, OSULeaf, PLAID"
            + ("" if bundled is None else f" (installed: {', '.join(sorted(p.name for p in bundled.iterdir()))})")
            + "; other datasets: download the archive's .ts files (timeseriesclassification.com) into that folder.",
        )

    def _load(self):
        if self._data is None:
            from sklearn.model_selection import train_test_split

            folder, name = self.folder(), self.cfg.dataset
            train, test = read_ts(folder / f"{name}_TRAIN.ts"), read_ts(folder / f"{name}_TEST.ts")
            if train.classes != test.classes or train.channels != test.channels:
                raise ValueError(f"ucr/{name}: TRAIN and TEST disagree on classes or channels.")
            index = np.arange(len(train.labels))
            stratify = train.labels if np.bincount(train.labels).min() >= 2 else None
            fit, val = train_test_split(
                index, test_size=self.cfg.val_fraction, stratify=stratify, random_state=_SPLIT_SEED
            )
            values = np.concatenate([train.series[i] for i in fit], axis=1)  # (channels, total steps)
            mean, std = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
            if not self.cfg.normalize:
                mean, std = np.zeros_like(mean), np.ones_like(std)
            std = np.where(std > 0, std, 1.0)

            def sequences(data, rows):  # -> list of (length, channels) float32
                return [np.nan_to_num((data.series[i].T - mean) / std).astype(np.float32) for i in rows]

            parts = [
                (sequences(train, fit), train.labels[fit]),
                (sequences(train, val), train.labels[val]),
                (sequences(test, range(len(test.labels))), test.labels),
            ]
            lengths = {len(s) for seqs, _ in parts for s in seqs}
            seq_len = max(lengths)
            if len(lengths) == 1:
                splits = tuple(
                    torch.utils.data.TensorDataset(torch.from_numpy(np.stack(s)), torch.from_numpy(y)) for s, y in parts
                )
            else:
                splits = tuple(PaddedDataset.from_sequences(s, y, seq_len) for s, y in parts)
            self._data = (splits, seq_len, train.channels, len(train.classes))
        return self._data

    @property
    def input(self):
        return input_spec("real", self._load()[2])

    @property
    def output(self):
        return output_spec("classes", self._load()[3])

    @property
    def seq_len(self) -> int:
        return self._load()[1]

    def datasets(self):
        return self._load()[0]
