"""The LRA ListOps generator (google-research/long-range-arena ``lra_benchmarks/data/listops.py``), seeded.

A tree is a value ``0 … 9`` with probability 1 − 0.25 (always at ``max_depth``), otherwise an operator
(MIN, MAX, MED, SUM_MOD) over 2 … ``max_args`` subtrees. Its length counts values, operators and closing
brackets. Trees with ``min_length < length < max_length`` are kept, duplicates dropped, and written with
the original's parenthesised nesting, e.g. ``( ( ( [MAX 2 ) 9 ) ] )`` for MAX(2, 9), to
``basic_{train,val,test}.tsv`` with the header ``Source\\tTarget``. The original draws from an unseeded
``random`` and orders examples by set iteration; here one ``random.Random(seed)`` and first-seen order make
the output a function of the seed.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

MIN, MAX, MED, SUM_MOD, END = "[MIN", "[MAX", "[MED", "[SM", "]"
OPERATORS = (MIN, MAX, MED, SUM_MOD)
VALUE_P = 0.25  # the original's name: a node is an operator when random() <= VALUE_P


def generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int):
    """``(tree, length)``: a value, or nested pairs ``((((op, a1), a2), …), END)`` as in the original."""
    r = rng.random() if depth < max_depth else 1
    if r > VALUE_P:
        return rng.choice(range(10)), 1
    length = 2
    values = []
    for _ in range(rng.randint(2, max_args)):
        sub, sub_length = generate_tree(rng, depth + 1, max_depth, max_args)
        values.append(sub)
        length += sub_length
    tree = (rng.choice(OPERATORS), values[0])
    for value in values[1:]:
        tree = (tree, value)
    return (tree, END), length


def to_string(tree) -> str:
    """The original's text form: every pair in parentheses."""
    if isinstance(tree, (str, int)):
        return str(tree)
    return f"( {to_string(tree[0])} {to_string(tree[1])} )"


def evaluate(tree) -> int:
    """The value of a tree: MIN, MAX, MED (``int`` of the median) or SUM_MOD (sum modulo 10) of its arguments."""
    op, args = _flatten(tree)
    values = [evaluate(a) if isinstance(a, tuple) else a for a in args]
    if op == MIN:
        return min(values)
    if op == MAX:
        return max(values)
    if op == MED:
        ordered, n = sorted(values), len(values)
        return int(ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)
    return sum(values) % 10


def _flatten(tree) -> tuple[str, list]:
    """``((((op, a1), a2), …), END)`` -> ``(op, [a1, a2, …])``."""
    node, args = tree[0], []
    while isinstance(node[0], tuple):
        node, arg = node
        args.append(arg)
    args.append(node[1])
    return node[0], args[::-1]


def generate(
    out: Path,
    n_train: int = 96000,
    n_val: int = 2000,
    n_test: int = 2000,
    max_depth: int = 10,
    max_args: int = 10,
    min_length: int = 500,
    max_length: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, int]:
    """Write ``basic_{train,val,test}.tsv`` to ``out``; returns the number of rows per split."""
    from tqdm import tqdm

    rng = random.Random(seed)
    total = n_train + n_val + n_test
    kept: dict = {}  # tree -> None, in first-seen order
    with tqdm(total=total, desc="listops", disable=not progress) as bar:
        while len(kept) < total:
            tree, length = generate_tree(rng, 1, max_depth, max_args)
            if min_length < length < max_length and tree not in kept:
                kept[tree] = None
                bar.update(1)
    rows = [(to_string(t), evaluate(t)) for t in kept]
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": rows[:n_train], "val": rows[n_train : n_train + n_val], "test": rows[n_train + n_val :]}
    for split, part in splits.items():
        with open(out / f"basic_{split}.tsv", "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(["Source", "Target"])
            writer.writerows(part)
    return {split: len(part) for split, part in splits.items()}
