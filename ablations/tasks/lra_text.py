"""The Long Range Arena's text tasks from the official release files, tokenised as state-spaces/s4 does.

- ``lra_listops``: ``<root>/listops/basic_{train,val,test}.tsv`` (columns ``Source``, ``Target``, with a
  header; the release's ``listops-1000`` folder renamed as in s4). Tokens: the LRA tokenizer's view, ``]``
  becomes ``X`` and parentheses are dropped, split on whitespace; ``l_max`` 2048; 10 classes.
- ``lra_text``: IMDB reviews from ``<root>/imdb/aclImdb`` (or ``<root>/aclImdb``), the ``train`` / ``test``
  folders with ``pos`` / ``neg`` text files. Characters as tokens, those seen fewer than ``min_freq`` = 15
  times in training map to ``<unk>``; ``l_max`` 4096; 2 classes (neg 0, pos 1).
- ``lra_retrieval``: ACL Anthology pairs ``<root>/aan/new_aan_pairs.{train,eval,test}.tsv`` (no header: label,
  id1, id2, text1, text2). Characters as tokens, ``l_max`` 4000 per document; 2 classes. The two documents
  of a pair are concatenated into one sequence (each with its ``<eos>``), so the task runs through the
  common single-sequence model; s4 instead encodes them separately and compares the pooled features.

Vocabularies come from the training split (:mod:`ablations.tasks.vocab`), ``<eos>`` is appended, and
sequences are right-padded with ``<pad>`` = 0: items are ``(x, y, length)``. Where the release has no
validation split (IMDB; s4 then validates on the test set) a seeded ``val_fraction`` of training is held out.
"""

from __future__ import annotations

import abc
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablations.tasks.base import DataFormatError, DatasetMissing, Task, input_spec, output_spec, register_task
from ablations.tasks.padded import PaddedDataset
from ablations.tasks.vocab import Vocab

LRA_HOW = "download lra_release.gz (github.com/google-research/long-range-arena), unpack it, and link its {} there."


def listops_tokens(source: str) -> list[str]:
    """The LRA tokenizer on a ListOps expression: ``]`` -> ``X``, parentheses removed, split on whitespace."""
    return source.translate({ord("]"): ord("X"), ord("("): None, ord(")"): None}).split()


def read_tsv(path: Path, columns: int, header: list[str] | None) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of each row of a TSV with ``columns`` fields; checks the header if given."""
    csv.field_size_limit(sys.maxsize)
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for fields in reader:
            number = reader.line_num
            if header is not None and number == 1:
                if fields != header:
                    raise DataFormatError(path, f"the header must be {header}, got {fields}.", number)
                continue
            if len(fields) != columns:
                raise DataFormatError(path, f"{len(fields)} tab-separated fields where {columns} are expected.", number)
            rows.append((number, fields))
    return rows


def parse_label(text: str, n_classes: int, path: Path, line: int) -> int:
    """A class index written as an integer (or a float such as ``1.0``) in ``0 … n_classes − 1``."""
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, f"label {text!r} is not a number.", line) from None
    if value != int(value) or not 0 <= value < n_classes:
        raise DataFormatError(path, f"label {text!r} is not a class index in 0 … {n_classes - 1}.", line)
    return int(value)


class LRATextTask(Task):
    """Shared logic: read the splits as ``(token lists, labels)``, build the vocabulary, encode and pad."""

    metric = "accuracy"
    higher_is_better = True
    n_classes = 2
    _data = None

    @abc.abstractmethod
    def read_splits(self) -> list[list]:
        """``[train, val, test]``, each a list of ``(documents, label)``; ``documents`` is a tuple of token
        sequences (lists of tokens, or strings whose characters are the tokens)."""

    @property
    def seq_len(self) -> int:
        return self.cfg.l_max

    @property
    def input(self):
        return input_spec("tokens", len(self._load()[1]))

    @property
    def output(self):
        return output_spec("classes", self.n_classes)

    def _load(self):
        if self._data is None:
            splits = self.read_splits()
            vocab = Vocab((t for docs, _ in splits[0] for t in docs), min_freq=getattr(self.cfg, "min_freq", 1))
            per_doc = self.cfg.l_max // max(len(splits[0][0][0]), 1)
            datasets = []
            for split in splits:
                seqs = [np.concatenate([vocab.encode(t, per_doc) for t in docs]) for docs, _ in split]
                labels = np.array([label for _, label in split], dtype=np.int64)
                datasets.append(PaddedDataset.from_sequences(seqs, labels, self.seq_len, pad_value=vocab.pad))
            self._data = (tuple(datasets), vocab)
        return self._data

    def datasets(self):
        return self._load()[0]

    def require(self, folder: Path, files: list[str], what: str) -> Path:
        """``folder`` if it holds ``files``; ``DatasetMissing`` saying how to get ``what`` otherwise."""
        if not all((folder / f).exists() for f in files):
            raise DatasetMissing(self.name, folder, files, LRA_HOW.format(what))
        return folder


@register_task("lra_listops")
class LRAListOps(LRATextTask):
    """Evaluate a nested MIN / MAX / MED / SUM_MOD expression (the answer is a digit)."""

    n_classes = 10

    @dataclass
    class Config:
        l_max: int = 2048  # maximum sequence length in tokens, <eos> included (s4's)

    files = [f"basic_{s}.tsv" for s in ("train", "val", "test")]

    def locate(self) -> Path:
        return self.require(
            self.data_root / "listops",
            self.files,
            f"listops-1000 folder (or run `python -m ablations.data listops --out {self.data_root / 'listops'}`)",
        )

    def read_splits(self):
        folder = self.locate()
        splits = []
        for name in self.files:
            path = folder / name
            rows = read_tsv(path, 2, ["Source", "Target"])
            splits.append([((listops_tokens(src),), parse_label(tgt, 10, path, n)) for n, (src, tgt) in rows])
        return splits


@register_task("lra_text")
class LRAText(LRATextTask):
    """Classify the sentiment of an IMDB review read character by character."""

    @dataclass
    class Config:
        l_max: int = 4096  # maximum sequence length in characters, <eos> included (s4's)
        min_freq: int = 15  # characters seen fewer times in training become <unk> (s4's)
        val_fraction: float = 0.1  # share of the training reviews held out (the release has no val split)
        split_seed: int = 42  # seed of the train/val split

    def locate(self) -> Path:
        return self.folder()

    def folder(self) -> Path:
        for folder in (self.data_root / "imdb" / "aclImdb", self.data_root / "aclImdb"):
            if all((folder / s / c).is_dir() for s in ("train", "test") for c in ("pos", "neg")):
                return folder
        raise DatasetMissing(
            self.name,
            self.data_root / "imdb" / "aclImdb",
            ["train/pos/*.txt", "train/neg/*.txt", "test/pos/*.txt", "test/neg/*.txt"],
            "download aclImdb_v1.tar.gz (ai.stanford.edu/~amaas/data/sentiment) and unpack it in <root>/imdb.",
        )

    def read_splits(self):
        folder = self.folder()
        splits = {}
        for split in ("train", "test"):
            rows = []
            for label, polarity in enumerate(("neg", "pos")):
                for path in sorted((folder / split / polarity).glob("*.txt")):
                    text = path.read_text(encoding="utf-8")[: self.cfg.l_max - 1]  # s4 truncates before counting
                    rows.append(((text,), label))
            splits[split] = rows
        generator = torch.Generator().manual_seed(self.cfg.split_seed)
        order = torch.randperm(len(splits["train"]), generator=generator).tolist()
        n_val = int(len(order) * self.cfg.val_fraction)
        train = [splits["train"][i] for i in order[n_val:]]
        val = [splits["train"][i] for i in order[:n_val]]
        return [train, val, splits["test"]]


@register_task("lra_retrieval")
class LRARetrieval(LRATextTask):
    """Decide whether two ACL papers are linked by a citation, from their characters."""

    @dataclass
    class Config:
        l_max: int = 8000  # sequence length: two documents of at most l_max / 2 = 4000 characters each (s4's)

    files = [f"new_aan_pairs.{s}.tsv" for s in ("train", "eval", "test")]

    def locate(self) -> Path:
        return self.require(self.data_root / "aan", self.files, "tsv_data folder")

    def read_splits(self):
        folder = self.locate()
        splits = []
        for name in self.files:
            path = folder / name
            rows = read_tsv(path, 5, None)
            keep = self.cfg.l_max // 2 - 1  # characters per document before its <eos>; s4 truncates before counting
            splits.append([((t1[:keep], t2[:keep]), parse_label(lab, 2, path, n)) for n, (lab, _, _, t1, t2) in rows])
        return splits
