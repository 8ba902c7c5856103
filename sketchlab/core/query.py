"""Sketch -> search descriptor: the one path shared by `sketchlab match`, the app's search
and `python -m trainer evaluate`, so a figure the evaluation reports is what a user gets.

The sketch is aligned on its own (`prepare_sketch`: the app never has the true photo to
align it with), inverted unless the query is the raw sketch, and embedded with dlib's
descriptor at the canonical face box.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sketchlab.core.matching import embed_aligned
from sketchlab.core.preprocess import Prepared, prepare_sketch

if TYPE_CHECKING:
    from sketchlab.core.imageio import ImageSource
    from sketchlab.core.inference import Inverter


@dataclass(frozen=True)
class SketchQuery:
    prepared: Prepared  # the aligned sketch, canonical frame
    photo: np.ndarray | None  # the synthesized photo (None for a raw-sketch query)
    embedding: np.ndarray
    invert_ms: float


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in all three channels (what a grayscale gallery photo looks like)."""
    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, axis=2)


def sketch_query(sketch: ImageSource | Prepared, inverter: Inverter | None, raw: bool = False,
                 grey: bool = False) -> SketchQuery:
    """Align (unless already Prepared), invert (unless `raw`), embed. `grey` embeds the
    luma of the searched image (evaluation's colour-blind variant)."""
    if inverter is None and not raw:
        raise ValueError("an Inverter is needed unless raw=True")
    if isinstance(sketch, Prepared):
        prepared = sketch
    elif inverter is not None:
        prepared = prepare_sketch(sketch, inverter.resolution)
    else:
        prepared = prepare_sketch(sketch)  # the canonical frame's default size
    t0 = time.perf_counter()
    photo = None if raw else inverter.invert(prepared.image)  # type: ignore[union-attr]
    invert_ms = (time.perf_counter() - t0) * 1000
    image = prepared.image if photo is None else photo
    emb = embed_aligned(to_grey(image) if grey else image)
    return SketchQuery(prepared, photo, emb, invert_ms)
