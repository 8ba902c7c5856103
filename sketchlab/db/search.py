"""Top-k search over the gallery, and the one-call `match_sketch` used by CLI and app.

    from sketchlab.db.search import match_sketch
    result = match_sketch("sketch.png", inverter, gallery, k=10)
    for c in result.candidates:          # Candidate: frozen dataclass, thread-safe
        c.rank, c.subject_name, c.distance, c.false_match_rate, c.stability, c.thumbnail

Descriptors live in one C-contiguous float32 matrix with its squared row norms cached
(EmbeddingIndex), so a query is one BLAS matrix-vector product plus an argpartition:
memory-bound, ~0.5 GB read per query at 1M faces (`sketchlab bench` measures it). The
Matcher keeps that matrix for a Gallery and reloads it when the gallery's revision
counter moves (one tiny query per search), so a search during enrolment sees each
committed batch and never a half-written one.

Candidates are investigative leads, not identifications. With a calibrated model each
candidate carries its false-match rate (the share of non-mates that come as close, measured
for this model and kind of query by `python -m trainer calibrate`), `score` is 1 minus
it, and the threshold is set at a stated rate (`calibration.DEFAULT_FMR`). A sketch is
searched as several plausible variants (`sketchlab.core.variants`) and each candidate's
`stability` says in how many of the variant searches it reached the top k.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchlab.core.calibration import (
    DEFAULT_FMR,
    GalleryNorm,
    ScoreRule,
    gallery_norm,
    score_rule,
)
from sketchlab.core.matching import (
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    EMBEDDING_MODEL,
    distances,
    rank,
)
from sketchlab.db.ann import ANN_MIN_FACES
from sketchlab.db.engine import sqlite_path

NORM_SAMPLE = 20_000  # gallery faces a query's distance spread is measured on

if TYPE_CHECKING:
    from sketchlab.core.imageio import ImageSource
    from sketchlab.core.inference import Inverter
    from sketchlab.core.preprocess import Prepared
    from sketchlab.db.ann import AnnIndex
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

    def sample(self, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread over the gallery (for the score's norm)."""
        return self.vectors[::max(1, len(self.vectors) // n)]

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest rows, nearest first."""
        idx, dist = rank(query, self.vectors, k, norms_sq=self.norms_sq)
        return self.ids[idx], dist


class ServerIndex:
    """Top-k on a PostgreSQL server with pgvector: `ORDER BY vector <-> :q LIMIT k` over the
    HNSW index. Nothing is loaded on the client; distances come from the server's exact
    float32 L2 of each returned row, so only recall is approximate (ef_search sets it)."""

    # pgvector's default is 40 and its maximum 1000. On 1M LFW-fitted descriptors (sketchlab
    # bench, search_10m.pgvector_hnsw, index m 32 / ef_construction 128, load ~6 on 2 cores)
    # recall@10 was 0.916 at 100, 0.990 at 400 (35 ms), 0.998 at 1000 (78 ms). A missed
    # lead costs more than 40 ms, so the maximum.
    EF_SEARCH = 1000

    def __init__(self, gallery: Gallery, model: str, size: int) -> None:
        self.gallery = gallery
        self.model = model
        self.size = size

    def __len__(self) -> int:
        return self.size

    nbytes = 0

    def sample(self, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread by id, read once per gallery revision (this
        object is replaced when the revision moves)."""
        if getattr(self, "_sample", None) is None:
            from sqlalchemy import select

            from sketchlab.db.models import Embedding

            step = max(1, self.size // max(1, n))
            with self.gallery.session() as s:
                rows = s.scalars(select(Embedding.vector).where(
                    Embedding.model == self.model, Embedding.id % step == 0)
                    .order_by(Embedding.id).limit(n)).all()
            self._sample = (np.frombuffer(b"".join(rows), np.float32).reshape(-1, EMBEDDING_DIM)
                            if rows else np.zeros((0, EMBEDDING_DIM), np.float32))
        return self._sample

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from sqlalchemy import Float, select

        from sketchlab.db.models import Embedding

        q = np.asarray(query, "<f4").reshape(-1).tobytes()
        dist = Embedding.vector.op("<->", return_type=Float)(q)
        stmt = (select(Embedding.photo_id, dist.label("d")).where(Embedding.model == self.model)
                .order_by(dist).limit(int(k)))
        with self.gallery.engine.begin() as conn:
            # SET LOCAL: only this transaction; a pooled connection keeps no state.
            conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {self.EF_SEARCH}")
            # Past ef_search rows (k > 1000, or many rows of another model) keep scanning;
            # relaxed order is re-sorted below.
            conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = conn.execute(stmt).all()
        rows.sort(key=lambda r: r[1])
        return (np.array([r[0] for r in rows], np.int64),
                np.array([r[1] for r in rows], np.float32))


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
    false_match_rate: float | None = None  # share of non-mates this close; None: uncalibrated
    stability: int | None = None  # of `n_variants` variant searches, how many had it in top k
    n_variants: int = 1

    def as_json(self) -> dict[str, Any]:
        """The `sketchlab match --json` record."""
        out: dict[str, Any] = {
            "rank": self.rank, "subject": self.subject_name,
            "photo_sha256": self.photo_sha256, "distance": round(self.distance, 4),
            "score": round(self.score, 4), "within_threshold": self.within_threshold,
            "false_match_rate": (None if self.false_match_rate is None
                                 else float(f"{self.false_match_rate:.4g}"))}
        if self.stability is not None:
            out["stability"] = f"{self.stability}/{self.n_variants}"
        return out


class Matcher:
    """Cached search index over one Gallery; thread-safe, refreshed when the gallery changes."""

    def __init__(self, gallery: Gallery, model: str = EMBEDDING_MODEL) -> None:
        self.gallery = gallery
        self.model = model
        self._lock = threading.Lock()
        self._server = gallery.engine.dialect.name == "postgresql"
        self._index: EmbeddingIndex | ServerIndex | AnnIndex = EmbeddingIndex(
            np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0, np.int64))
        self._revision: int | None = None
        self.ann_min_faces = ANN_MIN_FACES
        self.last_load_ms = 0.0

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
            if self._server:  # the server searches: only the size is kept here
                self._index = ServerIndex(self.gallery, self.model,
                                          self.gallery.count_embeddings(self.model))
                self._revision = rev
                return True
            path = sqlite_path(self.gallery.url)
            n = self.gallery.count_embeddings(self.model)
            if path is not None and n >= self.ann_min_faces:
                from sketchlab.db.ann import AnnIndex

                if not isinstance(self._index, AnnIndex):
                    self._index = AnnIndex(self.gallery, path, self.model)
                loaded_rev = rev
                self._index.sync()
                ids = self._index.photo_ids
            else:
                loaded_rev, ids, vecs = self.gallery.load_embeddings(self.model)
                self._index = EmbeddingIndex(vecs, ids)
            self._revision = loaded_rev
            self.last_load_ms = (time.perf_counter() - t0) * 1000
            log.debug("search index: %d faces at revision %d (%.0f ms)", len(ids), loaded_rev,
                      self.last_load_ms)
            return True

    def search(self, embedding: np.ndarray, k: int = 10, *,
               threshold: float = DEFAULT_THRESHOLD, rule: ScoreRule | None = None,
               distinct_subjects: bool = True, thumbnails: bool = True) -> list[Candidate]:
        """The k nearest photos (by default the best photo of each of k distinct subjects),
        scored and marked by `rule` (default: `threshold`, uncalibrated)."""
        rule = rule if rule is not None else ScoreRule(threshold)
        chosen = self._nearest(embedding, k, distinct_subjects)
        details = self.gallery.photo_details([p for p, _ in chosen], thumbnails=thumbnails)
        out = []
        for r, (pid, d) in enumerate(chosen, 1):
            if pid not in details:  # removed in the meantime
                continue
            sid, name, sha, src, thumb = details[pid]
            out.append(Candidate(r, sid, name, pid, sha, src, float(d), rule.score(d),
                                 bool(d <= rule.threshold), thumb if thumbnails else None,
                                 rule.fmr(d)))
        return out

    def gallery_norm(self, embedding: np.ndarray) -> GalleryNorm | None:
        """Mean and spread of the query's distances to the gallery (an even sample of at
        most NORM_SAMPLE faces): what the calibrated scores are read against."""
        self.refresh()
        index = self._index
        return gallery_norm(distances(embedding, index.sample(NORM_SAMPLE)), len(index))

    def top_keys(self, embedding: np.ndarray, k: int, distinct_subjects: bool = True
                 ) -> set[int]:
        """Subject ids (or photo ids) of the k nearest: what one variant search puts on top."""
        chosen = self._nearest(embedding, k, distinct_subjects)
        if not distinct_subjects:
            return {p for p, _ in chosen}
        details = self.gallery.photo_details([p for p, _ in chosen], thumbnails=False)
        return {details[p][0] for p, _ in chosen if p in details}

    def _nearest(self, embedding: np.ndarray, k: int, distinct_subjects: bool
                 ) -> list[tuple[int, float]]:
        """(photo id, distance) of the k nearest, one per subject when asked."""
        self.refresh()
        index = self._index  # a consistent snapshot even if another thread refreshes
        if k <= 0 or len(index) == 0:
            return []
        chosen: list[tuple[int, float]] = []
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
        return chosen


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
    rule: ScoreRule = dataclasses.field(default_factory=lambda: ScoreRule(DEFAULT_THRESHOLD))
    variant_names: tuple[str, ...] = ()  # the readings of the sketch searched together
    variant_sketches: tuple[np.ndarray, ...] = ()  # their network inputs
    variant_photos: tuple[np.ndarray, ...] = ()
    raw_weight: float = 0.0
    empty: bool = False  # a blank sketch: nothing was searched (core.query.NOTHING_TO_SEARCH)


def match_sketch(sketch: ImageSource | Prepared, inverter: Inverter | None,
                 gallery: Gallery | Matcher, k: int = 10,
                 threshold: float | None = None, raw: bool = False, *,
                 fmr: float | None = DEFAULT_FMR, variants: int | None = None,
                 calibration: tuple[dict, dict] | None = None,
                 distinct_subjects: bool = True, thumbnails: bool = True) -> MatchResult:
    """Align the sketch, invert it (unless `raw`) as `variants` plausible readings (default:
    as many as the model's calibration was measured with, else one), embed with the known
    canonical face box, rank the gallery, and score candidates by the model's calibration
    for this kind of query. An explicit `threshold` (a distance) overrides the threshold
    set at `fmr`. `calibration` is (kinds, fields) from `model_catalog.read_calibration`;
    by default it is read from the inverter's model file. `inverter` may be None only for
    a raw query."""
    from sketchlab.core.model_catalog import read_calibration
    from sketchlab.core.query import sketch_query
    from sketchlab.db.gallery import Gallery

    if calibration is None:
        calibration = read_calibration(inverter.model.path) if inverter else ({}, {})
    kinds, fields = calibration
    if raw:
        n, w, kind = 1, 0.0, "raw"
    else:
        n = int(variants if variants is not None else fields.get("variants", 1))
        w = float(fields.get("raw_weight", 0.0)) if n > 1 else 0.0
        kind = "variants" if n > 1 else "single"
    q = sketch_query(sketch, inverter, raw=raw, variants=n, raw_weight=w)
    matcher = gallery.matcher() if isinstance(gallery, Gallery) else gallery
    matcher.refresh()  # (re)load the matrix outside the timed search
    if q.prepared.empty:
        return MatchResult([], "raw" if raw else "inverted", q.prepared.image, q.photo,
                           q.embedding, DEFAULT_THRESHOLD if threshold is None else threshold,
                           q.invert_ms, 0.0, len(matcher.index), empty=True)
    t1 = time.perf_counter()
    rule = score_rule(kinds, kind, fmr, threshold, matcher.gallery_norm(q.embedding))
    cands = matcher.search(q.embedding, k, rule=rule, distinct_subjects=distinct_subjects,
                           thumbnails=thumbnails)
    if q.variant_embeddings is not None:
        tops = [matcher.top_keys(e, k, distinct_subjects) for e in q.variant_embeddings]
        n_var = len(tops)
        cands = [dataclasses.replace(
            c, stability=sum((c.subject_id if distinct_subjects else c.photo_id) in t
                             for t in tops), n_variants=n_var) for c in cands]
    search_ms = (time.perf_counter() - t1) * 1000
    return MatchResult(cands, "raw" if raw else "inverted", q.prepared.image, q.photo,
                       q.embedding, rule.threshold, q.invert_ms, search_ms, len(matcher.index),
                       rule, q.variant_names, q.variant_sketches, q.variant_photos,
                       q.raw_weight)
