"""Top-k search over a gallery database: the gallery side of `core.pipeline`.

    result = core.pipeline.match_sketch("sketch.png", inverter, Matcher(gallery), k=10)

Descriptors live in one C-contiguous float32 matrix with its squared row norms cached
(EmbeddingIndex), so a query is one BLAS matrix-vector product plus an argpartition:
memory-bound, the whole matrix read per query (docs/benchmarks.md). The
Matcher keeps that matrix for a Gallery and reloads it when the gallery's revision
counter moves, so a search during enrolment sees each committed batch and never a
half-written one. Each search takes one `Snapshot`: the revision is checked once, and
each photo's details are read from the database at most once per search.

The Matcher reads a gallery through `GalleryRows`, the few row queries it needs (the IVF
index through `ann.EmbeddingRows`). `db.gallery.Gallery` provides them; its callers build
the Matcher over it and keep it while they search it. This module and the gallery never
import each other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from sketchlab.core import pipeline
from sketchlab.core.calibration import GalleryNorm
from sketchlab.core.drawn import DRAWN_MODEL, is_pair, two_way
from sketchlab.core.matching import (
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    EMBEDDING_MODEL,
    distances,
    k_smallest,
    rank,
)
from sketchlab.core.pipeline import Candidate, PhotoInfo
from sketchlab.db.ann import ANN_MIN_FACES, AnnIndex, EmbeddingRows
from sketchlab.db.engine import sqlite_path

log = logging.getLogger(__name__)

PhotoRow = tuple[int, str, str, str, bytes | None]  # subject id, name, sha256, source, thumb


class ServerRows(Protocol):
    """What a search on a PostgreSQL server asks of the gallery."""

    def sample_vectors(self, model: str, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread by id, (n, 128) float32."""
        ...

    def nearest_on_server(self, model: str, query: np.ndarray, k: int, ef_search: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, distances) of the k nearest by the server's HNSW index."""
        ...


class GalleryRows(EmbeddingRows, ServerRows, Protocol):
    """What the Matcher reads of a gallery: its location, revision counter and rows."""

    url: str
    on_server: bool  # the database searches (PostgreSQL + pgvector)

    def revision(self) -> int: ...

    def load_embeddings(self, model: str) -> tuple[int, np.ndarray, np.ndarray]:
        """(revision, photo ids, vectors (N, 128)) of one model."""
        ...

    def photo_details(self, photo_ids: Sequence[int], thumbnails: bool = True
                      ) -> dict[int, PhotoRow]: ...


class EmbeddingIndex:
    """An immutable float32 matrix of descriptors with their ids; exact top-k by L2."""

    two_way = False  # holds no drawings (TwoWayIndex does)

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

    def sample(self, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread over the gallery (for the score's norm)."""
        return self.vectors[::max(1, len(self.vectors) // n)]

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest rows, nearest first."""
        idx, dist = rank(query, self.vectors, k, norms_sq=self.norms_sq)
        return self.ids[idx], dist


class TwoWayIndex(EmbeddingIndex):
    """Photo descriptors with the descriptor of each face drawn as a sketch
    (`core.drawn`), row for row: a one-way query (128-d) searches the photos, a two-way
    pair (256-d, `core.drawn.pair`) both, by the two-way distance. Exact, in memory.
    `drawing`: how the faces were drawn (`core.drawn.Drawing.model`)."""

    two_way = True

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, drawn: np.ndarray,
                 drawing: str = DRAWN_MODEL) -> None:
        super().__init__(vectors, ids)
        self.drawing = drawing
        d = np.ascontiguousarray(drawn, dtype=np.float32)
        if d.shape != self.vectors.shape:
            raise ValueError(f"expected one drawing per photo, {self.vectors.shape}, "
                             f"got {d.shape}")
        self.drawn = d
        self.drawn_norms_sq = np.einsum("ij,ij->i", d, d) if len(d) else np.zeros(0, np.float32)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.drawn.nbytes + self.drawn_norms_sq.nbytes

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not is_pair(query):
            return super().topk(query, k)
        n = len(self.ids)
        if n == 0 or k <= 0:
            return self.ids[:0], np.zeros(0, np.float32)
        q = np.asarray(query, np.float32).reshape(-1)
        d = two_way(distances(q[:EMBEDDING_DIM], self.vectors, self.norms_sq),
                    distances(q[EMBEDDING_DIM:], self.drawn, self.drawn_norms_sq))
        idx = k_smallest(d, k)
        return self.ids[idx], d[idx]


def with_drawings(gallery: GalleryRows, rev: int, ids: np.ndarray, vecs: np.ndarray,
                  drawing: str = DRAWN_MODEL) -> tuple[EmbeddingIndex, int]:
    """The in-memory index of these photo rows: a TwoWayIndex when every photo has its
    descriptor drawn by `drawing` (enrolled by this version, or `sketchlab gallery
    draw`), else one-way. Also how many photos lack that drawing."""
    drawn_rev, drawn_ids, drawn = gallery.load_embeddings(drawing)
    by_id = np.argsort(drawn_ids, kind="stable")
    pos = np.minimum(np.searchsorted(drawn_ids, ids, sorter=by_id), max(len(by_id) - 1, 0))
    order = by_id[pos] if len(by_id) else pos
    found = drawn_ids[order] == ids if len(by_id) else np.zeros(len(ids), bool)
    missing = int((~found).sum())
    if missing or drawn_rev != rev or not len(ids):
        return EmbeddingIndex(vecs, ids), missing
    return TwoWayIndex(vecs, ids, drawn[order], drawing), 0


class ServerIndex:
    """Top-k on a PostgreSQL server with pgvector: `ORDER BY vector <-> :q LIMIT k` over the
    HNSW index. Nothing is loaded on the client; distances come from the server's exact
    float32 L2 of each returned row, so only recall is approximate (ef_search sets it)."""

    # pgvector's default is 40 and its maximum 1000. Recall@10 rises with it at a few tens
    # of ms a query (docs/decisions.md, "pgvector HNSW"); a missed lead costs more than
    # that, so the maximum.
    EF_SEARCH = 1000

    def __init__(self, rows: ServerRows, model: str, size: int) -> None:
        self.rows = rows
        self.model = model
        self.size = size
        self._sample: np.ndarray | None = None

    def __len__(self) -> int:
        return self.size

    nbytes = 0

    def sample(self, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread by id, read once per gallery revision (this
        object is replaced when the revision moves)."""
        if self._sample is None:
            self._sample = self.rows.sample_vectors(self.model, n)
        return self._sample

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rows.nearest_on_server(self.model, query, k, self.EF_SEARCH)


class Matcher:
    """Cached search index over one Gallery; thread-safe, refreshed when the gallery changes."""

    def __init__(self, gallery: GalleryRows, model: str = EMBEDDING_MODEL) -> None:
        self.gallery = gallery
        self.model = model
        self._lock = threading.Lock()
        self._server = gallery.on_server
        self._index: EmbeddingIndex | ServerIndex | AnnIndex = EmbeddingIndex(
            np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0, np.int64))
        self._revision: int | None = None
        self.ann_min_faces = ANN_MIN_FACES
        self.last_load_ms = 0.0
        self.missing_drawings = 0  # photos without a drawing: the search is one-way
        self.drawing = DRAWN_MODEL  # the drawings loaded with the photos (core.drawn)

    @property
    def index(self) -> EmbeddingIndex | ServerIndex | AnnIndex:
        return self._index

    def refresh(self, force: bool = False) -> bool:
        """Reload the matrix if the gallery changed; True when it reloaded."""
        rev = self.gallery.revision()
        with self._lock:
            if not force and rev == self._revision:
                return False
            t0 = time.perf_counter()
            # Only the in-memory index of dlib's descriptors carries drawings; a server or
            # IVF index, or another model's, is searched one way and never drawn.
            self.missing_drawings = 0
            if self._server:  # the server searches: only the size is kept here
                self._index = ServerIndex(self.gallery, self.model,
                                          self.gallery.count_embeddings(self.model))
                self._revision = rev
                return True
            path = sqlite_path(self.gallery.url)
            n = self.gallery.count_embeddings(self.model)
            if path is not None and n >= self.ann_min_faces:
                if not isinstance(self._index, AnnIndex):
                    self._index = AnnIndex(self.gallery, path, self.model)
                loaded_rev = rev
                self._index.sync()
                ids = self._index.photo_ids
            else:
                loaded_rev, ids, vecs = self.gallery.load_embeddings(self.model)
                if self.model == EMBEDDING_MODEL:  # the drawings go with dlib's descriptor
                    self._index, self.missing_drawings = with_drawings(
                        self.gallery, loaded_rev, ids, vecs, self.drawing)
                else:
                    self._index = EmbeddingIndex(vecs, ids)
            self._revision = loaded_rev
            self.last_load_ms = (time.perf_counter() - t0) * 1000
            log.debug("search index: %d faces at revision %d (%.0f ms)", len(ids), loaded_rev,
                      self.last_load_ms)
            return True

    def snapshot(self, drawing: str | None = None) -> Snapshot:
        """This search's view: the index at the gallery's current revision, with the faces'
        drawings by `drawing` (`core.drawn.Drawing.model`; None: those loaded last)."""
        with self._lock:
            switch = drawing is not None and drawing != self.drawing
            if switch:
                self.drawing = drawing  # type: ignore[assignment]
        self.refresh(force=switch)
        with self._lock:
            return Snapshot(self.gallery, self._index, self.missing_drawings)

    def search(self, embedding: np.ndarray, k: int = 10, *,
               threshold: float = DEFAULT_THRESHOLD, distinct_subjects: bool = True,
               thumbnails: bool = True) -> list[Candidate]:
        """The k nearest photos (by default the best photo of each of k distinct subjects),
        marked against a distance `threshold` (`core.pipeline.rank` on a fresh snapshot)."""
        return pipeline.rank(embedding, self.snapshot(), k, threshold=threshold,
                             distinct_subjects=distinct_subjects, thumbnails=thumbnails)[0]

    def gallery_norm(self, embedding: np.ndarray) -> GalleryNorm | None:
        """`core.pipeline.norm` of the query against the gallery as it is now."""
        return pipeline.norm(embedding, self.snapshot())


class Snapshot:
    """One search's fixed view of a gallery (`core.pipeline.GallerySnapshot`): the index
    as loaded at one revision, and photo details read at most once per photo."""

    def __init__(self, gallery: GalleryRows, index: EmbeddingIndex | ServerIndex | AnnIndex,
                 missing_drawings: int = 0) -> None:
        self.gallery = gallery
        self.index = index
        self.missing_drawings = missing_drawings  # faces without the drawing asked for
        self._info: dict[int, PhotoInfo] = {}
        self._gone: set[int] = set()  # removed since the index was loaded
        self._thumbs: set[int] = set()  # ids whose thumbnail was read

    def __len__(self) -> int:
        return len(self.index)

    @property
    def two_way(self) -> bool:
        """Whether a two-way pair can be searched (every face has its drawing)."""
        return bool(getattr(self.index, "two_way", False))

    @property
    def drawing(self) -> str | None:
        """How the faces of a two-way index were drawn (`core.drawn.Drawing.model`)."""
        return getattr(self.index, "drawing", None)

    def sample(self, n: int) -> np.ndarray:
        return self.index.sample(n)

    def photo_info(self, photo_ids: Sequence[int], thumbnails: bool = False
                   ) -> dict[int, PhotoInfo]:
        ids = [int(p) for p in photo_ids]
        need = [p for p in ids if p not in self._gone
                and (p not in self._info or (thumbnails and p not in self._thumbs))]
        if need:
            rows = self.gallery.photo_details(need, thumbnails=thumbnails)
            for p in need:
                if p not in rows:
                    self._gone.add(p)
                    continue
                sid, name, sha, src, thumb = rows[p]
                self._info[p] = PhotoInfo(sid, name, sha, src, thumb)
                if thumbnails:
                    self._thumbs.add(p)
        return {p: self._info[p] for p in ids if p in self._info}

    def nearest(self, embedding: np.ndarray, k: int, distinct_subjects: bool = True
                ) -> list[tuple[int, float]]:
        """(photo id, distance) of the k nearest, one per subject when asked."""
        index = self.index
        if k <= 0 or len(index) == 0:
            return []
        fetch = k
        while True:
            ids, dist = index.topk(embedding, fetch)
            info = self.photo_info(ids.tolist())
            chosen: list[tuple[int, float]] = []
            seen: set[int] = set()
            for pid, d in zip(ids.tolist(), dist.tolist(), strict=True):
                if pid not in info:  # removed since the index was loaded
                    continue
                if distinct_subjects:
                    if info[pid].subject_id in seen:
                        continue
                    seen.add(info[pid].subject_id)
                chosen.append((pid, d))
                if len(chosen) == k:
                    break
            if len(chosen) == k or fetch >= len(index):
                return chosen
            fetch = min(len(index), fetch * 4)
