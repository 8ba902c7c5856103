"""`python -m trainer evaluate`: image quality and identification figures of a model.

Quality (see trainer.metrics for exact definitions): each test sketch is aligned with its
photo (one transform found on the photo, `preprocess.align_pair`), inverted, and compared
with the aligned photo in the network's frame. Figures are means over pairs.

Identification: the gallery is every test photo of the evaluated manifests plus every
photo of the distractor manifests, embedded by face_recognition on the original file
(HOG-detected largest face); a photo with no detected face is enrolled anyway from its
aligned frame with the known canonical face box. Queries are the inverted sketches
(canonical box), and, for comparison, the aligned raw sketches the same way. Rank-k is the
share of queries whose own photo is among the k nearest gallery descriptors (ties count in
the query's favour). Gallery descriptors live in the shared EmbeddingCache, keyed by file
SHA-256 and model, so gallery enrolment and reruns do not embed LFW again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sketchlab import paths
from sketchlab.core.checkpoint import load_generator
from sketchlab.core.hashing import sha256_bytes, sha256_file
from sketchlab.core.matching import (
    EmbeddingCache,
    canonical_face_box,
    embed,
    embed_aligned,
)
from sketchlab.core.model_catalog import resolve_model
from trainer import metrics
from trainer.data.align_cache import load_aligned
from trainer.data.manifest import read_manifest, resolve_manifest

log = logging.getLogger(__name__)

JSON_KEYS = ("fsim", "ssim", "pearson_r", "rank1", "rank5", "rank10", "rank1_raw_sketch",
             "n_queries", "gallery_size", "model_sha256")


def embedding_cache() -> EmbeddingCache:
    return EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")


def model_path(spec: str | None) -> Path:
    """A model name, a .safetensors file, or a run directory (its generator snapshot)."""
    if spec is not None and Path(spec).is_dir():
        snap = Path(spec) / "generator.safetensors"
        if not snap.is_file():
            raise FileNotFoundError(f"{spec} has no generator.safetensors (not a run dir?)")
        return snap
    return resolve_model(spec)


# --- embedding, in worker processes ------------------------------------------------------
def _embed_file(path: str) -> np.ndarray | None:
    from sketchlab.core.imageio import load_image

    return embed(load_image(path))


def _embed_frame(frame: np.ndarray) -> np.ndarray:
    return embed_aligned(frame)


def _pmap(fn: Any, items: Sequence[Any], workers: int, desc: str) -> list[Any]:
    if not items:
        return []
    if workers <= 1:
        return [fn(x) for x in tqdm(items, desc=desc, leave=False)]
    with ProcessPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=8), total=len(items), desc=desc,
                         leave=False))


def embed_photo_files(files: Sequence[Path], cache: EmbeddingCache, workers: int = 2,
                      desc: str = "embedding gallery") -> list[np.ndarray]:
    """Descriptors of photo files (detected face), from the cache or computed and cached;
    files with no detectable face are embedded from their aligned frame (canonical box)."""
    from sketchlab.core.preprocess import prepare_photo

    shas = [sha256_file(f) for f in files]
    out: list[np.ndarray | None] = [None] * len(files)
    todo = []
    for i, sha in enumerate(shas):
        hit, vec = cache.get(sha, None)
        if hit:
            out[i] = vec
        else:
            todo.append(i)
    log.info("%s: %d of %d cached", desc, len(files) - len(todo), len(files))
    chunk = 256  # write to the cache as we go so an interrupted run keeps its work
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        vecs = _pmap(_embed_file, [str(files[i]) for i in part], workers,
                     f"{desc} {start + len(part)}/{len(todo)}")
        for i, v in zip(part, vecs, strict=True):
            cache.put(shas[i], v, None)
            out[i] = v
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        log.info("%s: %d photos without a detected face; using the aligned face box",
                 desc, len(missing))
    for i in missing:
        frame = prepare_photo(files[i]).image
        fsha = sha256_bytes(frame.tobytes())
        box = canonical_face_box(frame.shape[:2])
        hit, vec = cache.get(fsha, box)
        if not hit or vec is None:
            vec = embed_aligned(frame)
            cache.put(fsha, vec, box)
        out[i] = vec
    return [np.asarray(v, np.float32) for v in out]  # type: ignore[arg-type]


# --- evaluation ----------------------------------------------------------------------------
@dataclass
class SetResult:
    name: str
    n: int
    quality: dict[str, float]
    ranks: dict[str, float] = field(default_factory=dict)


def _invert_all(generator: Any, sketches: np.ndarray, device: str, batch: int = 16
                ) -> np.ndarray:
    from sketchlab.core.inference import Inverter

    inv = Inverter(generator, device=device, warmup=False)
    out = []
    for i in tqdm(range(0, len(sketches), batch), desc="inverting", leave=False):
        out.extend(inv.invert_batch([np.asarray(s) for s in sketches[i:i + batch]]))
    return np.stack(out)


def _metrics_pair(args: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    return metrics.all_metrics(*args)


def rank_hits(queries: np.ndarray, gallery: np.ndarray, truth: Sequence[int],
              ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Share of queries whose true gallery row is within the k nearest (ties favourable)."""
    g = np.asarray(gallery, np.float32)
    gsq = np.einsum("ij,ij->i", g, g)
    ranks = []
    for q, t in zip(queries, truth, strict=True):
        d = gsq - 2.0 * (g @ q)  # |q|^2 is common to all rows
        ranks.append(int((d < d[t]).sum()) + 1)
    r = np.asarray(ranks)
    return {k: float((r <= k).mean()) if len(r) else 0.0 for k in ks}


def evaluate(model: str | None, manifests: Sequence[str], split: str = "test",
             distractors: Sequence[str] = (), max_distractors: int = 0, device: str = "auto",
             workers: int = 2, out_dir: Path | None = None) -> dict[str, Any]:
    t0 = time.time()
    loaded = load_generator(model_path(model))
    frame = loaded.config.resolution
    cache = embedding_cache()
    sets: list[SetResult] = []
    q_inv, q_raw, truth_keys = [], [], []
    gallery_files: list[Path] = []
    gallery_keys: list[tuple[str, str]] = []
    per_pair: list[dict[str, float]] = []
    for spec in manifests:
        mpath = resolve_manifest(spec)
        name = mpath.parent.name
        data = load_aligned(mpath, split, frame, paired=True, workers=workers)
        preds = _invert_all(loaded, data.sketches, device)
        pairs = [(preds[i], np.asarray(data.photos[i])) for i in range(len(data))]
        q = _pmap(_metrics_pair, pairs, workers, f"metrics {name}")
        per_pair.extend(q)
        quality = {k: float(np.mean([m[k] for m in q])) for k in q[0]}
        sets.append(SetResult(name, len(data), quality))
        q_inv.extend(_pmap(_embed_frame, list(preds), workers, f"embedding inverted {name}"))
        q_raw.extend(_pmap(_embed_frame, [np.asarray(s) for s in data.sketches], workers,
                           f"embedding raw sketches {name}"))
        truth_keys.extend((name, r.identity) for r in data.rows)
        for r in data.rows:
            gallery_files.append(r.photo)
            gallery_keys.append((name, r.identity))
        if out_dir is not None:
            from trainer.plots import grid, save_png

            k = min(8, len(data))
            save_png(out_dir / f"samples-{name}.png",
                     grid([[np.asarray(data.sketches[i]) for i in range(k)],
                           [preds[i] for i in range(k)],
                           [np.asarray(data.photos[i]) for i in range(k)]]))
    for spec in distractors:
        mpath = resolve_manifest(spec)
        rows = read_manifest(mpath)
        if max_distractors:
            rows = rows[:max_distractors]
        gallery_files.extend(r.photo for r in rows)
        gallery_keys.extend((f"distractor:{mpath.parent.name}", r.identity) for r in rows)
    gvecs = np.stack(embed_photo_files(gallery_files, cache, workers))
    index = {}
    for i, key in enumerate(gallery_keys):
        index.setdefault(key, i)
    truth = [index[k] for k in truth_keys]
    inv_hits = rank_hits(np.stack(q_inv), gvecs, truth)
    raw_hits = rank_hits(np.stack(q_raw), gvecs, truth)
    # Per set, against the same full gallery.
    start = 0
    for s in sets:
        sl = slice(start, start + s.n)
        hi = rank_hits(np.stack(q_inv[sl]), gvecs, truth[sl])
        hr = rank_hits(np.stack(q_raw[sl]), gvecs, truth[sl])
        s.ranks = {"rank1": hi[1], "rank5": hi[5], "rank10": hi[10], "rank1_raw_sketch": hr[1],
                   "rank5_raw_sketch": hr[5], "rank10_raw_sketch": hr[10]}
        start += s.n
    summary = {
        "fsim": float(np.mean([m["fsim"] for m in per_pair])),
        "ssim": float(np.mean([m["ssim"] for m in per_pair])),
        "pearson_r": float(np.mean([m["pearson_r"] for m in per_pair])),
        "rank1": inv_hits[1], "rank5": inv_hits[5], "rank10": inv_hits[10],
        "rank1_raw_sketch": raw_hits[1],
        "n_queries": len(truth), "gallery_size": len(gallery_files),
        "model_sha256": loaded.sha256,
    }
    details = {
        "summary": summary,
        "model": str(loaded.path), "model_name": loaded.name, "split": split,
        "manifests": [str(resolve_manifest(m)) for m in manifests],
        "distractors": [str(resolve_manifest(m)) for m in distractors],
        "sets": [{"name": s.name, "n": s.n, **s.quality, **s.ranks} for s in sets],
        "colour": {k: float(np.mean([m[k] for m in per_pair]))
                   for k in ("fsim_colour", "ssim_colour", "pearson_r_colour")},
        "seconds": round(time.time() - t0, 1),
    }
    cache.close()
    return details


def format_table(details: dict[str, Any]) -> str:
    head = ("| set | n | FSIM | FSIMc | SSIM | SSIM (colour) | R | R (colour) | rank-1 | "
            "rank-5 | rank-10 | rank-1 raw sketch |")
    lines = [head, "|" + "---|" * 12]
    for s in details["sets"]:
        lines.append(
            f"| {s['name']} | {s['n']} | {s['fsim']:.3f} | {s['fsim_colour']:.3f} | "
            f"{s['ssim']:.3f} | {s['ssim_colour']:.3f} | {s['pearson_r']:.3f} | "
            f"{s['pearson_r_colour']:.3f} | {100 * s['rank1']:.1f}% | {100 * s['rank5']:.1f}% | "
            f"{100 * s['rank10']:.1f}% | {100 * s['rank1_raw_sketch']:.1f}% |")
    g = details["summary"]["gallery_size"]
    lines.append(f"\nGallery: {g} photos (test photos + distractors: "
                 f"{', '.join(Path(d).parent.name for d in details['distractors']) or 'none'}).")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    out_dir = Path(args.out).parent if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    details = evaluate(args.model, args.manifest, args.split, args.distractors,
                       args.max_distractors, args.device, args.workers, out_dir)
    if args.out:
        Path(args.out).write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: details["summary"][k] for k in JSON_KEYS}))
    else:
        print(format_table(details))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(os.EX_USAGE)
