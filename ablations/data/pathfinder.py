"""The Pathfinder generator (Linsley, Kim et al.; github.com/drewlinsley/pathfinder ``snakes2.py``) with the
LRA's parameters per resolution, in numpy and Pillow (no OpenCV), parallel over processes.

An image holds two target "snakes" and a few short distractor snakes. A snake is a chain of
``contour_length`` paddles (short line segments of ``paddle_length`` pixels) separated by ``margin`` pixels,
each paddle turning by at most ``continuity`` radians from the last; no paddle comes within ``margin`` of
another snake. The two target snakes start from seeds ``seed_distance`` apart. Two circular markers are
drawn: at the start of one target snake and at the end of the same snake (label 1) or of the other one
(label 0). Everything is drawn ``antialias_scale`` times larger and box-downsampled, then scaled so the
brightest pixel is 255 (as the original's ``imsave`` did).

Simplifications against the original, which is the reason this is a re-implementation and not a copy:
the turn of each paddle is uniform in ``±continuity`` (the original weights candidate end points), labels
are balanced exactly within each batch (the original draws each with p = 1/2), and single-paddle
distractors are off (as in the LRA's wrapper).

Layout written, as in the LRA release: ``OUT/pathfinder{R}/curv_contour_length_14/imgs/<batch>/sample_<i>.png``
and ``metadata/<batch>.npy``, a text file with one row per image:
``imgs/<batch> sample_<i>.png <i> <label> <continuity> <contour_length> <distractor_length> <paddle_length>
<paddle_thickness> <margin> 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Params:
    """The LRA's settings for one resolution (lra_benchmarks/data/pathfinder.py; Python 2 integer division)."""

    window: int
    padding: int
    paddle_length: int
    paddle_thickness: float
    margins: tuple[int, ...]
    seed_distance: int
    marker_radius: float
    continuity: float
    contrast: float
    contour_length: int = 14
    distractor_length: int = 4  # 14 / 3 in Python 2
    n_distractors: int = 5
    antialias_scale: int = 2


PARAMS = {
    32: Params(32, 1, 2, 0.5, (1,), 7, 1.5, 1.0, 2 * 0.75, n_distractors=20 // 4),
    64: Params(64, 1, 5, 1.0, (1,), 12, 2.5, 1.8, 0.8, n_distractors=22 // 4),
    128: Params(128, 1, 5, 1.5, (2, 3), 20, 3.0, 1.8, 0.9, n_distractors=35 // 4),
    256: Params(256, 22, 5, 2.0, (3,), 27, 5.0, 1.8, 1.0, n_distractors=30 // 4),
}
DIFFICULTY = "curv_contour_length_14"
MAX_SNAKE_TRIALS = 4  # the original's max_target_contour_retrial
MAX_EXPANSIONS = 400  # paddles tried per snake before giving up


class Canvas:
    """The occupancy grid and the paddles of one image, then its supersampled drawing."""

    def __init__(self, p: Params, margin: int, rng: np.random.Generator):
        self.p, self.margin, self.rng = p, margin, rng
        self.occupied = np.zeros((p.window, p.window), dtype=bool)
        self.paddles: list[tuple[np.ndarray, np.ndarray, float]] = []  # (start, end, intensity) in pixels

    @staticmethod
    def points(start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Integer pixels ``(k, 2)`` (row, col) along a segment."""
        k = int(np.ceil(np.linalg.norm(end - start) * 2)) + 1
        return np.rint(np.linspace(start, end, k)).astype(int)

    def blocked(self, occupied: np.ndarray) -> np.ndarray:
        """Pixels within ``margin`` of an occupied one."""
        from scipy.ndimage import maximum_filter

        return maximum_filter(occupied, size=2 * self.margin + 1)

    def snake(self, start: np.ndarray, angle: float, n: int, intensity: float) -> tuple | None:
        """Grow ``n`` paddles from ``start``; ``(first tip, last tip)``, or None (nothing kept) if it gets stuck.

        Each paddle's direction is drawn among the free ones within ``±continuity`` of the last (the original
        samples among the free end points in the same way); the next paddle starts ``margin + 1`` further on.
        A paddle may not come within ``margin`` of any earlier paddle except the snake's previous one. A dead
        end backtracks (depth first, at most ``MAX_EXPANSIONS`` paddles tried), where the original retried.
        """
        p = self.p
        lo, hi = p.padding, p.window - p.padding
        unit = lambda theta: np.array([math.sin(theta), math.cos(theta)])  # noqa: E731  (row, col) direction

        def options(point, angle, first, body):
            occupied = self.occupied.copy()
            for pts in body[:-1]:
                occupied[pts[:, 0], pts[:, 1]] = True
            blocked = self.blocked(occupied)
            found = []
            for turn in [0.0] if first else self.rng.permutation(np.linspace(-p.continuity, p.continuity, 25)):
                theta = angle + turn
                end = point + p.paddle_length * unit(theta)
                pts = self.points(point, end)
                if (pts >= lo).all() and (pts < hi).all() and not blocked[pts[:, 0], pts[:, 1]].any():
                    found.append((theta, point, end, pts))
            return found

        path: list[tuple] = []  # (theta, start, end, pixels) of the paddles kept so far
        stack = [options(np.asarray(start, dtype=float), angle, True, [])]
        expansions = 0
        while stack and len(path) < n and expansions < MAX_EXPANSIONS:
            if not stack[-1]:
                stack.pop()
                if path:
                    path.pop()
                continue
            paddle = stack[-1].pop()
            expansions += 1
            path.append(paddle)
            if len(path) < n:
                theta, _, end, _ = paddle
                stack.append(options(end + (self.margin + 1) * unit(theta), theta, False, [q[3] for q in path]))
        if len(path) < n:
            return None
        for _, a, b, pts in path:
            self.occupied[pts[:, 0], pts[:, 1]] = True
            self.paddles.append((a, b, intensity))
        return path[0][1], path[-1][2]

    def render(self, markers: list[np.ndarray]) -> np.ndarray:
        """The image ``(window, window)`` uint8: paddles and marker circles, supersampled, box-downsampled, scaled."""
        from PIL import Image, ImageDraw

        s, w = self.p.antialias_scale, self.p.window
        big = np.zeros((w * s, w * s), dtype=np.float32)
        width = max(1, round(self.p.paddle_thickness * s * 2))
        for start, end, intensity in self.paddles:
            layer = Image.new("L", (w * s, w * s), 0)
            ImageDraw.Draw(layer).line(
                [tuple((start[::-1] + 0.5) * s), tuple((end[::-1] + 0.5) * s)], fill=255, width=width
            )
            big = np.maximum(big, np.asarray(layer, dtype=np.float32) / 255 * intensity)
        layer = Image.new("L", (w * s, w * s), 0)
        draw = ImageDraw.Draw(layer)
        r = self.p.marker_radius * s
        for center in markers:
            y, x = (center + 0.5) * s
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
        big = np.maximum(big, np.asarray(layer, dtype=np.float32) / 255)
        small = big.reshape(w, s, w, s).mean(axis=(1, 3))
        return np.rint(255 * small / max(small.max(), 1e-6)).astype(np.uint8)


def sample_image(p: Params, label: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One image with the given label and its paddle margin."""
    while True:
        margin = int(rng.choice(p.margins))
        canvas = Canvas(p, margin, rng)
        border = p.padding + 2 * p.seed_distance if p.window > 4 * p.seed_distance + 2 * p.padding else p.padding + 2
        first = rng.uniform(border, p.window - border, 2)
        phi = rng.uniform(0, 2 * np.pi)
        second = first + p.seed_distance * np.array([math.sin(phi), math.cos(phi)])
        tips = []
        for seed in (first, second):
            for _ in range(MAX_SNAKE_TRIALS):
                grown = canvas.snake(seed, rng.uniform(-np.pi, np.pi), p.contour_length, p.contrast)
                if grown is not None:
                    tips.append(grown)
                    break
        if len(tips) < 2:
            continue
        for _ in range(p.n_distractors):  # allow_incomplete: a distractor that gets stuck is dropped
            start = rng.uniform(p.padding, p.window - p.padding, 2)
            canvas.snake(start, rng.uniform(-np.pi, np.pi), p.distractor_length, p.contrast)
        origin = int(rng.integers(0, 2))
        terminal = origin if label == 1 else 1 - origin
        return canvas.render([tips[origin][0], tips[terminal][1]]), margin


def write_batch(out: Path, resolution: int, batch: int, n_images: int, seed: int) -> int:
    """Write ``imgs/<batch>/sample_<i>.png`` and ``metadata/<batch>.npy`` (text rows) under ``out``."""
    from PIL import Image

    p = PARAMS[resolution]
    rng = np.random.default_rng([seed, resolution, batch])
    base = out / f"pathfinder{resolution}" / DIFFICULTY
    (base / "imgs" / str(batch)).mkdir(parents=True, exist_ok=True)
    (base / "metadata").mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(np.arange(n_images) % 2)
    rows = []
    for i, label in enumerate(labels):
        image, margin = sample_image(p, int(label), rng)
        Image.fromarray(image).save(base / "imgs" / str(batch) / f"sample_{i}.png")
        rows.append(
            f"imgs/{batch} sample_{i}.png {i} {label} {p.continuity} {p.contour_length} {p.distractor_length} "
            f"{p.paddle_length} {p.paddle_thickness} {margin} 1"
        )
    (base / "metadata" / f"{batch}.npy").write_text("\n".join(rows) + "\n")
    return n_images


def generate(
    out: Path,
    resolution: int = 32,
    n_images: int = 200000,
    batch_size: int = 1000,
    workers: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> int:
    """Generate ``n_images`` in batches of ``batch_size`` over ``workers`` processes; returns the count written."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    if resolution not in PARAMS:
        raise ValueError(f"pathfinder: resolution must be one of {sorted(PARAMS)}, got {resolution}.")
    sizes = [min(batch_size, n_images - start) for start in range(0, n_images, batch_size)]
    done = 0
    with tqdm(total=n_images, desc=f"pathfinder{resolution}", disable=not progress) as bar:
        if workers <= 1:
            for batch, size in enumerate(sizes):
                done += write_batch(out, resolution, batch, size, seed)
                bar.update(size)
        else:
            with ProcessPoolExecutor(workers) as pool:
                futures = [pool.submit(write_batch, out, resolution, b, s, seed) for b, s in enumerate(sizes)]
                for future in as_completed(futures):
                    n = future.result()
                    done += n
                    bar.update(n)
    return done


def montage(out: Path, resolution: int, path: Path, n: int = 8, scale: int = 4) -> Path:
    """Write the first ``n`` generated images side by side to ``path`` (PNG), each framed by its label:
    a white frame for 1 (markers joined), grey for 0, to check by eye that they look like the release's."""
    from PIL import Image

    base = out / f"pathfinder{resolution}" / DIFFICULTY
    rows = [line.split() for line in (base / "metadata" / "0.npy").read_text().splitlines()][:n]
    tiles = [
        np.pad(np.asarray(Image.open(base / r[0] / r[1])), 2, constant_values=255 if r[3] == "1" else 96) for r in rows
    ]
    strip = np.concatenate(tiles, axis=1)
    Image.fromarray(strip).resize((strip.shape[1] * scale, strip.shape[0] * scale), Image.NEAREST).save(path)
    return path
