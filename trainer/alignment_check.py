"""`python -m trainer alignment`: how often a sketch's face is found, and how well it lands.

For each set, every sketch goes through the app's alignment (`core.preprocess`), once with
dlib's HOG detector only and once with the full chain (`preprocess.DETECTORS`: HOG, HOG on
a re-inked copy, the CNN detector). Reported per set: the share aligned by landmarks
(the rest fall back to the ink's bounding box) and the eye/mouth placement error, where
the truth is known, in inter-ocular distances of the canonical frame:

- CUFS / FS2K test: the truth is the transform found on the paired photo (the sketch is
  drawn over it pixel for pixel), where sketch and photo have the same size;
- synthetic line, pencil and colour sketches of CelebA test photos, pasted at a random
  scale and place on a larger sheet (as a scan would give): the truth is the paste;
- CUFS / FS2K test sketches photographed on a page (`on_a_page`): turned up to 8 degrees,
  scaled and moved on a larger sheet, then tinted, lit unevenly, blurred, noised and
  JPEG-compressed as a phone photo of paper is (`trainer.data.artist_augment`): the
  truth is the paired photo's transform composed with the page's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from sketchlab.core.frame import FRAME_SIZE, SKETCH_STYLES
from sketchlab.core.imageio import load_image
from sketchlab.core.manifest import read_manifest
from sketchlab.core.preprocess import (
    DETECTORS,
    canonical_points,
    estimate_transform,
    normalise_paper,
    prepare_photo,
)
from trainer.data.artist_augment import photographed, sensor_noise
from trainer.data.styles import synthesize


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def placement_error(found: np.ndarray, truth: np.ndarray, frame: tuple[int, int]) -> float:
    """Mean eye/mouth displacement (in the frame, inter-ocular units) between two
    source->frame transforms, measured at the true positions of the three points."""
    target = canonical_points(frame)
    inv = cv2.invertAffineTransform(truth)
    src = _apply(inv, target)  # where the eyes and mouth are in the source image
    err = np.linalg.norm(_apply(found, src) - target, axis=1).mean()
    return float(err / np.linalg.norm(target[1] - target[0]))


def _hand_drawn(manifest: str, limit: int, style: str = "") -> Iterator[tuple[np.ndarray,
                                                                             np.ndarray | None]]:
    rows = [r for r in read_manifest(manifest, "test") if r.sketch is not None
            and (not style or r.style == style)][:limit]
    for r in rows:
        sketch = load_image(r.sketch)
        truth = None
        photo = load_image(r.photo)
        if photo.shape[:2] == sketch.shape[:2]:
            t = prepare_photo(photo).transform
            truth = t.matrix if t.method == "landmarks" else None
        yield sketch, truth


def on_a_page(sketch: np.ndarray, truth: np.ndarray | None, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """The sketch as a phone photo of its page shows it, and the page->frame truth.

    The sketch is scaled (1-2.5x), turned up to 8 degrees and moved on a white sheet a
    little wider than its scaled diagonal, then the whole page is photographed
    (`photographed`: tinted paper, a light gradient and vignette, blur) and saved by a
    phone (`sensor_noise`: grain, JPEG). A similarity keeps the truth exact: the sketch's
    own truth after the inverse of the paste."""
    h, w = sketch.shape[:2]
    scale = float(rng.uniform(1.0, 2.5))
    angle = float(rng.uniform(-8.0, 8.0))
    diagonal = scale * float(np.hypot(h, w))  # the turned sketch fits in it at any angle
    side = int(np.ceil(diagonal * 1.15))
    sheet_h, sheet_w = int(side * rng.uniform(1.0, 1.4)), side
    paste = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    slack = np.array([sheet_w, sheet_h]) - diagonal
    centre = np.array([sheet_w, sheet_h]) / 2 + rng.uniform(-0.5, 0.5, 2) * np.maximum(slack, 0)
    paste[:, 2] += centre - np.array([w / 2, h / 2])
    sheet = cv2.warpAffine(sketch, paste, (sheet_w, sheet_h), flags=cv2.INTER_CUBIC,
                           borderValue=(255, 255, 255))
    sheet = sensor_noise(photographed(sheet, rng), rng)
    if truth is None:
        return sheet, None
    inv = np.vstack([cv2.invertAffineTransform(paste), [0.0, 0.0, 1.0]])
    return sheet, (np.vstack([truth, [0.0, 0.0, 1.0]]) @ inv)[:2]


def _photographed(manifest: str, limit: int, seed: int
                  ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    rng = np.random.default_rng(seed)
    for sketch, truth in _hand_drawn(manifest, limit):
        yield on_a_page(sketch, truth, rng)


def _synthetic(style: str, limit: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rows = [r for r in read_manifest("$DATA/celeba_color/manifest.csv", "test")
            if "/align/" in str(r.photo)][:limit]
    h, w = FRAME_SIZE
    for r in rows:
        frame = prepare_photo(r.photo).image
        sketch = synthesize(frame, style, rng)
        scale = float(rng.uniform(1.5, 4.0))
        sheet_h, sheet_w = int(h * scale * rng.uniform(1.2, 1.8)), int(w * scale * 1.4)
        sheet = np.full((sheet_h, sheet_w, 3), 255, np.uint8)
        big = cv2.resize(sketch, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_CUBIC)
        y0 = int(rng.integers(0, sheet_h - big.shape[0] + 1))
        x0 = int(rng.integers(0, sheet_w - big.shape[1] + 1))
        sheet[y0:y0 + big.shape[0], x0:x0 + big.shape[1]] = big
        # sheet -> frame: undo the paste (the frame is the canonical one by construction)
        truth = np.array([[1 / scale, 0, -x0 / scale], [0, 1 / scale, -y0 / scale]])
        yield sheet, truth


def check(name: str, items: Iterator[tuple[np.ndarray, np.ndarray | None]]
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"set": name, "n": 0}
    for label in ("hog", "chain"):
        out[f"found_{label}"] = 0
        out[f"errors_{label}"] = []
    for sketch, truth in items:
        out["n"] += 1
        clean = normalise_paper(sketch)
        for label, detectors in (("hog", ("hog",)), ("chain", DETECTORS)):
            t = estimate_transform(clean, FRAME_SIZE, detectors=detectors)
            out[f"found_{label}"] += t.method == "landmarks"
            if truth is not None:
                out[f"errors_{label}"].append(placement_error(t.matrix, truth, FRAME_SIZE))
    for label in ("hog", "chain"):
        e = out.pop(f"errors_{label}")
        out[f"found_{label}"] = out[f"found_{label}"] / max(out["n"], 1)
        out[f"median_error_{label}"] = float(np.median(e)) if e else None
        out[f"bad_{label}"] = float(np.mean(np.asarray(e) > 0.25)) if e else None
    return out


def main(args: argparse.Namespace) -> int:
    n = args.per_set
    sets: list[tuple[str, Iterator[Any]]] = [
        ("cufs_cuhk test", _hand_drawn("$DATA/cufs_cuhk/manifest.csv", n))]
    sets += [(f"fs2k test style {s}", _hand_drawn("$DATA/fs2k/manifest.csv", n, s))
             for s in ("0", "1", "2")]
    sets += [(f"synthetic {s} (CelebA test, pasted on a sheet)", _synthetic(s, n, i))
             for i, s in enumerate(SKETCH_STYLES)]
    sets += [("cufs_cuhk test, photographed page", _photographed("$DATA/cufs_cuhk/manifest.csv",
                                                                  n, 11)),
             ("fs2k test, photographed page", _photographed("$DATA/fs2k/manifest.csv", n, 12))]
    if args.sets:
        sets = [(name, items) for name, items in sets
                if any(word in name for word in args.sets)]
    rows = [check(name, items) for name, items in sets]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| set | n | landmarks found, HOG | found, full chain | median error, HOG | "
          "full chain | error > 0.25, HOG | full chain |")
    print("|" + "---|" * 8)

    def p(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.0f} %"

    def e(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    for r in rows:
        print(f"| {r['set']} | {r['n']} | {p(r['found_hog'])} | {p(r['found_chain'])} | "
              f"{e(r['median_error_hog'])} | {e(r['median_error_chain'])} | "
              f"{p(r['bad_hog'])} | {p(r['bad_chain'])} |")
    return 0
