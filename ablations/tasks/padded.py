"""Variable-length sequences right-padded to one length: items ``(x, y, length)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class PaddedDataset(torch.utils.data.Dataset):
    """Sequences of different lengths stored right-padded to ``seq_len``.

    ``x`` is ``(n, seq_len)`` int64 tokens or ``(n, seq_len, channels)`` float32; ``y`` ``(n,)`` class indices;
    ``lengths`` ``(n,)`` the valid steps of each. Item ``i`` is ``(x[i], y[i], lengths[i])``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor):
        if not len(x) == len(y) == len(lengths):
            raise ValueError(f"PaddedDataset: {len(x)} inputs, {len(y)} targets, {len(lengths)} lengths.")
        self.x, self.y, self.lengths = x, y, lengths

    @classmethod
    def from_sequences(cls, seqs: Sequence[np.ndarray], y: np.ndarray, seq_len: int, pad_value=0) -> PaddedDataset:
        """Right-pad each ``(length,)`` or ``(length, channels)`` array (length <= ``seq_len``) with ``pad_value``."""
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        if lengths.size and lengths.max() > seq_len:
            raise ValueError(f"PaddedDataset: a sequence of length {lengths.max()} exceeds seq_len {seq_len}.")
        first = np.asarray(seqs[0])
        x = np.full((len(seqs), seq_len, *first.shape[1:]), pad_value, dtype=first.dtype)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = s
        return cls(torch.from_numpy(x), torch.as_tensor(y), torch.from_numpy(lengths))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i], self.lengths[i]
