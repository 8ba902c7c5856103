"""Top-k search over the gallery, and the one-call `match_sketch` used by CLI and app.

    from sketchlab.db.search import match_sketch
    result = match_sketch("sketch.png", inverter, gallery, k=10, threshold=0.6)
    for c in result.candidates:          # Candidate: frozen dataclass, thread-safe
        c.rank, c.subject_name, c.distance, c.score, c.within_threshold, c.thumbnail

Descriptors live in one C-contiguous float32 matrix with its squared row norms cached
(EmbeddingIndex), so a query is one BLAS matrix-vector product plus an argpartition:
memory-bound, ~0.5 GB read per query at 1M faces (`sketchlab bench` measures it). The
Matcher keeps that matrix for a Gallery and reloads it when the gallery's revision
counter moves (one tiny query per search), so a search during enrolment sees each
committed batch and never a half-written one.

Candidates are investigative leads, not identifications: `score` is a logistic map of
the distance (0.5 at the threshold, slope fitted on LFW photo pairs by
sketchlab.db.calibrate), not a probability of identity for a sketch.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchlab.core.matching import (
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    EMBEDDING_MODEL,
    rank,
    similarity,
)

if TYPE_CHECKING:
    from sketchlab.core.imageio import ImageSource
    from sketchlab.core.inference import Inverter
    from sketchlab.core.preprocess import Prepared
    from sketchlab.db.gallery import Gallery

log = logging.getLogger(__name__)


class EmbeddingIndex:
    """An immutable float32 matrix of descriptors with their ids; exact top-k by L2."""

    def __init__(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or (v.size and v.shape[1] != EMBEDDING_DIM) or len(ids) != len(v):
            raise ValueError(f"expected (N, {EMBEDDING_DIM}) vectors and N ids, "
                             f"got {v.shape} and {len(ids)}")
        self.vectors = v
        self.ids = np.asarray(ids, np.int64)
        self.norms_sq = np.einsum("ij,ij->i", v, v) if len(v) else np.zeros(0, np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + self.norms_sq.nbytes + self.ids.nbytes

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest rows, nearest first."""
        idx, dist = rank(query, self.vectors, k, norms_sq=self.norms_sq)
        return self.ids[idx], dist


@dataclass(frozen=True)
class Candidate:
    """One ranked gallery photo. `thumbnail` is the stored face JPEG (None if not asked)."""

    rank: int
    subject_id: int
    subject_name: str
    photo_id: int
    photo_sha256: str
    source_path: str
    distance: float
    score: float
    within_threshold: bool
    thumbnail: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        """The `sketchlab match --json` record."""
        return {"rank": self.rank, "subject": self.subject_name,
                "photo_sha256": self.photo_sha256, "distance": round(self.distance, 4),
                "score": round(self.score, 4)}


class Matcher:
    """Cached search index over one Gallery; thread-safe, refreshed when the gallery changes."""

    def __init__(self, gallery: Gallery, model: str = EMBEDDING_MODEL) -> None:
        self.gallery = gallery
        self.model = model
        self._lock = threading.Lock()
        self._index = EmbeddingIndex(np.zeros((0, EMBEDDING_DIM), np.float32),
                                     np.zeros(0, np.int64))
        self._revision: int | None = None
        self.last_load_ms = 0.0

    @property
    def index(self) -> EmbeddingIndex:
        return self._index

    def refresh(self, force: bool = False) -> bool:
        """Reload the matrix if the gallery changed; True when it reloaded."""
        rev = self.gallery.revision()
        with self._lock:
            if not force and rev == self._revision:
                return False
            t0 = time.perf_counter()
            loaded_rev, ids, vecs = self.gallery.load_embeddings(self.model)
            self._index = EmbeddingIndex(vecs, ids)
            self._revision = loaded_rev
            self.last_load_ms = (time.perf_counter() - t0) * 1000
            log.debug("search index: %d faces at revision %d (%.0f ms)", len(ids), loaded_rev,
                      self.last_load_ms)
            return True

    def search(self, embedding: np.ndarray, k: int = 10, *,
               threshold: float = DEFAULT_THRESHOLD, distinct_subjects: bool = True,
               thumbnails: bool = True) -> list[Candidate]:
        """The k nearest photos (by default the best photo of each of k distinct subjects)."""
        self.refresh()
        index = self._index  # a consistent snapshot even if another thread refreshes
        if k <= 0 or len(index) == 0:
            return []
        fetch = k
        while True:
            ids, dist = index.topk(embedding, fetch)
            details = self.gallery.photo_details(ids.tolist(), thumbnails=False)
            chosen: list[tuple[int, float]] = []
            seen: set[int] = set()
            for pid, d in zip(ids.tolist(), dist.tolist(), strict=True):
                info = details.get(pid)
                if info is None:  # removed since the index was loaded
                    continue
                if distinct_subjects:
                    if info[0] in seen:
                        continue
                    seen.add(info[0])
                chosen.append((pid, d))
                if len(chosen) == k:
                    break
            if len(chosen) == k or fetch >= len(index):
                break
            fetch = min(len(index), fetch * 4)
        thumbs = (self.gallery.photo_details([p for p, _ in chosen], thumbnails=True)
                  if thumbnails else details)
        scores = similarity(np.array([d for _, d in chosen]), threshold)
        out = []
        for r, ((pid, d), sc) in enumerate(zip(chosen, scores.tolist(), strict=True), 1):
            sid, name, sha, src, thumb = thumbs.get(pid, details[pid])
            out.append(Candidate(r, sid, name, pid, sha, src, float(d), float(sc),
                                 bool(d <= threshold), thumb))
        return out


@dataclass(frozen=True)
class MatchResult:
    """What `match_sketch` found, with what it searched with (for display and the case file)."""

    candidates: list[Candidate]
    query: str  # "inverted" or "raw"
    sketch: np.ndarray  # the aligned sketch, canonical frame
    photo: np.ndarray | None  # the synthesized photo (None for a raw-sketch query)
    embedding: np.ndarray
    threshold: float
    invert_ms: float
    search_ms: float
    gallery_size: int


def match_sketch(sketch: ImageSource | Prepared, inverter: Inverter | None,
                 gallery: Gallery | Matcher, k: int = 10,
                 threshold: float = DEFAULT_THRESHOLD, raw: bool = False, *,
                 distinct_subjects: bool = True, thumbnails: bool = True) -> MatchResult:
    """Align the sketch, invert it (unless `raw`), embed with the known canonical face box,
    and rank the gallery. `inverter` may be None only for a raw query."""
    from sketchlab.core.query import sketch_query
    from sketchlab.db.gallery import Gallery

    q = sketch_query(sketch, inverter, raw=raw)
    matcher = gallery.matcher() if isinstance(gallery, Gallery) else gallery
    matcher.refresh()  # (re)load the matrix outside the timed search
    t1 = time.perf_counter()
    cands = matcher.search(q.embedding, k, threshold=threshold, distinct_subjects=distinct_subjects,
                           thumbnails=thumbnails)
    search_ms = (time.perf_counter() - t1) * 1000
    return MatchResult(cands, "raw" if raw else "inverted", q.prepared.image, q.photo,
                       q.embedding, threshold, q.invert_ms, search_ms, len(matcher.index))
