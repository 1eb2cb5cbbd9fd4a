"""Reference numbers from the papers, shipped as CSV inside the package (``analysis/data/*.csv``).

``b2s6_scifar``: the B2S6 paper's sCIFAR unit ablation (its Table 2; Table 1 in v1) — test accuracy in % as mean
and std over seeds, one row per (h, bias, complex); p = 128 / h. Kept as data so a plot can put it beside a
measured grid without anyone retyping it.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd


def available() -> list[str]:
    """Names of the shipped reference tables."""
    return sorted(
        p.name.removesuffix(".csv") for p in resources.files("analysis.data").iterdir() if p.name.endswith(".csv")
    )


def paper_table(name: str = "b2s6_scifar") -> pd.DataFrame:
    """A shipped reference table by name; ``KeyError`` listing the available ones otherwise."""
    if name not in available():
        raise KeyError(f"No reference table {name!r}; available: {', '.join(available())}.")
    with resources.files("analysis.data").joinpath(f"{name}.csv").open() as f:
        return pd.read_csv(f)
