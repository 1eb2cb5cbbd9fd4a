"""``python -m ablations.data list | listops | pathfinder``: list the tasks, or generate LRA data locally.

    python -m ablations.data list [--root DIR]
    python -m ablations.data listops --out DIR [--n-train 96000 --n-val 2000 --n-test 2000 --seed 0]
    python -m ablations.data pathfinder --resolution 32 --out DIR [--n-images 200000 --montage M.png]

``listops --out DATA/listops`` and ``pathfinder --out DATA/pathfinder`` put the files where the
``lra_listops`` and ``lra_pathfinder`` tasks look for them under the data root ``DATA``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablations.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    show = commands.add_parser("list", help="every task, whether its data is available here, and its size")
    show.add_argument("--root", type=Path, default=None, help="data root (default: $SEQZOO_DATA, else ./data)")

    listops = commands.add_parser("listops", help="generate LRA ListOps (basic_{train,val,test}.tsv)")
    listops.add_argument("--out", type=Path, required=True, help="output folder, e.g. DATA/listops")
    listops.add_argument("--n-train", type=int, default=96000)
    listops.add_argument("--n-val", type=int, default=2000)
    listops.add_argument("--n-test", type=int, default=2000)
    listops.add_argument("--max-depth", type=int, default=10)
    listops.add_argument("--max-args", type=int, default=10)
    listops.add_argument("--min-length", type=int, default=500, help="keep trees longer than this")
    listops.add_argument("--max-length", type=int, default=2000, help="keep trees shorter than this")
    listops.add_argument("--seed", type=int, default=0)

    pathfinder = commands.add_parser("pathfinder", help="generate LRA Pathfinder in the release layout")
    pathfinder.add_argument("--out", type=Path, required=True, help="output folder, e.g. DATA/pathfinder")
    pathfinder.add_argument("--resolution", type=int, default=32, choices=(32, 64, 128, 256))
    pathfinder.add_argument("--n-images", type=int, default=200000)
    pathfinder.add_argument("--batch-size", type=int, default=1000, help="images per metadata file")
    pathfinder.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    pathfinder.add_argument("--seed", type=int, default=0)
    pathfinder.add_argument("--montage", type=Path, default=None, help="also write the first 8 images to this PNG")

    args = parser.parse_args(argv)
    if args.command == "list":
        from ablations.data.catalog import table

        print(table(args.root))
    elif args.command == "listops":
        from ablations.data import listops as gen

        counts = gen.generate(
            args.out, args.n_train, args.n_val, args.n_test, args.max_depth, args.max_args,
            args.min_length, args.max_length, args.seed,
        )  # fmt: skip
        print(f"wrote {counts} rows to {args.out}")
    else:
        from ablations.data import pathfinder as gen

        n = gen.generate(args.out, args.resolution, args.n_images, args.batch_size, args.workers, args.seed)
        print(f"wrote {n} images to {args.out / f'pathfinder{args.resolution}'}")
        if args.montage is not None:
            picture = gen.montage(args.out, args.resolution, args.montage)
            print(f"montage of the first images (frame: white = label 1): {picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
