"""docs/artist-augmentations.png: each artist augmentation on CUFS and synthetic sketches.

Rows: the sketch as drawn, then each augmentation of `trainer.data.artist_augment` (and
the paper's look before the app's clean-up, which the network never sees). Columns: three
draws on one CUFS train sketch, then one draw each on a line, pencil and colour sketch
synthesized from one CelebA train photo. Every draw is seeded, so the sheet is
reproducible.

    .venv/bin/python tools/artist_augment_sheet.py --out docs/artist-augmentations.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from sketchlab.core.frame import FRAME_SIZE, SKETCH_STYLES
from sketchlab.core.manifest import shared_data_dir
from trainer.data.align_cache import load_aligned
from trainer.data.artist_augment import ARTIST_AUGMENTS, photographed, sensor_noise
from trainer.data.styles import synthesize
from trainer.plots import grid, save_png

LABEL_W = 118
# The sheet's images are picked from the seed-fixed subsets of these sizes (the subset
# depends on its size, so an index means the same image only with the same size).
CUFS_ITEMS, CELEBA_ITEMS = 4, 8


def _label(text: str, h: int) -> np.ndarray:
    tile = np.full((h, LABEL_W, 3), 255, np.uint8)
    for n, part in enumerate(text.split("\n")):
        cv2.putText(tile, part, (4, h // 2 - 4 + 16 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def _raw_photo(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photographed page as the camera saved it, before the app cleans it."""
    return sensor_noise(photographed(sketch, rng), rng)


def sources(cufs_index: int, celeba_index: int, cache: str) -> list[np.ndarray]:
    """Three copies of one CUFS train sketch, then its line, pencil and colour synthetics."""
    data = shared_data_dir()
    cufs = load_aligned(data / "cufs_cuhk" / "manifest.csv", "train", FRAME_SIZE, True,
                        max_items=CUFS_ITEMS, cache=cache, progress=False)
    celeba = load_aligned(data / "celeba_color" / "manifest.csv", "train", FRAME_SIZE, False,
                          max_items=CELEBA_ITEMS, cache=cache, progress=False,
                          subset="align/")
    sketch = np.asarray(cufs.sketches[cufs_index])
    photo = np.asarray(celeba.photos[celeba_index])
    synthetic = [synthesize(photo, s, np.random.default_rng([1, n]))
                 for n, s in enumerate(SKETCH_STYLES)]
    return [sketch] * 3 + synthetic


def sheet(sketches: list[np.ndarray], seed: int) -> np.ndarray:
    h = sketches[0].shape[0]
    steps = [("as drawn", None), *[(name.replace("_", " "), fn)
                                   for name, fn in ARTIST_AUGMENTS.items()],
             ("paper, before\nclean-up", _raw_photo)]
    rows = []
    for r, (name, fn) in enumerate(steps):
        row = [_label(name, h)]
        for c, s in enumerate(sketches):
            row.append(s if fn is None else fn(s, np.random.default_rng([seed, r, c])))
        rows.append(row)
    # grid() wants equal tiles: lay the label and the sketches out by hand.
    tiles = grid([row[1:] for row in rows])
    labels = np.concatenate([np.pad(row[0], ((2, 0), (0, 0), (0, 0)), constant_values=255)
                             for row in rows], axis=0)
    labels = np.pad(labels, ((0, tiles.shape[0] - labels.shape[0]), (0, 0), (0, 0)),
                    constant_values=255)
    return np.concatenate([labels, tiles], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/artist-augmentations.png"))
    ap.add_argument("--cufs-index", type=int, default=1)
    ap.add_argument("--celeba-index", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="", help="aligned-frame cache (default: the user's)")
    ap.add_argument("--scale", type=float, default=1.0, help="enlarge the sheet this much")
    args = ap.parse_args()
    img = sheet(sources(args.cufs_index, args.celeba_index, args.cache), args.seed)
    if args.scale != 1.0:
        img = cv2.resize(img, None, fx=args.scale, fy=args.scale,
                         interpolation=cv2.INTER_CUBIC)
    save_png(args.out, img)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
