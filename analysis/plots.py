"""Figures of a run store: heatmap, point plot with intervals, learning curves, mixer × task table, paper comparison.

Every function takes the frames of :mod:`analysis.frames` / :func:`analysis.aggregate` and returns a matplotlib
``Figure`` built without pyplot (no global state, no display needed); :func:`save` writes it as PNG and SVG. One
theme (:func:`theme`), one colour per mixer across all figures (:func:`mixer_colour`), axis labels from the config
names (:func:`label`). Intervals are the bootstrap 95 % intervals of :func:`analysis.aggregate`, so a figure and
the table beside it always show the same numbers.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

MIXER_COLOURS = {
    "s4d": "#0173b2",
    "s6": "#de8f05",
    "mamba": "#d55e00",
    "b2s6": "#029e73",
    "attention": "#cc78bc",
    "ncs_ssm": "#56b4e9",
    "legs_ssm": "#949494",
}
"""Fixed colours of the zoo's mixers (colour-blind safe); other names get a stable colour from their hash."""

_EXTRA = ["#ca9161", "#fbafe4", "#ece133", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22"]
_SETTING_PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#56b4e9", "#949494"]

LABELS = {
    "mixer.name": "mixer",
    "mixer.n_blocks": "blocks h",
    "mixer.bias": "B bias",
    "mixer.complex": "complex parameters",
    "mixer.n_state": "state size n",
    "mixer.discretization": "discretisation",
    "model.d_model": "width d",
    "model.n_layers": "layers",
    "task.name": "task",
    "task.seq_len": "sequence length L",
    "train.lr": "learning rate",
    "seed": "seed",
    "variant": "variant",
    "epoch": "epoch",
    "step": "training step",
    "time_s": "training time (s)",
    "wall_time_s": "wall time (s)",
    "tokens_per_s": "throughput (tokens/s)",
    "n_params": "parameters",
}
_SPLITS = {"train": "train", "val": "validation", "test": "test"}
_METRICS = {
    "acc": "accuracy",
    "loss": "loss",
    "err": "error",
    "rel_error": "relative error",
    "mse": "MSE",
    "ppl": "perplexity",
}


def label(column: str) -> str:
    """Axis label for a column: a readable name with the config name it comes from, e.g. ``blocks h [mixer.n_blocks]``.

    Metric columns (``split/name``) read as ``test accuracy``; unknown dotted names are shown as they are.
    """
    if "/" in column:
        split, _, name = column.partition("/")
        return f"{_SPLITS.get(split, split)} {_METRICS.get(name, name)}"
    pretty = LABELS.get(column)
    return f"{pretty} [{column}]" if pretty and "." in column else pretty or column


def mixer_colour(name: str) -> str:
    """The colour of mixer ``name`` in every figure (a fixed table, else a hash of the name: stable across runs)."""
    return MIXER_COLOURS.get(name) or _EXTRA[zlib.crc32(name.encode()) % len(_EXTRA)]


def palette(levels: Sequence, column: str | None) -> dict:
    """Colours for the levels of a hue column: each mixer's own colour when the levels are mixers (``mixer.name``,
    or any column whose levels are all the zoo's mixers, such as a ``mixer`` axis or variants named after mixers),
    an ordered palette otherwise (e.g. a ``mixer`` axis over B2S6 variants).
    """
    if column == "mixer.name" or all(str(v) in MIXER_COLOURS for v in levels):
        return {level: mixer_colour(str(level)) for level in levels}
    return {level: _SETTING_PALETTE[i % len(_SETTING_PALETTE)] for i, level in enumerate(levels)}


@contextlib.contextmanager
def theme() -> Iterator[None]:
    """The one theme of every figure (seaborn whitegrid, notebook context), scoped so it never leaks."""
    import matplotlib as mpl
    import seaborn as sns

    settings = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.9)}
    settings.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titleweight": "bold", "svg.fonttype": "none"})
    with mpl.rc_context(settings):
        yield


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def save(fig, directory: str | Path, name: str) -> dict[str, Path]:
    """Write ``fig`` as ``<directory>/<name>.png`` and ``.svg``; returns ``{"png": path, "svg": path}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {ext: directory / f"{name}.{ext}" for ext in ("png", "svg")}
    with theme():
        for path in paths.values():
            fig.savefig(path, bbox_inches="tight")
    return paths


def _levels(values: pd.Series) -> list:
    """Sorted distinct values (numbers numerically, the rest as text)."""
    unique = pd.unique(values.dropna())
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _cell_text(row: pd.Series, digits: int) -> str:
    if row["count"] == 0:
        text = "no run"
    elif np.isnan(row["std"]):
        text = f"{row['mean']:.{digits}f}\n1 seed"
    else:
        text = f"{row['mean']:.{digits}f}\n±{row['std']:.{digits}f}"
    return text + "".join(f"\n{problem}" for problem in problems(row))


def problems(row: pd.Series) -> list[str]:
    """``["1 failed", "2 diverged"]`` for an aggregated cell (empty when every run finished)."""
    counts = {"failed": row.get("n_failed", 0), "diverged": row.get("n_diverged", 0)}
    return [f"{int(n)} {what}" for what, n in counts.items() if n]


def _digits(values: pd.Series) -> int:
    span = float(np.nanmax(np.abs(values))) if values.notna().any() else 1.0
    return 1 if span >= 10 else 3


def heatmap(cells: pd.DataFrame, x: str, y: str, higher_is_better: bool = True, title: str | None = None):
    """Annotated heatmap of the mean metric over two axes: ``mean ± std`` (over seeds) and failures in each cell.

    ``cells`` is :func:`analysis.aggregate` over ``[y, x]``; the colour scale runs towards the better value.
    """
    import seaborn as sns

    metric = cells.attrs.get("metric", "value")
    means = cells.pivot(index=y, columns=x, values="mean")
    text = cells.assign(_text=cells.apply(_cell_text, axis=1, digits=_digits(cells["mean"])))
    annot = text.pivot(index=y, columns=x, values="_text").reindex_like(means)
    with theme():
        fig, (ax,) = _figure(1.3 + 1.05 * means.shape[1], 1.0 + 0.75 * means.shape[0])
        sns.heatmap(
            means,
            annot=annot.to_numpy(),
            fmt="",
            cmap="viridis" if higher_is_better else "viridis_r",
            cbar_kws={"label": label(metric) + better(higher_is_better)},
            linewidths=0.5,
            linecolor="white",
            ax=ax,
            annot_kws={"fontsize": 8},
        )
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(y))
        ax.set_title(title or f"{label(metric)}: mean ± std over seeds")
        ax.tick_params(axis="y", rotation=0)
    return fig


def better(higher_is_better: bool) -> str:
    """`` (higher is better)`` or `` (lower is better)``, appended to metric labels."""
    return f" ({'higher' if higher_is_better else 'lower'} is better)"


def pointplot(
    runs: pd.DataFrame,
    cells: pd.DataFrame,
    x: str,
    hue: str | None = None,
    higher_is_better: bool = True,
    title: str | None = None,
):
    """Mean per ``x`` level with its bootstrap 95 % interval, one colour per ``hue`` level, seeds as faint dots.

    ``cells`` is :func:`analysis.aggregate` over ``[x]`` or ``[hue, x]``; cells with one seed show a point
    without a bar (no interval is claimed).
    """
    metric = cells.attrs.get("metric", "value")
    x_levels = _levels(cells[x])
    hue_levels = _levels(cells[hue]) if hue else [None]
    colours = palette(hue_levels, hue)
    width = 0.6
    offsets = np.linspace(-width / 2, width / 2, len(hue_levels)) if len(hue_levels) > 1 else [0.0]
    position = {level: i for i, level in enumerate(x_levels)}
    ok = runs[(runs["status"] == "ok") & runs[metric].notna()]
    rng = np.random.default_rng(0)
    with theme():
        fig, (ax,) = _figure(max(4.5, 0.9 * len(x_levels) + 2.5), 3.6)
        for offset, level in zip(offsets, hue_levels, strict=True):
            sub = cells if hue is None else cells[cells[hue] == level]
            seeds = ok if hue is None else ok[ok[hue] == level]
            colour = colours[level] if hue else "#0173b2"
            pos = sub[x].map(position).to_numpy(float) + offset
            jitter = rng.uniform(-0.04, 0.04, len(seeds))
            ax.scatter(seeds[x].map(position) + offset + jitter, seeds[metric], s=10, alpha=0.35, color=colour, lw=0)
            lower = (sub["mean"] - sub["ci_low"]).to_numpy(float)
            upper = (sub["ci_high"] - sub["mean"]).to_numpy(float)
            ax.errorbar(
                pos,
                sub["mean"],
                yerr=np.vstack([lower, upper]),
                fmt="o-",
                color=colour,
                capsize=3,
                ms=5,
                lw=1.5,
                label=None if hue is None else str(level),
            )
        ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels])
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(metric) + better(higher_is_better))
        ax.set_title(title or f"{label(metric)}: mean and 95 % bootstrap interval over seeds")
        if hue:
            ax.legend(title=label(hue), fontsize=8, title_fontsize=8, loc="best", frameon=True)
    return fig


def curves(
    curves_frame: pd.DataFrame,
    metric: str,
    hue: str | None = None,
    col: str | None = None,
    x: str = "epoch",
    title: str | None = None,
):
    """Learning curves of ``metric`` (e.g. ``val/acc``): mean over seeds per ``hue`` level, band from min to max.

    ``curves_frame`` is :func:`analysis.load_curves`' frame; ``col`` draws one panel per level (e.g. per task,
    each with its own y scale), so runs that should not be averaged together never are.
    """
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    data = curves_frame[curves_frame["metric"] == metric]
    if data.empty:
        present = sorted(curves_frame["metric"].unique())
        raise ValueError(f"No {metric!r} rows in the curves; metrics present: {present}.")
    hue_levels = _levels(data[hue]) if hue else None
    panels = _levels(data[col]) if col else [None]
    ncols = min(len(panels), 4)
    nrows = -(-len(panels) // ncols)
    with theme():
        from matplotlib.figure import Figure

        fig = Figure(
            figsize=(6.0 if ncols == 1 else 3.6 * ncols, 3.8 if nrows == 1 else 3.0 * nrows), layout="constrained"
        )
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, panel in zip(axes, panels, strict=False):
            sub = data if col is None else data[data[col] == panel]
            sns.lineplot(
                data=sub,
                x=x,
                y="value",
                hue=hue,
                hue_order=hue_levels,
                estimator="mean",
                errorbar=("pi", 100),
                palette=palette(hue_levels, hue) if hue else None,
                ax=ax,
                lw=1.5,
                marker="o" if data[x].nunique() <= 20 else None,
                markersize=4,
                legend=ax is axes[0],
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(label(x))
            ax.set_ylabel(label(metric))
            if col:
                ax.set_title(f"{label(col).split(' [')[0]}: {panel}", fontsize=10)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        if hue:
            axes[0].legend(title=label(hue), fontsize=8, title_fontsize=8, loc="best", ncol=1 + len(hue_levels) // 7)
        fig.suptitle(
            title or f"{label(metric)} during training (line: mean, band: min–max over seeds)",
            fontweight="bold",
            fontsize=11,
        )
    return fig


def table(cells: pd.DataFrame, rows: str = "mixer.name", cols: str = "task.name", higher_is_better: bool = True):
    """Mixer × task table as a figure: ``mean ± std`` per cell, colour = rank within each task column.

    Colours are normalised per column because tasks have different scales; the numbers are the raw means.
    """
    import seaborn as sns

    metric = cells.attrs.get("metric", "value")
    means = cells.pivot(index=rows, columns=cols, values="mean")
    spread = means.max() - means.min()
    scaled = (means - means.min()) / spread.where(spread > 0, 1.0)
    if not higher_is_better:
        scaled = 1.0 - scaled
    annot = cells.assign(_text=cells.apply(_cell_text, axis=1, digits=_digits(cells["mean"])))
    annot = annot.pivot(index=rows, columns=cols, values="_text").reindex_like(means)
    with theme():
        fig, (ax,) = _figure(1.6 + 1.3 * means.shape[1], 1.0 + 0.7 * means.shape[0])
        sns.heatmap(
            scaled,
            annot=annot.to_numpy(),
            fmt="",
            cmap="Greens",
            cbar=False,
            linewidths=0.5,
            linecolor="white",
            ax=ax,
            annot_kws={"fontsize": 8},
            vmin=-0.15,
            vmax=1.15,
        )
        colours = palette([str(v) for v in means.index], rows)
        for tick in ax.get_yticklabels():
            tick.set_color(colours.get(tick.get_text(), "black"))
        ax.set_xlabel(label(cols))
        ax.set_ylabel(label(rows))
        ax.set_title(f"{label(metric)}{better(higher_is_better)}, shade: best per column")
        ax.tick_params(axis="y", rotation=0)
    return fig


def variant_name(bias: bool, complex_: bool) -> str:
    """The paper's column names for the B2S6 unit ablation: ``bias, complex`` / ``no bias, complex`` / ..."""
    return f"{'bias' if bias else 'no bias'}, {'complex' if complex_ else 'real'}"


def paper_comparison(paper: pd.DataFrame, measured: pd.DataFrame, measured_title: str, higher_is_better: bool = True):
    """The paper's sCIFAR ablation (left) beside our measured cells (right), same colour per variant.

    ``paper`` is :func:`analysis.reference.paper_table`; ``measured`` is :func:`analysis.aggregate` over
    ``["mixer.bias", "mixer.complex", "mixer.n_blocks"]``. Absolute values differ when the task differs; the
    comparison is of shape (which variant wins, how accuracy moves with h).
    """
    metric = measured.attrs.get("metric", "value")
    paper = paper.assign(variant=[variant_name(b, c) for b, c in zip(paper["bias"], paper["complex"], strict=True)])
    measured = measured.assign(
        variant=[variant_name(b, c) for b, c in zip(measured["mixer.bias"], measured["mixer.complex"], strict=True)]
    )
    order = [variant_name(True, True), variant_name(False, True), variant_name(True, False)]
    order += [v for v in _levels(measured["variant"]) if v not in order]
    colours = palette(order, "variant")
    with theme():
        fig, (left, right) = _figure(10.0, 3.8, ncols=2)
        for variant in order:
            sub = paper[paper["variant"] == variant]
            if len(sub):
                left.errorbar(
                    sub["h"],
                    sub["acc_mean"],
                    yerr=sub["acc_std"],
                    fmt="o-",
                    color=colours[variant],
                    capsize=3,
                    ms=4,
                    label=variant,
                )
            sub = measured[measured["variant"] == variant].sort_values("mixer.n_blocks")
            if len(sub):
                yerr = np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]])
                right.errorbar(
                    sub["mixer.n_blocks"],
                    sub["mean"],
                    yerr=yerr,
                    fmt="o-",
                    color=colours[variant],
                    capsize=3,
                    ms=4,
                    label=variant,
                )
        for ax, levels in ((left, paper["h"]), (right, measured["mixer.n_blocks"])):
            ax.set_xscale("log", base=2)
            ax.set_xticks(_levels(levels), [str(v) for v in _levels(levels)])
            ax.minorticks_off()
            ax.set_xlabel(label("mixer.n_blocks"))
            ax.legend(fontsize=8, loc="best")
        left.set_ylabel("test accuracy (%)")
        left.set_title("paper: sCIFAR, mean ± std", fontsize=10)
        right.set_ylabel(label(metric) + better(higher_is_better))
        right.set_title(f"measured: {measured_title}, mean, 95 % CI", fontsize=10)
    return fig
