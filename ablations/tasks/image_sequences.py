"""Images read as sequences, as state-spaces/s4 does: pixels in raster order, optionally pooled and permuted.

An image ``(H, W, C)`` uint8 becomes ``(L, C)`` float32 with ``L = (H / pool) · (W / pool)``: scaled to
[0, 1], mean-pooled over ``pool × pool`` squares, normalised with the task's mean and std, flattened row
by row, and reordered by a fixed permutation (``psmnist``: bit reversal). With ``tokenize`` (one channel)
it becomes ``(L,)`` int64 grey levels ``0 … 255`` instead, s4's byte-level variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ablations.tasks.base import Task, input_spec, output_spec


def bitreversal_permutation(n: int) -> np.ndarray:
    """s4's bit-reversal order of ``range(n)``: bit-reverse over the next power of two, keep entries < n."""
    bits = max(1, (n - 1).bit_length())
    reversed_ = np.array([int(format(i, f"0{bits}b")[::-1], 2) for i in range(1 << bits)])
    return reversed_[reversed_ < n]


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 RGB -> ``(..., 1)`` uint8 luma, bit-exact with Pillow's ``convert("L")`` (ITU-R 601-2)."""
    r, g, b = (images[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]


class ImageSequences(torch.utils.data.Dataset):
    """Images turned into sequences on access. ``images`` is ``(n, H, W, C)`` uint8 or a callable ``i -> (H, W, C)``
    (for images read from disk one at a time); item ``i`` is ``(x, labels[i])``, ``x`` as the module describes."""

    def __init__(
        self,
        images: np.ndarray | Callable[[int], np.ndarray],
        labels: Sequence[int] | np.ndarray,
        *,
        pool: int,
        mean: Sequence[float],
        std: Sequence[float],
        permutation: np.ndarray | None,
        tokenize: bool = False,
    ):
        self.images, self.labels = images, torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        self.pool, self.tokenize = pool, tokenize
        self.mean, self.std = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
        self.permutation = None if permutation is None else torch.as_tensor(permutation)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images(i) if callable(self.images) else self.images[i]
        x = torch.from_numpy(np.ascontiguousarray(image)).to(torch.float32) / 255.0  # (H, W, C)
        H, W, C = x.shape
        if self.pool > 1:
            k = self.pool
            x = x.reshape(H // k, k, W // k, k, C).mean(dim=(1, 3))
        x = x.reshape(-1, C)  # (L, C), row by row
        if self.tokenize:
            x = (x[:, 0] * 255).long()  # (L,)
        else:
            x = (x - self.mean) / self.std
        if self.permutation is not None:
            x = x[self.permutation]
        return x, self.labels[i]


class ImageTask(Task):
    """Shared shape logic of image-as-sequence classification tasks.

    Subclasses set ``height``, ``width``, ``n_classes``, and give ``channels``; their ``Config`` has ``pool``
    (and may have ``tokenize``); :meth:`sequences` builds an :class:`ImageSequences` with the task's settings.
    """

    height: int
    width: int
    n_classes: int = 10
    mean: Sequence[float] = (0.0,)
    std: Sequence[float] = (1.0,)

    @property
    def channels(self) -> int:
        return 1

    @property
    def tokenize(self) -> bool:
        return getattr(self.cfg, "tokenize", False)

    def check_pool(self) -> None:
        if self.cfg.pool < 1 or self.height % self.cfg.pool or self.width % self.cfg.pool:
            raise ValueError(
                f"{self.name}: pool must be a positive divisor of {self.height} × {self.width}, got {self.cfg.pool}."
            )

    @property
    def seq_len(self) -> int:
        return (self.height // self.cfg.pool) * (self.width // self.cfg.pool)

    @property
    def input(self):
        return input_spec("tokens", 256) if self.tokenize else input_spec("real", self.channels)

    @property
    def output(self):
        return output_spec("classes", self.n_classes)

    def permutation(self) -> np.ndarray | None:
        """The fixed reordering of the ``seq_len`` steps, or None for raster order."""
        return None

    def sequences(self, images, labels) -> ImageSequences:
        return ImageSequences(
            images,
            labels,
            pool=self.cfg.pool,
            mean=self.mean,
            std=self.std,
            permutation=self.permutation(),
            tokenize=self.tokenize,
        )


def random_split(dataset: torch.utils.data.Dataset, val_fraction: float, seed: int):
    """s4's ``split_train_val``: the last ``val_fraction`` of a seeded random permutation is validation."""
    n_train = int(len(dataset) * (1.0 - val_fraction))
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.random_split(dataset, (n_train, len(dataset) - n_train), generator=generator)
