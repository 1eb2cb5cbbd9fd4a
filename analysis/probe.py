"""``python -m analysis.probe NAME [mixers=[s6,s4d,...]] [key=value ...] [--out DIR]``: run one probe, write its data.

NAME is one of ``lrd``, ``influence``, ``grad_growth``, ``stability`` (see :mod:`analysis.probes`); every other
argument is a keyword of that probe, its value read as YAML (``mixers=[s6,s4d]``, ``length=512``,
``scales=[1,10,100]``). Writes ``<out>/<NAME>.csv`` (the measurements), ``<out>/<NAME>_fit.csv`` (the fitted
summary, also printed) and the figure as PNG and SVG; ``--out`` defaults to ``probes/``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import yaml

from zoo.registry import closest


def parse_overrides(probe, items: list[str]) -> dict:
    """``["mixers=[s6,s4d]", "length=64"]`` -> keyword arguments of ``probe``; a bad key or form exits with a hint."""
    valid = [p for p in inspect.signature(probe).parameters]
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"analysis.probe: {item!r} is not key=value (e.g. mixers=[s6,s4d]).")
        if key not in valid:
            raise SystemExit(f"analysis.probe: {probe.__name__} has no argument {key!r}.{closest(key, valid)}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def main(argv: list[str] | None = None) -> int:
    from analysis import plots
    from analysis.probes import PROBES

    parser = argparse.ArgumentParser(prog="python -m analysis.probe", description=__doc__.split("\n")[0])
    parser.add_argument("name", help=f"one of {', '.join(PROBES)}")
    parser.add_argument("overrides", nargs="*", help="key=value arguments of the probe, e.g. mixers=[s6,s4d]")
    parser.add_argument("--out", default="probes", help="output directory (default: probes/)")
    args = parser.parse_args(argv)
    if args.name not in PROBES:
        parser.error(f"unknown probe {args.name!r}.{closest(args.name, list(PROBES))}")
    probe = PROBES[args.name]
    from zoo import ConfigError

    try:
        frame, fig = probe(**parse_overrides(probe, args.overrides))
    except ConfigError as error:
        raise SystemExit(f"analysis.probe {args.name}: {error}") from None
    out = Path(args.out)
    paths = plots.save(fig, out, args.name)
    frame.to_csv(out / f"{args.name}.csv", index=False)
    fit = frame.attrs["fit"]
    fit.to_csv(out / f"{args.name}_fit.csv", index=False)
    print(fit.to_string(index=False))
    print(f"wrote {out / (args.name + '.csv')}, {out / (args.name + '_fit.csv')}, {paths['png']}, {paths['svg']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
