"""Synthetic face descriptors fitted to real ones, for galleries of 1M-10M faces (search
benchmarks, and the 1:N search rates past the real photos on hand).

Uniform or isotropic noise makes nearest-neighbour search look easier or harder than it
is: real dlib descriptors sit on a thin, anisotropic shell with identities as clusters.
We fit a two-level Gaussian to LFW descriptors: identity centres ~ N(mu, Sb) and each photo
~ N(centre, Sw), with Sb and Sw the between- and within-identity covariances of LFW people
with several photos. A synthetic gallery then has `photos_per_identity` photos of each
synthetic person, and a query is a new photo of a gallery person, like a real probe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DescriptorModel:
    mean: np.ndarray  # (D,): 128, or 256 for two-way pairs (core.drawn)
    chol_between: np.ndarray  # (D, D) lower-triangular
    chol_within: np.ndarray  # (D, D)
    n_photos: int
    n_identities: int

    def as_json(self) -> dict[str, object]:
        def spread(c: np.ndarray) -> float:
            return round(float(np.sqrt(np.sum(c * c))), 4)  # sqrt(trace of covariance)

        return {"fitted_on_photos": self.n_photos, "identities": self.n_identities,
                "between_rms": spread(self.chol_between), "within_rms": spread(self.chol_within)}


def fit(vectors: np.ndarray, identities: list[str]) -> DescriptorModel:
    """Between/within-identity Gaussian fit (identities with >= 2 photos give Sw)."""
    v = np.asarray(vectors, np.float64)
    ids = np.asarray(identities)
    labels, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    centres = np.zeros((len(labels), v.shape[1]))
    np.add.at(centres, inverse, v)
    centres /= counts[:, None]
    resid = v - centres[inverse]
    multi = counts[inverse] >= 2
    dof = int(multi.sum()) - int((counts >= 2).sum())
    if dof < 10:
        raise ValueError("need identities with several photos to fit the within-person spread")
    s_within = resid[multi].T @ resid[multi] / dof
    mean = v.mean(axis=0)
    s_between = np.cov(centres.T) - s_within / max(1.0, float(np.mean(counts)))
    eye = np.eye(v.shape[1]) * 1e-6

    def chol(s: np.ndarray) -> np.ndarray:  # nearest PSD, then Cholesky
        w, q = np.linalg.eigh((s + s.T) / 2)
        return np.linalg.cholesky(q @ np.diag(np.clip(w, 1e-7, None)) @ q.T + eye)

    return DescriptorModel(mean.astype(np.float32), chol(s_between).astype(np.float32),
                           chol(s_within).astype(np.float32), len(v), len(labels))


def generate(model: DescriptorModel, n: int, seed: int = 0, photos_per_identity: int = 2,
             chunk: int = 500_000) -> np.ndarray:
    """(n, D) float32 gallery: n / photos_per_identity people, photos_per_identity each (D:
    the fitted descriptors' size, 128, or 256 for two-way pairs)."""
    rng = np.random.default_rng(seed)
    dim = len(model.mean)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        n_id = -(-m // photos_per_identity)
        centres = model.mean + rng.standard_normal((n_id, dim), np.float32) \
            @ model.chol_between.T
        out[start:start + m] = np.repeat(centres, photos_per_identity, axis=0)[:m]
        out[start:start + m] += rng.standard_normal((m, dim), np.float32) \
            @ model.chol_within.T
    return out


def probes(model: DescriptorModel, gallery: np.ndarray, count: int, seed: int = 1
           ) -> np.ndarray:
    """New photos of `count` gallery people: a gallery photo's person, a fresh within-person
    draw around it (approximately: the photo stands in for the centre)."""
    rng = np.random.default_rng(seed)
    pick = gallery[rng.integers(0, len(gallery), count)]
    noise = rng.standard_normal((count, len(model.mean)), np.float32) @ model.chol_within.T
    return (pick + noise).astype(np.float32)


def lfw_descriptors(root: Path, max_photos: int = 4000) -> tuple[np.ndarray, list[str]]:
    """Descriptors of LFW photos (people with >= 2 photos first), from the user's
    EmbeddingCache where present, else computed (batched) and cached."""
    from sketchlab.core import paths
    from sketchlab.core.embedding_cache import EmbeddingCache
    from sketchlab.core.hashing import sha256_file
    from sketchlab.core.imageio import load_image
    from sketchlab.core.manifest import read_manifest
    from sketchlab.core.matching import embed_batch

    rows = [(r.photo, r.identity) for r in read_manifest(root / "lfw")]
    per_id: dict[str, int] = {}
    for _, ident in rows:
        per_id[ident] = per_id.get(ident, 0) + 1
    rows.sort(key=lambda r: (per_id[r[1]] < 2, r[1], r[0]))
    rows = rows[:max_photos]
    cache = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")
    vecs: list[np.ndarray | None] = []
    missing: list[int] = []
    shas = []
    try:
        for i, (photo, _) in enumerate(rows):
            sha = sha256_file(photo)
            shas.append(sha)
            hit, v = cache.get(sha)
            vecs.append(v if hit else None)
            if not hit:
                missing.append(i)
        if missing:
            log.info("embedding %d LFW photos not in the cache", len(missing))
            for start in range(0, len(missing), 256):
                part = missing[start:start + 256]
                got = embed_batch([load_image(rows[i][0]) for i in part])
                for i, v in zip(part, got, strict=True):
                    vecs[i] = v
                    cache.put(shas[i], v)
    finally:
        cache.close()
    keep = [i for i, v in enumerate(vecs) if v is not None]
    return (np.stack([vecs[i] for i in keep]).astype(np.float32),  # type: ignore[misc]
            [rows[i][1] for i in keep])
