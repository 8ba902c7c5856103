"""Calibrate the candidate score on labelled face pairs (LFW View-1 by default).

    python -m sketchlab.db.calibrate [--lfw DIR]

Fits P(same person | distance) = 1 / (1 + exp((d - threshold) / scale)) by logistic
regression on pairsDevTrain and reports accuracy on pairsDevTest. The results are the
constants in sketchlab.core.matching (CALIBRATED_*). Descriptors come from the shared
embedding cache (filled by gallery enrolment or the trainer's evaluation), so a rerun
after `sketchlab gallery enroll .../lfw/manifest.csv` takes seconds.

This is photo-to-photo calibration: for an inverted sketch the distances run larger, so
the score says how alike the two faces look, not the probability that it is the person.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sketchlab.core import paths
from sketchlab.core.embedding_cache import EmbeddingCache
from sketchlab.core.hashing import sha256_file
from sketchlab.core.imageio import load_image
from sketchlab.core.matching import scan_faces


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """(image stem a, image stem b, same person) from an LFW pairs file."""
    out = []
    lines = path.read_text().split("\n")[1:]
    for line in lines:
        f = line.split()
        if len(f) == 3:
            out.append((f"{f[0]}_{int(f[1]):04d}", f"{f[0]}_{int(f[2]):04d}", True))
        elif len(f) == 4:
            out.append((f"{f[0]}_{int(f[1]):04d}", f"{f[2]}_{int(f[3]):04d}", False))
    return out


def descriptor(path: Path, cache: EmbeddingCache) -> np.ndarray | None:
    sha = sha256_file(path)
    hit, scan = cache.get_scan(sha)
    if hit and scan is not None:
        return scan.vector
    scan = scan_faces(load_image(path))
    cache.put_scans([(sha, scan)])
    return scan.vector


def pair_distances(pairs: list[tuple[str, str, bool]], images: Path, cache: EmbeddingCache
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    memo: dict[str, np.ndarray | None] = {}

    def get(stem: str) -> np.ndarray | None:
        if stem not in memo:
            memo[stem] = descriptor(images / f"{stem}.jpg", cache)
        return memo[stem]

    d, y, missing = [], [], 0
    for a, b, same in pairs:
        va, vb = get(a), get(b)
        if va is None or vb is None:
            missing += 1
            continue
        d.append(float(np.linalg.norm(va - vb)))
        y.append(same)
    return np.array(d), np.array(y, dtype=np.float64), missing


def fit_logistic(d: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(threshold, scale) maximising the likelihood of y under sigmoid((t - d) / s)."""
    x = np.stack([np.ones_like(d), d], axis=1)
    w = np.array([6.0, -10.0])  # near dlib's 0.6 threshold
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (y - p)
        hess = -(x.T * (p * (1 - p))) @ x - 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.abs(step).max() < 1e-10:
            break
    a, b = w
    return float(-a / b), float(-1.0 / b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sketchlab.db.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    from sketchlab.core.manifest import shared_data_dir

    ap.add_argument("--lfw", type=Path, default=shared_data_dir() / "lfw")
    args = ap.parse_args(argv)
    cache = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")
    try:
        splits, images = args.lfw / "splits", args.lfw / "images"
        d_tr, y_tr, miss_tr = pair_distances(read_pairs(splits / "pairsDevTrain.txt"), images,
                                             cache)
        d_te, y_te, miss_te = pair_distances(read_pairs(splits / "pairsDevTest.txt"), images,
                                             cache)
    finally:
        cache.close()
    t, s = fit_logistic(d_tr, y_tr)
    acc = float(np.mean((d_te <= t) == (y_te > 0.5)))
    acc_06 = float(np.mean((d_te <= 0.6) == (y_te > 0.5)))
    print(json.dumps({"threshold": round(t, 4), "scale": round(s, 4),
                      "train_pairs": len(d_tr), "test_pairs": len(d_te),
                      "pairs_without_face": miss_tr + miss_te,
                      "test_accuracy_at_threshold": round(acc, 4),
                      "test_accuracy_at_0.6": round(acc_06, 4)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
