"""Align every image of a manifest once and keep the canonical frames on disk.

Landmark alignment is slow per image, and a run reads each image thousands of times.
Frames are stored as one uint8 .npy per (manifest, mtime, split, frame, cap) under the
user cache directory, never in the repository, and memory-mapped by the data loaders.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from sketchlab.core import paths
from sketchlab.core.atomic import atomic_write
from sketchlab.core.manifest import Row, read_manifest, resolve_manifest
from sketchlab.core.preprocess import align_pair, prepare_photo

log = logging.getLogger(__name__)

CACHE_VERSION = "1"


@dataclass(frozen=True)
class AlignedSet:
    """Canonical frames for a manifest split. sketches is None for photo-only sets."""

    rows: tuple[Row, ...]
    photos: np.ndarray  # (N, H, W, 3) uint8
    sketches: np.ndarray | None
    methods: tuple[str, ...]  # how each image was aligned ("landmarks" or "centre")

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: list[int]) -> AlignedSet:
        """The rows at `index`, frames copied out of the memory map."""
        return AlignedSet(tuple(self.rows[i] for i in index), self.photos[index],
                          None if self.sketches is None else self.sketches[index],
                          tuple(self.methods[i] for i in index))


def _align_one(args: tuple[Row, tuple[int, int], bool]) -> tuple[np.ndarray, np.ndarray | None,
                                                                 str]:
    row, frame, paired = args
    if paired and row.sketch is not None:
        sketch, photo, t = align_pair(row.sketch, row.photo, frame)
        # Real sketches are grey content; three equal channels match the app's input.
        g = cv2.cvtColor(sketch, cv2.COLOR_RGB2GRAY)
        return np.repeat(g[..., None], 3, axis=2), photo, t.method
    prepared = prepare_photo(row.photo, frame)
    return None, prepared.image, prepared.transform.method  # type: ignore[return-value]


def cache_dir(override: str = "") -> Path:
    d = Path(override) if override else paths.user_cache_dir() / "aligned"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(manifest: Path, split: str | None, frame: tuple[int, int], paired: bool,
         max_items: int, subset: str) -> str:
    st = manifest.stat()
    text = f"{CACHE_VERSION}|{manifest.resolve()}|{st.st_mtime_ns}|{st.st_size}|{split}|" \
           f"{frame}|{paired}|{max_items}|{subset}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def select_rows(rows: list[Row], max_items: int, seed: int = 0) -> list[Row]:
    """A fixed, seed-determined subset (file order kept) when max_items caps a set."""
    if max_items <= 0 or max_items >= len(rows):
        return rows
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), max_items, replace=False))
    return [rows[i] for i in pick]


def load_aligned(manifest: str | os.PathLike[str], split: str | None, frame: tuple[int, int],
                 paired: bool, max_items: int = 0, workers: int = 1,
                 cache: str = "", progress: bool = True, subset: str = "") -> AlignedSet:
    """Aligned frames for one manifest split, computing and caching them on first use.

    `subset` keeps only rows whose photo path (relative to the manifest) starts with it,
    e.g. "align/" for celeba_color's consistently framed half.
    """
    path = resolve_manifest(manifest)
    rows = read_manifest(path, split)
    if subset:
        rows = [r for r in rows if r.photo.relative_to(path.parent).as_posix().startswith(subset)]
    rows = select_rows(rows, max_items)
    if paired and any(r.sketch is None for r in rows):
        raise ValueError(f"{path}: paired source but some rows have no sketch")
    if not rows:
        raise ValueError(f"{path}: no rows for split {split!r}")
    key = _key(path, split, frame, paired, max_items, subset)
    base = cache_dir(cache) / f"{path.parent.name}-{split or 'all'}-{key}"
    files = {k: base.with_name(base.name + f".{k}.npy") for k in ("photos", "sketches")}
    methods_file = base.with_name(base.name + ".methods.txt")
    if files["photos"].is_file() and methods_file.is_file() and (
            not paired or files["sketches"].is_file()):
        photos = np.load(files["photos"], mmap_mode="r")
        sketches = np.load(files["sketches"], mmap_mode="r") if paired else None
        methods = tuple(methods_file.read_text().split())
        if len(photos) == len(rows) == len(methods):
            return AlignedSet(tuple(rows), photos, sketches, methods)
        log.warning("aligned cache %s does not match its manifest; rebuilding", base)
    h, w = frame
    photos = np.zeros((len(rows), h, w, 3), np.uint8)
    sketches = np.zeros_like(photos) if paired else None
    methods: list[str] = []
    jobs = [(r, frame, paired) for r in rows]
    desc = f"aligning {path.parent.name}/{split or 'all'}"
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_align_one, jobs, chunksize=16)
            for i, (s, p, m) in enumerate(tqdm(results, total=len(jobs), desc=desc,
                                               disable=not progress)):
                _store(photos, sketches, methods, i, s, p, m)
    else:
        for i, job in enumerate(tqdm(jobs, desc=desc, disable=not progress)):
            _store(photos, sketches, methods, i, *_align_one(job))
    n_land = sum(m == "landmarks" for m in methods)
    log.info("%s: %d/%d aligned by landmarks, rest by centre crop", desc, n_land, len(rows))
    _atomic_save(files["photos"], photos)
    if sketches is not None:
        _atomic_save(files["sketches"], sketches)
    _atomic_save(methods_file, "\n".join(methods) + "\n")
    return AlignedSet(tuple(rows), photos, sketches, tuple(methods))


def _store(photos: np.ndarray, sketches: np.ndarray | None, methods: list[str], i: int,
           s: np.ndarray | None, p: np.ndarray, m: str) -> None:
    photos[i] = p
    if sketches is not None and s is not None:
        sketches[i] = s
    methods.append(m)


def _atomic_save(path: Path, arr: np.ndarray | str) -> None:
    """Atomic, with a per-call temp name: DDP ranks may build the same cache at once.

    Both write identical bytes, so the last rename wins harmlessly.
    """
    with atomic_write(path) as fh:
        if isinstance(arr, str):
            fh.write(arr.encode())
        else:
            np.save(fh, arr)
