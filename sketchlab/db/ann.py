"""An approximate index for big local galleries, kept beside the SQLite file.

faiss-cpu's IVF with 8-bit scalar-quantised lists and exact re-ranking
(`IndexRefineFlat(IndexIVFScalarQuantizer)`), chosen by measurement over faiss HNSW and
others (docs/decisions.md, "faiss IVF for local galleries"). The descriptors are split
into ~sqrt(n) lists by k-means on an even sample; a query scans the PROBE_FRACTION of
lists nearest to it in 8-bit codes, and its best candidates are re-ranked by their exact
float32 L2 from a flat copy of the descriptors: only whether the true neighbours are among
the MIN_CANDIDATES is approximate (recall@10: `sketchlab bench --only search_10m`,
docs/benchmarks.md). It builds in seconds where the HNSW graph it replaced took minutes,
at the same recall and speed.

Files: `<gallery>.ivf.faiss` (lists, codes and vectors) and `<gallery>.ivf.npz` (the
embedding/photo ids of each row, the model, the rows the lists were trained on, and the
highest embedding id indexed). On refresh, rows enrolled since are added to their lists
(incremental); the index is rebuilt from the database when a file is missing, unreadable,
for another model or dimension, when more than STALE_FRACTION of its rows were deleted
from the gallery, or when the gallery has grown to REBUILD_GROWTH times the rows its lists
were trained on. Files are written to a temporary name and renamed, owner-only, so a crash
never leaves a half-written index.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from sketchlab.core.matching import EMBEDDING_DIM

log = logging.getLogger(__name__)

# Below this, exact search over the in-memory matrix is fast enough; it is memory-bound and
# grows linearly, while the IVF index stays in milliseconds (docs/benchmarks.md).
ANN_MIN_FACES = 1_000_000
# Recall@10 depends on the share of the gallery scanned, hardly on the list count; a quarter
# is the smallest share that reached 0.99 at 1M faces (`sketchlab bench`'s probe sweep).
PROBE_FRACTION = 0.25
TRAIN_PER_LIST = 64  # k-means sample: 64 faces a list, evenly spread over the gallery
MIN_CANDIDATES = 100  # re-ranked exactly; k more when k is larger
STALE_FRACTION = 0.10
REBUILD_GROWTH = 4.0
ADD_CHUNK = 100_000
LEGACY_SUFFIXES = (".hnsw.faiss", ".hnsw.npz")
BYTES_PER_FACE = EMBEDDING_DIM + 4 * EMBEDDING_DIM + 8  # 8-bit code, float32 copy, list id


class EmbeddingRows(Protocol):
    """What the index reads of a gallery (`db.gallery.Gallery` has it): descriptor rows in
    id order, so new enrolments are added and deletions noticed."""

    def count_embeddings(self, model: str) -> int: ...

    def embedding_rows(self, model: str, after_id: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embedding ids, photo ids, vectors (N, 128)) of the rows with id > after_id."""
        ...


def index_paths(db_path: Path) -> tuple[Path, Path]:
    return db_path.with_name(db_path.name + ".ivf.faiss"), \
        db_path.with_name(db_path.name + ".ivf.npz")


def n_lists(n: int) -> int:
    """The power of two nearest sqrt(n): 1024 lists at 1M faces, 4096 at 10M."""
    return 2 ** max(0, round(math.log2(math.sqrt(max(1, n)))))


class AnnIndex:
    """IVF over one gallery model; `topk` has EmbeddingIndex's signature."""

    def __init__(self, rows: EmbeddingRows, db_path: Path, model: str) -> None:
        import faiss

        self._faiss = faiss
        self.rows = rows
        self.model = model
        self.graph_path, self.meta_path = index_paths(db_path)
        self.index = None
        self.emb_ids = np.zeros(0, np.int64)
        self.photo_ids = np.zeros(0, np.int64)
        self.trained_on = 0
        self.rebuilt = False

    def __len__(self) -> int:
        return len(self.photo_ids)

    @property
    def nbytes(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal) * BYTES_PER_FACE \
            + self.photo_ids.nbytes + self.emb_ids.nbytes

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
        self.trained_on = int(meta["trained_on"])
        return True

    def _save(self) -> None:
        assert self.index is not None
        graph_tmp = self.graph_path.with_name(self.graph_path.name + ".tmp")
        meta_tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        os.close(os.open(graph_tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        self._faiss.write_index(self.index, str(graph_tmp))
        with open(os.open(meta_tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as fh:
            np.savez(fh, emb_ids=self.emb_ids, photo_ids=self.photo_ids,
                     model=np.array(self.model), dim=np.array(EMBEDDING_DIM),
                     trained_on=np.array(self.trained_on))
        # The metadata goes last: a crash between the two leaves counts that disagree,
        # which _load treats as missing (rebuild), never as a silently wrong index.
        os.replace(graph_tmp, self.graph_path)
        os.replace(meta_tmp, self.meta_path)

    def sync(self) -> None:
        """Bring the index up to the gallery: add new rows, or rebuild when stale."""
        t0 = time.perf_counter()
        if self.index is None and not self._load():
            self._rebuild()
            return
        live = self.rows.count_embeddings(self.model)
        after = int(self.emb_ids.max()) if len(self.emb_ids) else 0
        emb_ids, photo_ids, vecs = self.rows.embedding_rows(self.model, after_id=after)
        dead = len(self.emb_ids) - (live - len(emb_ids))
        if dead > STALE_FRACTION * max(1, live):
            log.info("search index: %d of %d rows deleted since it was built; rebuilding",
                     dead, len(self.emb_ids))
            self._rebuild()
            return
        if live > REBUILD_GROWTH * self.trained_on:
            log.info("search index: lists trained on %d faces, gallery now %d; rebuilding",
                     self.trained_on, live)
            self._rebuild()
            return
        if len(emb_ids):
            add(self.index, vecs)
            self.emb_ids = np.concatenate([self.emb_ids, emb_ids])
            self.photo_ids = np.concatenate([self.photo_ids, photo_ids])
            self._save()
            log.info("search index: added %d faces in %.1f s", len(emb_ids),
                     time.perf_counter() - t0)

    def _rebuild(self) -> None:
        t0 = time.perf_counter()
        emb_ids, photo_ids, vecs = self.rows.embedding_rows(self.model, after_id=0)
        if not len(vecs):  # nothing to train the lists on; searches find nothing
            self.index, self.emb_ids, self.photo_ids = None, emb_ids, photo_ids
            return
        self.index = build(vecs)
        del vecs
        self.emb_ids, self.photo_ids, self.trained_on = emb_ids, photo_ids, len(emb_ids)
        self._save()
        for old in LEGACY_SUFFIXES:  # the HNSW index this one replaced
            self.graph_path.with_name(self.graph_path.name.replace(".ivf.faiss", old)
                                      ).unlink(missing_ok=True)
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
            self._sample = self.index.reconstruct_batch(rows)  # the exact float32 copy
            self._sample_at = total
        return self._sample

    def topk(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, distances) of the k nearest, nearest first, exact distances."""
        if self.index is None or self.index.ntotal == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, dist = search(self.index, query, k)
        return self.photo_ids[rows], dist


def build(vecs: np.ndarray):  # -> faiss.IndexRefineFlat
    """Train ~sqrt(n) lists on an even sample of `vecs`, then add them all (what the
    gallery and `sketchlab bench` build)."""
    import faiss

    n = len(vecs)
    nlist = n_lists(n)
    base = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(EMBEDDING_DIM), EMBEDDING_DIM,
                                         nlist, faiss.ScalarQuantizer.QT_8bit)
    index = faiss.IndexRefineFlat(base)
    sample = np.linspace(0, n - 1, min(n, TRAIN_PER_LIST * nlist)).astype(np.int64)
    index.train(np.ascontiguousarray(vecs[sample], np.float32))
    add(index, vecs)
    return index


def faiss_nlist(index: object) -> int:
    import faiss

    return int(faiss.extract_index_ivf(index).nlist)


def add(index: object, vecs: np.ndarray) -> None:
    for start in range(0, len(vecs), ADD_CHUNK):
        index.add(np.ascontiguousarray(vecs[start:start + ADD_CHUNK], np.float32))  # type: ignore[attr-defined]


def search(index: object, query: np.ndarray, k: int, probe_fraction: float | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(row numbers, exact L2 distances) of the k best of max(MIN_CANDIDATES, 2k)
    candidates from the nearest probe_fraction of the lists, nearest first."""
    import faiss

    nlist = faiss_nlist(index)
    n_cand = min(int(index.ntotal), max(MIN_CANDIDATES, 2 * k))  # type: ignore[attr-defined]
    params = faiss.IndexRefineSearchParameters(
        k_factor=1, base_index_params=faiss.SearchParametersIVF(
            nprobe=max(1, math.ceil((probe_fraction or PROBE_FRACTION) * nlist))))
    q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(1, -1))
    d2, rows = index.search(q, n_cand, params=params)  # type: ignore[attr-defined]
    rows, d2 = rows[0], d2[0]
    keep = rows >= 0
    # The refine step recomputed each candidate's L2 from the float32 copy and sorted by it:
    # the distances and their order are exact; only the candidate set is approximate.
    rows, d2 = rows[keep][:k], d2[keep][:k]
    return rows, np.sqrt(np.maximum(d2, 0)).astype(np.float32)
