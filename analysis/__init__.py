"""Analysis of a run store: tidy frames, statistics over seeds, plots, reports, and the papers' probes.

``load``, ``load_curves`` and ``aggregate`` read files only (no torch); plotting imports seaborn lazily and the
probes (``analysis.probes``) are the only part that imports ``zoo``.
"""

from analysis.frames import load, load_curves
from analysis.stats import aggregate, main_metric

__all__ = ["aggregate", "load", "load_curves", "main_metric"]
