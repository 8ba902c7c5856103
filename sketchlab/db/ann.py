"""An approximate (HNSW) index for big local galleries, kept beside the SQLite file.

faiss-cpu's IndexHNSWFlat, chosen by measurement (notes in README, "Big local galleries"):
at 200k LFW-fitted descriptors it built ~3x faster than usearch at the same recall and
answered in ~1 ms; hnswlib ships no wheel for this Python (source build), and sqlite-vec
only searches exhaustively. The index stores the float32 descriptors themselves, so the
candidates it returns are re-ranked by their exact L2 distance: only whether the true
neighbours are among the CANDIDATES is approximate (recall@10, `sketchlab bench`).

Files: `<gallery>.hnsw.faiss` (the graph and vectors) and `<gallery>.hnsw.npz` (the
embedding/photo ids of each row, the model, and the highest embedding id indexed). On
refresh, rows enrolled since are added (incremental); the index is rebuilt from the
database when a file is missing, unreadable, for another model or dimension, or when more
than STALE_FRACTION of its rows were deleted from the gallery. Files are written to a
temporary name and renamed, owner-only, so a crash never leaves a half-written index.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sketchlab.core.matching import EMBEDDING_DIM

if TYPE_CHECKING:
    from sketchlab.db.gallery import Gallery

log = logging.getLogger(__name__)

# Exact search over the in-memory matrix measured 25.5 ms at 1M and 106 ms at 3M faces
# here (memory-bound, load ~2-6); the HNSW index answered in 6.7 ms at 1M (sketchlab bench).
ANN_MIN_FACES = 1_000_000
HNSW_M = 32
EF_CONSTRUCTION = 64
# At 1M LFW-fitted faces recall@10 was 0.92 at 256, 0.994 at 1024 (6.7 ms), 0.998 at 4096.
EF_SEARCH = 1024
MIN_CANDIDATES = 100  # re-ranked exactly; k more when k is larger
STALE_FRACTION = 0.10
ADD_CHUNK = 100_000


def index_paths(db_path: Path) -> tuple[Path, Path]:
    return db_path.with_name(db_path.name + ".hnsw.faiss"), \
        db_path.with_name(db_path.name + ".hnsw.npz")


class AnnIndex:
    """HNSW over one gallery model; `topk` has EmbeddingIndex's signature."""

    def __init__(self, gallery: Gallery, db_path: Path, model: str) -> None:
        import faiss

        self._faiss = faiss
        self.gallery = gallery
        self.model = model
        self.graph_path, self.meta_path = index_paths(db_path)
        self.index = None
        self.emb_ids = np.zeros(0, np.int64)
        self.photo_ids = np.zeros(0, np.int64)
        self.rebuilt = False

    def __len__(self) -> int:
        return len(self.photo_ids)

    @property
    def nbytes(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal) * (
            4 * EMBEDDING_DIM + 2 * HNSW_M * 4) + self.photo_ids.nbytes + self.emb_ids.nbytes

    # ------------------------------------------------------------ keeping it current

    def _load(self) -> bool:
        if not (self.graph_path.is_file() and self.meta_path.is_file()):
            return False
        try:
            meta = np.load(self.meta_path, allow_pickle=False)
            if str(meta["model"]) != self.model or int(meta["dim"]) != EMBEDDING_DIM:
                return False
            index = self._faiss.read_index(str(self.graph_path))
            if index.ntotal != len(meta["emb_ids"]):
                return False
        except Exception as exc:  # unreadable: rebuild rather than fail the search
            log.warning("search index %s unreadable (%s); rebuilding", self.graph_path, exc)
            return False
        self.index, self.emb_ids, self.photo_ids = index, meta["emb_ids"], meta["photo_ids"]
        return True

    def _save(self) -> None:
        assert self.index is not None
        graph_tmp = self.graph_path.with_name(self.graph_path.name + ".tmp")
        meta_tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        os.close(os.open(graph_tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        self._faiss.write_index(self.index, str(graph_tmp))
        with open(os.open(meta_tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as fh:
            np.savez(fh, emb_ids=self.emb_ids, photo_ids=self.photo_ids,
                     model=np.array(self.model), dim=np.array(EMBEDDING_DIM))
        # The metadata goes last: a crash between the two leaves counts that disagree,
        # which _load treats as missing (rebuild), never as a silently wrong index.
        os.replace(graph_tmp, self.graph_path)
        os.replace(meta_tmp, self.meta_path)

    def _add(self, emb_ids: np.ndarray, photo_ids: np.ndarray, vecs: np.ndarray) -> None:
        assert self.index is not None
        for start in range(0, len(vecs), ADD_CHUNK):
            self.index.add(np.ascontiguousarray(vecs[start:start + ADD_CHUNK], np.float32))
        self.emb_ids = np.concatenate([self.emb_ids, emb_ids])
        self.photo_ids = np.concatenate([self.photo_ids, photo_ids])

    def sync(self) -> None:
        """Bring the index up to the gallery: add new rows, or rebuild when stale."""
        t0 = time.perf_counter()
        if self.index is None and not self._load():
            self._rebuild()
            return
        live = self.gallery.count_embeddings(self.model)
        after = int(self.emb_ids.max()) if len(self.emb_ids) else 0
        emb_ids, photo_ids, vecs = self.gallery.embedding_rows(self.model, after_id=after)
        dead = len(self.emb_ids) - (live - len(emb_ids))
        if dead > STALE_FRACTION * max(1, live):
            log.info("search index: %d of %d rows deleted since it was built; rebuilding",
                     dead, len(self.emb_ids))
            self._rebuild()
            return
        if len(emb_ids):
            self._add(emb_ids, photo_ids, vecs)
            self._save()
            log.info("search index: added %d faces in %.1f s", len(emb_ids),
                     time.perf_counter() - t0)

    def _rebuild(self) -> None:
        t0 = time.perf_counter()
        self.index = new_index()
        self.emb_ids = np.zeros(0, np.int64)
        self.photo_ids = np.zeros(0, np.int64)
        self._add(*self.gallery.embedding_rows(self.model, after_id=0))
        self._save()
        self.rebuilt = True
        log.info("search index: built over %d faces in %.1f s", len(self.emb_ids),
                 time.perf_counter() - t0)

    # ------------------------------------------------------------ searching

    def sample(self, n: int) -> np.ndarray:
        """At most ~n indexed descriptors, evenly spread (for the score's norm); cached
        until rows are added."""
        if self.index is None or self.index.ntotal == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        total = int(self.index.ntotal)
        if getattr(self, "_sample_at", None) != total:
            rows = np.arange(0, total, max(1, total // max(1, n)), dtype=np.int64)
            self._sample = self.index.reconstruct_batch(rows)
            self._sample_at = total
        return self._sample

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, distances) of the k nearest, nearest first, exact distances."""
        if self.index is None or self.index.ntotal == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, dist = search(self.index, query, k)
        return self.photo_ids[rows], dist


def new_index():  # -> faiss.IndexHNSWFlat
    """An empty HNSW index with the gallery's parameters (also what `sketchlab bench` builds)."""
    import faiss

    index = faiss.IndexHNSWFlat(EMBEDDING_DIM, HNSW_M)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    return index


def search(index: object, query: np.ndarray, k: int, ef_search: int = EF_SEARCH
           ) -> tuple[np.ndarray, np.ndarray]:
    """(row numbers, exact L2 distances) of the k best of max(MIN_CANDIDATES, 2k)
    HNSW candidates, nearest first."""
    import faiss

    n_cand = min(int(index.ntotal), max(MIN_CANDIDATES, 2 * k))  # type: ignore[attr-defined]
    params = faiss.SearchParametersHNSW(efSearch=max(ef_search, n_cand))
    q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(1, -1))
    d2, rows = index.search(q, n_cand, params=params)  # type: ignore[attr-defined]
    rows, d2 = rows[0], d2[0]
    keep = rows >= 0
    rows, d2 = rows[keep], d2[keep]
    # Flat storage: faiss's distances are the exact float32 L2 of each candidate, so the
    # re-ranking is exact; only whether the true neighbours are candidates is approximate.
    order = np.argsort(d2, kind="stable")[:k]
    return rows[order], np.sqrt(np.maximum(d2[order], 0)).astype(np.float32)
