"""A reader for the sktime / UEA ``.ts`` time-series format, with no dependency on sktime.

A file holds ``#`` comments, ``@key value`` header lines, then ``@data`` and one case per line: the
dimensions separated by ``:``, values within a dimension by ``,``, the class label last. ``?`` marks a
missing value (read as NaN). Files with time stamps (``@timeStamps true``) or regression targets
(``@targetLabel``) are not classification data and are rejected with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablations.tasks.base import DataFormatError


@dataclass
class TSData:
    """The cases of one ``.ts`` file: ``series[i]`` is ``(channels, length_i)``; ``labels[i]`` indexes ``classes``."""

    series: list[np.ndarray]
    labels: np.ndarray
    classes: list[str]
    channels: int


def _values(text: str, path: Path, line: int) -> np.ndarray:
    try:
        return np.array([np.nan if v.strip() == "?" else float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError as err:
        raise DataFormatError(path, f"a value is not a number ({err}).", line) from None


def read_ts(path: str | Path) -> TSData:
    """Parse a classification ``.ts`` file; ``DataFormatError`` names the file and line of anything malformed."""
    path = Path(path)
    classes: list[str] | None = None
    dimensions: int | None = None
    series: list[np.ndarray] = []
    labels: list[int] = []
    in_data = False
    with open(path, encoding="utf-8-sig") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise DataFormatError(path, "a data line before the @data header.", number)
                key, _, rest = line[1:].partition(" ")
                key, words = key.lower(), rest.split()
                if key == "data":
                    if classes is None:
                        raise DataFormatError(path, "no '@classLabel true ...' header before @data.", number)
                    in_data = True
                elif key == "classlabel":
                    if not words or words[0].lower() != "true" or len(words) < 2:
                        raise DataFormatError(path, "'@classLabel' must be 'true' followed by the labels.", number)
                    classes = words[1:]
                elif key == "targetlabel":
                    raise DataFormatError(
                        path, "a regression problem (@targetLabel); ucr reads classification.", number
                    )
                elif key == "timestamps" and words and words[0].lower() == "true":
                    raise DataFormatError(path, "time-stamped series (@timeStamps true) are not supported.", number)
                elif key == "dimensions":
                    dimensions = int(words[0])
                continue
            *dims, label = line.split(":")
            if not dims:
                raise DataFormatError(path, "a case needs at least one dimension and a label after ':'.", number)
            if dimensions is not None and len(dims) != dimensions:
                raise DataFormatError(path, f"{len(dims)} dimensions where @dimensions says {dimensions}.", number)
            if label.strip() not in classes:
                raise DataFormatError(path, f"label {label.strip()!r} is not one of @classLabel {classes}.", number)
            values = [_values(d, path, number) for d in dims]
            if len({len(v) for v in values}) != 1:
                raise DataFormatError(path, "the dimensions of this case have different lengths.", number)
            if series and len(values) != len(series[0]):
                raise DataFormatError(
                    path, f"{len(values)} dimensions where earlier cases have {len(series[0])}.", number
                )
            series.append(np.stack(values))
            labels.append(classes.index(label.strip()))
    if not series:
        raise DataFormatError(path, "no cases after @data (or no @data line).")
    return TSData(series, np.array(labels, dtype=np.int64), classes, len(series[0]))
