"""``python -m analysis.report runs/<grid>``: figures chosen from the grid's axes, ``summary.csv`` and ``report.md``.

Which figures (the *factors* are the grid's axes that take more than one value, plus ``variant`` when the grid
has several; ``x`` is the ordered factor — numbers, such as L, d or h — with the most levels, or the factor with
the most levels when none is ordered; the others are combined into one *setting*):

- two or more factors: a heatmap of the main metric over setting × x and a point plot over x, one colour per
  setting; when both a mixer and a task vary, a mixer × task table plot instead of both (tasks have their
  own scales);
- one factor: a point plot over it;
- learning curves of the validation metric when runs evaluated at least twice (one line per setting, band over
  seeds; one panel per ``x`` level, or per task when tasks vary);
- a B2S6 grid over bias and blocks: the paper-comparison plot beside the paper's sCIFAR table.

Every figure is written as PNG and SVG into ``report/`` (default ``runs/<grid>/report``) and embedded in
``report.md`` with the short table of numbers it shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.frames import load, load_curves
from analysis.reference import paper_table
from analysis.stats import N_BOOT, aggregate, main_metric

MAX_CURVE_SETTINGS = 12
"""Above this many settings the learning curves get one panel per setting (coloured by ``x``), to stay readable."""


def factors(runs: pd.DataFrame) -> list[str]:
    """The grid's axes that take more than one value (grid order), plus ``variant`` if the grid has several."""
    names = [a for a in runs.attrs.get("axes", []) if a in runs.columns and runs[a].nunique(dropna=False) > 1]
    if "variant" in runs.columns and runs["variant"].nunique(dropna=False) > 1 and "variant" not in names:
        names.append("variant")
    return names


def x_axis(runs: pd.DataFrame, names: list[str]) -> str | None:
    """The factor along x: the numeric (not boolean) one with the most levels, else any with the most levels.

    An ordered quantity reads as a curve per setting (accuracy against L, one line per mixer) even when a
    categorical factor such as the mixer has more levels.
    """
    ordered = [c for c in names if pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])]
    return max(ordered or names, key=lambda c: runs[c].nunique()) if names else None


def _short(column: str) -> str:
    return column.rsplit(".", 1)[-1]


def add_setting(runs: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, str | None]:
    """The column naming a run's setting over ``columns``: the column itself if one, a combined label if several."""
    if not columns:
        return runs, None
    if len(columns) == 1:
        return runs, columns[0]
    text = [
        ", ".join(f"{_short(c)}={v}" for c, v in zip(columns, values, strict=True))
        for values in runs[columns].to_numpy()
    ]
    return runs.assign(setting=text), "setting"


def _format(row: pd.Series, digits: int, spread: str) -> str:
    """One cell as text: ``mean ± std (n=3)`` (spread ``std``) or ``mean [low, high] (n=3)`` (spread ``ci``)."""
    if row["count"] == 0:
        return "—"
    text = f"{row['mean']:.{digits}f}"
    if row["count"] > 1:
        text += (
            f" ± {row['std']:.{digits}f}"
            if spread == "std"
            else f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
        )
    text += f" (n={int(row['count'])})"
    return ", ".join([text, *plots.problems(row)])


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (index included) without extra dependencies."""
    frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.to_numpy()]
    return "\n".join([header, rule, *body])


def cell_table(cells: pd.DataFrame, rows: str | None, cols: str, spread: str = "std") -> str:
    """Markdown table of ``mean ± std (n)`` (or ``mean [95 % CI] (n)`` with ``spread="ci"``), ``rows`` × ``cols``
    (a single column if no rows): the numbers of the figure it sits under."""
    digits = plots._digits(cells["mean"])
    text = cells.assign(value=cells.apply(_format, axis=1, digits=digits, spread=spread))
    if rows is None:
        return markdown_table(text.set_index(cols)[["value"]])
    return markdown_table(text.pivot(index=rows, columns=cols, values="value"))


def _is_b2s6_unit_grid(runs: pd.DataFrame, names: list[str]) -> bool:
    """A B2S6-only grid over h whose bias or complex switch varies: the shape of the paper's sCIFAR ablation."""
    columns = {"mixer.name", "mixer.bias", "mixer.complex", "mixer.n_blocks"}
    if not columns <= set(runs.columns) or "mixer.n_blocks" not in names:
        return False
    switches = runs[["mixer.bias", "mixer.complex"]].drop_duplicates()
    return bool((runs["mixer.name"] == "b2s6").all()) and len(switches) > 1


def write_report(path: str | Path, out: str | Path | None = None, metric: str | None = None) -> Path:
    """Write ``report.md``, ``summary.csv`` and the figures for the store at ``path``; returns ``report.md``."""
    path = Path(path)
    runs = load(path)
    if runs.empty:
        raise SystemExit(f"No finished runs under {path}: run the grid first (python -m ablations.run grid=...).")
    out = Path(out) if out is not None else path / "report"
    metric = metric or main_metric(runs)
    higher = bool(runs["higher_is_better"].dropna().iloc[0]) if "higher_is_better" in runs.columns else True
    names = factors(runs)
    x = x_axis(runs, names)
    others = [c for c in names if c != x]
    runs, setting = add_setting(runs, others)
    by = [c for c in (setting, x) if c]

    cells = aggregate(runs, by or ["grid"], metric)
    out.mkdir(parents=True, exist_ok=True)
    cells.to_csv(out / "summary.csv", index=False)

    status = runs["status"].value_counts().to_dict()
    skipped = runs.attrs["skipped"]
    lines = [
        f"# Report: {runs['grid'].iloc[0]}",
        "",
        f"Store `{path}`: {len(runs)} finished runs ({', '.join(f'{n} {s}' for s, n in status.items())})"
        + (f"; {len(skipped)} directories skipped (partial or corrupt)." if skipped else "."),
        f"Metric `{metric}` ({'higher' if higher else 'lower'} is better). Statistics over seeds: mean, std and "
        f"percentile-bootstrap 95 % interval ({N_BOOT} resamples, seeded) of the n successful seeds; failed and "
        "diverged runs are counted, never averaged. All numbers: [summary.csv](summary.csv).",
        "",
    ]

    def figure(name: str, fig, caption: str, numbers: str) -> None:
        plots.save(fig, out, name)
        lines.extend([f"## {caption}", "", f"![{caption}]({name}.png)", "", f"[SVG]({name}.svg)", "", numbers, ""])

    mixer_col = next((c for c in ("mixer", "mixer.name") if c in names), None)
    task_col = next((c for c in ("task", "task.name") if c in names), None)
    if mixer_col and task_col:
        table_cells = aggregate(runs, [mixer_col, task_col], metric)
        figure(
            "table",
            plots.table(table_cells, mixer_col, task_col, higher),
            "Mixer × task",
            cell_table(table_cells, mixer_col, task_col),
        )
    elif setting:
        figure(
            "heatmap",
            plots.heatmap(cells, x, setting, higher),
            f"{plots.label(metric)} over {', '.join(names)}",
            "Mean ± std (n seeds):\n\n" + cell_table(cells, setting, x),
        )
    if x and not (mixer_col and task_col):  # across tasks a shared y axis would mix scales
        figure(
            "pointplot",
            plots.pointplot(runs, cells, x, setting, higher),
            f"{plots.label(metric)} against {x}",
            "Mean [95 % bootstrap interval] (n seeds):\n\n" + cell_table(cells, setting, x, spread="ci"),
        )

    curves = load_curves(path, runs)
    curve_metric = metric.replace("test/", "val/")
    curve_rows = curves[curves["metric"] == curve_metric]
    if len(curve_rows) and curve_rows.groupby("run_id").size().max() >= 2:  # a curve needs two evaluations
        if setting and setting not in curves.columns:
            curves = curves.merge(runs[["run_id", setting]], on="run_id", how="left")
        if mixer_col and task_col:  # tasks have their own scales: one panel per task, one colour per mixer
            hue, col = mixer_col, task_col
        elif setting and curves[setting].nunique() > MAX_CURVE_SETTINGS:
            hue, col = x, setting
        elif setting:  # one panel per x level, so runs at different x are never averaged into one line
            hue, col = setting, x
        else:
            hue, col = x, None
        last = curves[curves["metric"] == curve_metric].sort_values("step").groupby("run_id").tail(1)
        keys = [c for c in (col, hue) if c] or ["metric"]
        final = last.groupby(keys)["value"].agg(["mean", "std", "count"])
        figure(
            "curves",
            plots.curves(curves, curve_metric, hue, col),
            f"Learning curves ({curve_metric})",
            "Last evaluation, mean and std over seeds:\n\n" + markdown_table(final.round(4)),
        )

    if _is_b2s6_unit_grid(runs, names):
        measured = aggregate(runs, ["mixer.bias", "mixer.complex", "mixer.n_blocks"], metric)
        task = runs["task.name"].iloc[0] if "task.name" in runs.columns else "this grid"
        paper = paper_table("b2s6_scifar")
        paper_text = paper.assign(
            value=[f"{m:.2f} ± {s:.2f}" for m, s in zip(paper["acc_mean"], paper["acc_std"], strict=True)],
            variant=[plots.variant_name(b, c) for b, c in zip(paper["bias"], paper["complex"], strict=True)],
        )
        numbers = markdown_table(paper_text.pivot(index="h", columns="variant", values="value"))
        figure(
            "paper_comparison",
            plots.paper_comparison(paper, measured, f"{task}, {plots.label(metric)}", higher),
            "Paper (sCIFAR) beside this grid",
            "Paper's numbers (sCIFAR test accuracy %, mean ± std):\n\n" + numbers,
        )

    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a grid's run directory, e.g. runs/bias_x_blocks")
    parser.add_argument("--out", help="output directory (default: <path>/report)")
    parser.add_argument("--metric", help="metric column (default: test/<the grid's metric>)")
    args = parser.parse_args(argv)
    if not Path(args.path).is_dir():
        parser.error(f"{args.path} is not a directory; pass a grid's run directory such as runs/bias_x_blocks.")
    report = write_report(args.path, args.out, args.metric)
    print(f"wrote {report} and its figures in {report.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
