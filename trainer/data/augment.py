"""The same random flip and small similarity transform for both images of a pair.

A pair must stay pixel-registered, so one matrix warps both: sketches pad with paper
white, photos reflect their edge (as `preprocess.warp` does for each in the app).
"""

from __future__ import annotations

import cv2
import numpy as np


def random_affine(frame: tuple[int, int], rng: np.random.Generator, rotate: float,
                  scale: float, shift: float, flip: bool = True) -> np.ndarray:
    h, w = frame
    angle = float(rng.uniform(-rotate, rotate))
    s = float(rng.uniform(1 - scale, 1 + scale))
    tx, ty = (float(v) for v in rng.uniform(-shift, shift, 2) * (w, h))
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, s)
    m[:, 2] += (tx, ty)
    if flip and rng.random() < 0.5:
        f = np.array([[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]], np.float64)
        m = (np.vstack([m, [0, 0, 1]]) @ f)[:2]
    return m


def apply_pair(sketch: np.ndarray, photo: np.ndarray, m: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    h, w = photo.shape[:2]
    s = cv2.warpAffine(sketch, m, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    p = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT101)
    return s, p
