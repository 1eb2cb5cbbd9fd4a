"""Token vocabularies built the way state-spaces/s4 builds them (torchtext's ``build_vocab_from_iterator``).

Ids: the specials first (``<pad>`` = 0, ``<unk>`` = 1, then ``<bos>`` / ``<eos>`` when used), then every token
of the training split seen at least ``min_freq`` times, most frequent first, ties in sorted order. Unknown
tokens map to ``<unk>``. Sequences are truncated so that, with ``<bos>`` / ``<eos>`` added, they fit ``l_max``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


class Vocab:
    """A token -> id map with s4's special tokens and ordering."""

    def __init__(self, token_lists: Iterable[Sequence[str]], min_freq: int = 1, bos: bool = False, eos: bool = True):
        counts = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        self.bos, self.eos = bos, eos
        specials = ["<pad>", "<unk>"] + (["<bos>"] if bos else []) + (["<eos>"] if eos else [])
        ordered = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in specials), key=lambda t: (-counts[t], t)
        )
        self.itos = specials + ordered
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad(self) -> int:
        return self.stoi["<pad>"]

    def encode(self, tokens: Sequence[str], l_max: int) -> np.ndarray:
        """Ids ``(length,)`` int64 of ``tokens`` (a list, or a string of one-character tokens), truncated to fit
        ``l_max`` with ``<bos>`` / ``<eos>`` added."""
        body = tokens[: l_max - int(self.bos) - int(self.eos)]
        unk = self.stoi["<unk>"]
        ids = [self.stoi.get(t, unk) for t in body]
        return np.array(
            ([self.stoi["<bos>"]] if self.bos else []) + ids + ([self.stoi["<eos>"]] if self.eos else []),
            dtype=np.int64,
        )
