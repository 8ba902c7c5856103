"""Gallery benchmarks for `sketchlab bench`: top-k search at scale, enrolment throughput.

Search runs on synthetic descriptors (1M x 128 float32, dlib-like spread), because the
cost of a query depends only on the matrix size. Enrolment runs end to end on real face
photos (LFW from the shared data, else CUFS) into a temporary SQLite gallery with the
embedding cache off, worker start-up included: the rate a user sees on a fresh folder.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core.bench import summarise
from sketchlab.db.search import EmbeddingIndex

log = logging.getLogger(__name__)


def bench_search(n: int = 1_000_000, k: int = 10, runs: int = 30, seed: int = 0
                 ) -> dict[str, Any]:
    """Median/p90 ms of one exact top-k query over n synthetic descriptors."""
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, 128), dtype=np.float32)
    vecs *= np.float32(0.09)  # dlib descriptors: per-dimension spread ~0.09, norm ~1
    index = EmbeddingIndex(vecs, np.arange(n, dtype=np.int64))
    del vecs
    queries = index.vectors[rng.integers(0, n, runs + 3)] + \
        rng.standard_normal((runs + 3, 128), dtype=np.float32) * np.float32(0.03)
    samples = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        index.topk(q, k)
        if i >= 3:  # the first queries page the matrix in
            samples.append((time.perf_counter() - t0) * 1000.0)
    return {**summarise(samples), "matrix_mb": round(index.nbytes / 1e6, 1), "n": n, "k": k,
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def shared_data_dir() -> Path:
    env = os.environ.get("SKETCHLAB_SHARED_DATA")
    if env:
        return Path(env)
    from sketchlab import paths

    return paths.bundle_root().parent / "shared" / "data"


def sample_photos(count: int, root: Path | None = None) -> list[Path]:
    """An evenly spread, fixed sample of LFW photos (else CUFS photos)."""
    root = root or shared_data_dir()
    manifest = root / "lfw" / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [r["photo"] for r in csv.DictReader(fh) if r.get("photo")]
        step = max(1, len(rows) // count)
        return [root / "lfw" / r for r in rows[::step][:count]]
    cufs = sorted((root / "cufs_cuhk").glob("*/photos/*.jpg"))
    return cufs[:count]


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_enroll(photos: list[Path], workers: int | None = None) -> dict[str, Any]:
    """End-to-end enrolment rate of `photos` into a fresh temporary gallery."""
    from sketchlab.db.gallery import open_gallery

    cpu0 = _cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp, open_gallery(Path(tmp) / "bench.sqlite") as g:
        t0 = time.perf_counter()
        summary = g.enroll(photos, workers=workers, use_cache=False)
        seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0  # this process + its finished workers
    per_face = cpu / max(1, summary.enrolled)
    return {"faces_per_s": round(summary.enrolled / seconds, 2), "photos": len(photos),
            # CPU time per face, worker start-up included: on an idle machine N cores give
            # about N / cpu_s_per_face faces/s; a busy machine shows less wall-clock rate.
            "cpu_s_per_face": round(per_face, 4),
            "faces_per_s_per_idle_core": round(1 / per_face, 2) if per_face else None,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "enrolled": summary.enrolled, "skipped": len(summary.skipped),
            "workers": summary.workers, "seconds": round(seconds, 2),
            "source": str(photos[0].parent) if photos else None}
