"""Face embeddings and ranking: numpy in, numpy out, in the shape of face_recognition's API.

Embeddings are dlib's 128-d ResNet face descriptors (via face_recognition). An inverted
photo is already in the canonical frame, so its face box is known (`core.frame.FACE_BOX`)
and the detector, which often fails on synthesized faces, is not needed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sketchlab.core.budget import BudgetExceeded, run_within
from sketchlab.core.dlib_api import (
    cnn_detector,
    face_locations,
    face_recognition_api,
    hog_detector,
)
from sketchlab.core.frame import Box, face_box

if TYPE_CHECKING:
    from sketchlab.core.face_net import FaceDescriptorNet

EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1"
EMBEDDING_DIM = 128
DEFAULT_THRESHOLD = 0.6  # dlib's own same-person threshold on LFW

_fr = face_recognition_api


# Budget for one detection. dlib's HOG pyramid costs ~10 bytes and ~0.1 us per pixel
# after upsampling (measured: 4 MP upsampled once, 1.7 s and 150 MB), so larger photos
# are searched at a reduced size: a face there is still hundreds of pixels wide.
DETECT_MAX_PIXELS = 16_000_000
DETECT_SECONDS = 60.0


class DetectionError(ValueError):
    """Face detection did not finish within its budget."""


def detect_faces(rgb: np.ndarray, upsample: int = 1, model: str = "hog") -> list[Box]:
    """Face boxes, largest first, in `rgb`'s coordinates, found within the detection
    budget (else DetectionError). `model="cnn"`: dlib's MMOD CNN detector, ~60x slower on
    a CPU than HOG: a fallback for line drawings HOG does not see as faces."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(1.0, (DETECT_MAX_PIXELS / (h * w * 4 ** upsample)) ** 0.5) if h * w else 1.0
    small = rgb if s >= 1.0 else cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                                            interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small)
    # loaded outside the budget, which is for this image's work
    detector = cnn_detector() if model == "cnn" else hog_detector()
    try:
        found = run_within(DETECT_SECONDS, lambda: face_locations(small, upsample, detector),
                           "face detection")
    except BudgetExceeded as exc:
        raise DetectionError(str(exc)) from exc
    boxes = [tuple(round(v / s) for v in b) for b in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[1] - b[3]))  # type: ignore[misc]


def embed(rgb: np.ndarray, box: Box | None = None) -> np.ndarray | None:
    """128-d float32 descriptor of the face in `box` (or the largest detected), else None."""
    rgb = np.ascontiguousarray(rgb)
    if box is None:
        boxes = detect_faces(rgb)
        if not boxes:
            return None
        box = boxes[0]
    enc = _fr().face_encodings(rgb, [tuple(int(v) for v in box)])
    return np.asarray(enc[0], dtype=np.float32) if enc else None


@dataclass(frozen=True)
class FaceScan:
    """What enrolment needs from one photo: the largest face's descriptor and box, and
    how many faces the detector saw (so multi-face photos can be refused, not guessed)."""

    vector: np.ndarray | None
    box: Box | None
    n_faces: int | None  # None: not counted (a cached descriptor without its detection)


def scan_faces(rgb: np.ndarray, box: Box | None = None, vector: np.ndarray | None = None,
               n_faces: int | None = None) -> FaceScan:
    """Detect (unless `box` and `n_faces` are known) and embed (unless `vector` is known)."""
    rgb = np.ascontiguousarray(rgb)
    if box is None or n_faces is None:
        boxes = detect_faces(rgb)
        n_faces = len(boxes)
        if not boxes:
            return FaceScan(None, None, 0)
        box = boxes[0]
    box = tuple(int(v) for v in box)  # type: ignore[assignment]
    if vector is None:
        vector = embed(rgb, box)
    return FaceScan(None if vector is None else np.asarray(vector, np.float32), box, n_faces)


def face_chip(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The 150x150 chip dlib's descriptor network sees, cut exactly as
    face_recognition.face_encodings cuts it (5-point landmarks, padding 0.25)."""
    import dlib

    from sketchlab.core.face_net import CHIP_PADDING, CHIP_SIZE

    t, r, b, left = (int(v) for v in box)
    shape = _fr().api.pose_predictor_5_point(rgb, dlib.rectangle(left, t, r, b))
    return np.asarray(dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING))


@functools.cache
def _face_net() -> FaceDescriptorNet:
    """The PyTorch port, loaded once per process on first use."""
    from sketchlab.core.face_net import load_face_net

    return load_face_net()


def embed_batch(images: list[np.ndarray], boxes: list[Box | None] | None = None,
                batch: int = 32, chip_transform: Callable[[np.ndarray], np.ndarray] | None = None
                ) -> list[np.ndarray | None]:
    """`embed` for many images: chips cut by dlib, descriptors from the PyTorch port of
    dlib's network (sketchlab.core.face_net) in batches. Interchangeable with `embed`:
    tests/core/test_face_net.py holds the port within 1e-3 of dlib per component; it is
    faster per face on CPU and batches on a GPU. `chip_transform` changes each chip before
    it is embedded (`core.drawn.draw_chip`: the face drawn as a sketch)."""
    boxes = boxes if boxes is not None else [None] * len(images)
    chips: list[np.ndarray] = []
    where: list[int] = []
    for i, (rgb, box) in enumerate(zip(images, boxes, strict=True)):
        rgb = np.ascontiguousarray(rgb)
        if box is None:
            found = detect_faces(rgb)
            if not found:
                continue
            box = found[0]
        chip = face_chip(rgb, box)
        chips.append(chip if chip_transform is None else chip_transform(chip))
        where.append(i)
    out: list[np.ndarray | None] = [None] * len(images)
    for i, v in zip(where, embed_chips(chips, batch), strict=True):
        out[i] = v
    return out


def embed_chips(chips: list[np.ndarray], batch: int = 32, threads: int | None = None
                ) -> np.ndarray:
    """(N, 128) float32 descriptors of 150x150 RGB chips (`face_chip`), batched through
    the PyTorch port of dlib's network: what enrolment uses instead of dlib's per-face
    call (several times less CPU per face; same descriptors within 1e-3 per component).

    `threads` caps torch's CPU threads for the call: beside busy enrolment workers, more
    than one thread spin-waits and is slower (docs/decisions.md, "Enrolment")."""
    import torch

    net = _face_net()
    out = np.zeros((len(chips), EMBEDDING_DIM), np.float32)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        for start in range(0, len(chips), batch):
            x = torch.from_numpy(np.stack(chips[start:start + batch])).permute(0, 3, 1, 2)
            with torch.inference_mode():
                out[start:start + len(x)] = net(x.float()).numpy()
    finally:
        if threads is not None:
            torch.set_num_threads(before)
    return out


def embed_aligned(rgb: np.ndarray) -> np.ndarray:
    """Descriptor of a canonical-frame face (e.g. an inverted sketch): the box is known."""
    vec = embed(rgb, face_box(rgb.shape[:2]))
    if vec is None:  # cannot happen with a box given, but keep the contract explicit
        raise ValueError("could not embed aligned face")
    return vec


def _sq_less_q(q: np.ndarray, g: np.ndarray, norms_sq: np.ndarray) -> np.ndarray:
    """|g|^2 - 2 g.q per gallery row: the squared L2 distance less the query's own |q|^2.
    One BLAS product and one in-place add; no (N, D) temporary (at 1M rows the matrix read
    dominates). The one place the distance formula is written."""
    key = g @ (q * np.float32(-2.0)) if q.ndim == 1 else (q * np.float32(-2.0)) @ g.T
    key += norms_sq
    return key


def distances(query: np.ndarray, gallery: np.ndarray, norms_sq: np.ndarray | None = None
              ) -> np.ndarray:
    """Euclidean distances from a (D,) query to (N, D) rows, shape (N,); or from (Q, D)
    queries, shape (Q, N). Pass the rows' squared norms (a cached matrix's) to skip them."""
    q = np.asarray(query, dtype=np.float32)
    q = q.reshape(-1) if q.ndim != 2 else q
    g = np.asarray(gallery, dtype=np.float32)
    if g.size == 0:
        return np.zeros((*q.shape[:-1], 0), np.float32)
    nsq = norms_sq if norms_sq is not None else np.einsum("ij,ij->i", g, g)
    qq = np.einsum("...i,...i->...", q, q)
    sq = _sq_less_q(q, g, nsq) + (qq[..., None] if q.ndim == 2 else qq)
    return np.sqrt(np.maximum(sq, 0.0))


def rank(query: np.ndarray, gallery: np.ndarray, k: int = 10,
         norms_sq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the k nearest gallery rows, nearest first.

    Pass precomputed squared row norms (a cached matrix's) to skip recomputing them.
    """
    g = np.asarray(gallery, dtype=np.float32)
    n = g.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    nsq = norms_sq if norms_sq is not None else np.einsum("ij,ij->i", g, g)
    # |q|^2, a constant, is added to the k winners only.
    key = _sq_less_q(q, g, nsq)
    idx = k_smallest(key, k)
    d = np.sqrt(np.maximum(key[idx] + np.float32(q @ q), 0.0))
    return idx.astype(np.int64), d.astype(np.float32)


def k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest of (N,) `values`, smallest first (ties in index order):
    one argpartition, then a sort of the k only."""
    n = len(values)
    k = min(k, n)
    idx = np.argpartition(values, k - 1)[:k] if k < n else np.arange(n)
    return idx[np.argsort(values[idx], kind="stable")]


# Logistic fit of P(same person | distance) on LFW View-1 pairsDevTrain (2,141 photo
# pairs): threshold 0.610, scale 0.0208; 98.8% accuracy on pairsDevTest (966 pairs).
# Rerun: `python -m sketchlab.db.calibrate`. Photo-to-photo: an inverted sketch sits
# further from its photo, so for sketch queries the score ranks, it does not certify.
CALIBRATED_THRESHOLD = 0.610
CALIBRATED_SCALE = 0.0208


def similarity(distance: np.ndarray | float, threshold: float = DEFAULT_THRESHOLD,
               scale: float = CALIBRATED_SCALE) -> np.ndarray:
    """A 0..1 score that is 0.5 at the threshold (logistic in distance), with the slope
    calibrated on labelled LFW photo pairs (CALIBRATED_SCALE)."""
    d = np.asarray(distance, dtype=np.float64)
    return 1.0 / (1.0 + np.exp((d - threshold) / scale))
