"""The search's second direction: each gallery photo drawn as a pencil sketch, and compared
with the sketch as drawn.

The network turns a sketch into a photo and searches photos with it. A sketch can also
be compared the other way: draw every gallery photo as a sketch and compare sketches. The
two directions err differently (the photo carries the generator's habits, the drawing the
gap between a filter and an artist), so the search distance adds them:

    two_way = d(searched descriptor, photo) + WEIGHT * d(raw sketch descriptor, drawn photo)

The drawing is a colour dodge of the face chip's luma by its blurred inverse, at a fixed
scale of dlib's 150x150 chip: every gallery photo, whatever its size, is drawn alike, and
enrolment already cuts that chip. It uses luma only, so a colour and a grey copy of one
photo draw the same. No randomness: a photo always draws to the same descriptor.

SIGMA and WEIGHT were chosen on train sketches only (models/sketchlab-default-lab.md,
"Gallery photos drawn as sketches"): the drawing by how often a raw CUFS or FS2K train
sketch finds its own photo's drawing among 10,671 train photos, the weight on CUFS train
sketches searched through a generator that never saw CUFS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sketchlab.core.matching import EMBEDDING_DIM, EMBEDDING_MODEL, distances, embed_chips

SIGMA = 8.0  # blur of the inverse, in pixels of the 150x150 chip
WEIGHT = 1.0  # share of the drawn direction in the two-way distance
# Share of the searched photo redrawn by the gallery's drawer in the sketch's side of the
# drawn direction (`drawn_query`), chosen on CUFS train sketches through the generator and
# drawer that never saw CUFS (`python -m trainer two-way --redrawn-share`).
REDRAWN_SHARE = 0.5
# The descriptor of a drawn photo, named with its drawing so a change of drawing is a new
# model in the embedding cache and the gallery, never mixed with the old.
DRAWN_MODEL = f"{EMBEDDING_MODEL}+pencil-dodge-s{SIGMA:g}"
# A query kind searched two ways has its own 1:N tables, under its name + TWO_WAY
# ("adapted+drawn"), stored beside the one-way ones with `two_way_fields()`.
TWO_WAY = "+drawn"


def two_way_fields(drawn_model: str = DRAWN_MODEL) -> dict[str, object]:
    """What a two-way table was measured with: the gallery's drawing (`Drawing.model`) and
    the weight. A table measured with another weight, or a drawing this app cannot make,
    does not describe its search (`model_catalog.read_search_rates`)."""
    return {"drawn_model": drawn_model, "weight": WEIGHT}


def network_drawn_model(drawer_sha256: str) -> str:
    """The descriptor name of faces drawn by a photo-to-sketch network (`trainer`'s
    `direction = "photo_to_sketch"`), by the network's weights: a new drawer is a new
    model in the embedding cache, never mixed with the pencil filter's."""
    return f"{EMBEDDING_MODEL}+drawn-by-{drawer_sha256[:12]}"


@dataclass(frozen=True)
class Drawing:
    """How the two-way search draws each gallery face: the pencil filter (`drawer` None),
    or a photo-to-sketch network (its model file), which draws as the artists it learned
    from. `model` names the drawings' descriptors in the gallery and the embedding cache,
    so faces drawn one way are never compared with a sketch's tables measured another."""

    model: str = DRAWN_MODEL
    drawer: Path | None = None

    @classmethod
    def by_network(cls, path: str | os.PathLike[str]) -> Drawing:
        """The drawing of the photo-to-sketch model file at `path` (read from its header)."""
        from sketchlab.core.model_file import read_metadata

        return cls(network_drawn_model(read_metadata(Path(path))["sha256"]), Path(path))


def drawing_words(drawn_model: str) -> str:
    """How the gallery faces of a two-way search were drawn, in the words the panel, the
    report and the case record use."""
    if drawn_model == DRAWN_MODEL:
        return "Gallery faces drawn by the pencil filter."
    return (f"Gallery faces drawn by the drawing network {drawn_model.rsplit('-', 1)[-1]}, "
            "as the artists it learned from draw.")


PENCIL = Drawing()  # the pencil filter (`draw_chip`)


def load_drawer(path: str | os.PathLike[str]) -> Any:
    """The `inference.Inverter` that draws with a photo-to-sketch model file: PyTorch in
    fp32 on the CPU, so a face draws to the same descriptor on every machine (a gallery's
    drawings are made once and kept, and its rates were measured on them)."""
    from sketchlab.core.inference import Inverter

    return Inverter(path, device="cpu", warmup=False, engine="torch", precision="fp32")


def network_drawn_descriptors(frames: list[np.ndarray], drawer: Any) -> np.ndarray:
    """(N, 128) descriptors of canonical-frame photos (`preprocess.prepare_photo`) drawn
    by `drawer` (an `inference.Inverter` over a photo-to-sketch network), each embedded in
    the frame's face box as a sketch is (`matching.embed_aligned`). The network reads the
    photo's luma, as it was trained to: a colour photo and its grey copy draw alike, so a
    gallery's colour cannot favour its colour faces."""
    from sketchlab.core.frame import face_box
    from sketchlab.core.matching import embed_batch
    from sketchlab.core.query import to_grey

    if not frames:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    drawn = drawer.invert_batch([to_grey(f) for f in frames])
    box = face_box(drawn[0].shape[:2])
    return np.stack(embed_batch(drawn, [box] * len(drawn))).astype(np.float32)


def drawn_query(raw: np.ndarray, redrawn: np.ndarray | None = None,
                share: float = REDRAWN_SHARE) -> np.ndarray:
    """The sketch's descriptor for the drawn direction: the raw sketch's own, or, when the
    searched photo's readings were redrawn by the gallery's drawer (`redrawn`, (..., V, D)),
    its mix with their mean. A new artist's sketch and the drawer's drawings differ in
    hand; the redrawn photo is in the drawer's hand, so it meets the gallery's drawings
    on their own terms, and the raw sketch keeps what the generator lost."""
    raw = np.asarray(raw, np.float32)
    if redrawn is None:
        return raw
    r = np.asarray(redrawn, np.float32)
    if r.ndim != raw.ndim + 1 or r.shape[-1] != raw.shape[-1] or r.shape[-2] == 0:
        raise ValueError(f"expected (..., V >= 1, {raw.shape[-1]}) redrawn descriptors for "
                         f"raw {raw.shape}, got {r.shape}")
    return ((1.0 - share) * raw + share * r.mean(axis=-2)).astype(np.float32)


def redrawer(drawer: Any) -> Callable[[list[np.ndarray]], np.ndarray]:
    """`core.query.sketch_query`'s `redraw`: the searched photos drawn by `drawer` (an
    `inference.Inverter` over the gallery's drawing network) and embedded as its faces'
    drawings are (`network_drawn_descriptors`)."""
    return lambda frames: network_drawn_descriptors(frames, drawer)


def draw_chip(chip: np.ndarray, sigma: float = SIGMA, tone: float = 0.0) -> np.ndarray:
    """A (H, W, 3) uint8 face chip drawn as a pencil sketch, (H, W, 3) uint8 grey. `sigma`
    and `tone` (the share of the photo's own shade kept) are the search's drawing unless
    the trainer tries others (`trainer.two_way`)."""
    rgb = np.ascontiguousarray(chip)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 chip, got {rgb.shape} {rgb.dtype}")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blur = cv2.GaussianBlur(255.0 - grey, (0, 0), sigma)
    drawn = np.minimum(1.0, grey / np.maximum(255.0 - blur, 1.0))
    if tone:
        drawn = drawn * (1.0 - tone) + tone * drawn * (grey / 255.0)
    out = (drawn * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def drawn_descriptors(chips: list[np.ndarray], batch: int = 32, threads: int | None = None
                      ) -> np.ndarray:
    """(N, 128) descriptors of face chips drawn as sketches (`draw_chip`)."""
    return embed_chips([draw_chip(c) for c in chips], batch, threads)


def drawn_distance(raw: np.ndarray, drawings: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """The raw sketch's distance to each face's drawing; with several drawings of each
    face (the pencil filter's, a drawing network's: lists of (N, D) arrays), the mean of
    its distances to them, since each drawing errs its own way."""
    if isinstance(drawings, np.ndarray):
        return distances(raw, drawings)
    if not drawings:
        raise ValueError("no drawings to compare the sketch with")
    return np.mean([distances(raw, d) for d in drawings], axis=0).astype(np.float32)


def two_way(photo_distance: np.ndarray, drawn_distance: np.ndarray) -> np.ndarray:
    """The two-way search distance from the two directions' distances (any shape)."""
    return (np.asarray(photo_distance, np.float32)
            + np.float32(WEIGHT) * np.asarray(drawn_distance, np.float32))


def two_way_distances(searched: np.ndarray, raw: np.ndarray, photos: np.ndarray,
                      drawn: np.ndarray) -> np.ndarray:
    """Two-way distances of (D,) or (Q, D) queries to N gallery faces: `searched` against
    the (N, D) photo descriptors, the raw sketch's `raw` against the (N, D) drawn ones."""
    return two_way(distances(searched, photos), distances(raw, drawn))


def pair(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two-way vectors: (..., 128) + (..., 128) -> (..., 256), the photo side first. A
    query pairs its searched descriptor with the raw sketch's, a gallery face its photo's
    descriptor with its drawing's, so one array carries both directions."""
    return np.concatenate([np.asarray(first, np.float32), np.asarray(second, np.float32)],
                          axis=-1)


def is_pair(vectors: np.ndarray) -> bool:
    return np.shape(vectors)[-1] == 2 * EMBEDDING_DIM


def search_distances(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """`matching.distances` for one-way (128-d) vectors, the two-way distance for pairs
    (256-d, `pair`): the one definition the search and its measured rates share."""
    if not is_pair(query):
        return distances(query, gallery)
    d = EMBEDDING_DIM
    q, g = np.asarray(query, np.float32), np.asarray(gallery, np.float32)
    return two_way_distances(q[..., :d], q[..., d:], g[:, :d], g[:, d:])


def row_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each row of (Q, D) `a` to the same row of `b` (one-way or pairs)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if not is_pair(a):
        return np.linalg.norm(a - b, axis=-1)
    d = EMBEDDING_DIM
    return two_way(np.linalg.norm(a[..., :d] - b[..., :d], axis=-1),
                   np.linalg.norm(a[..., d:] - b[..., d:], axis=-1))
