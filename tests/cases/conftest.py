"""A case store per test and a case with real work in it (tiny model, recorded candidates)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sketchlab.cases import CaseStore, GalleryIdentity
from sketchlab.cases.actions import invert_sketch

# The gallery's own CUFS fixtures (a real 16-photo gallery; skipped without shared data).
from tests.db.conftest import cufs_gallery, cufs_gallery_file, cufs_photos  # noqa: F401


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> CaseStore:
    s = CaseStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture(scope="session")
def inverter(tiny_model: Path):
    from sketchlab.core.inference import Inverter

    return Inverter(tiny_model, device="cpu", threads=1)


def candidates(n: int = 6, threshold: float = 0.6) -> list[dict]:
    """What a matcher returns: ranked candidates with thumbnails (distinct tiny images)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(1, n + 1):
        d = 0.35 + 0.06 * i
        out.append({"rank": i, "subject": f"subject-{i:03d}", "photo_sha256": f"{i:064x}",
                    "distance": d, "score": float(1 / (1 + np.exp((d - threshold) / 0.06))),
                    "within_threshold": d <= threshold,
                    "thumbnail": rng.integers(0, 255, (40, 32, 3), dtype=np.uint8)})
    return out


@pytest.fixture
def worked_case(store: CaseStore, inverter, face_sketch: np.ndarray) -> str:
    """create -> two sketch versions -> inversion -> match -> status change."""
    info = store.create_case(title="Street robbery", artist="A. Artist",
                             investigator="DI Example", witness_description="male, 30s")
    store.add_sketch(info.number, png(face_sketch), strokes=b'{"strokes": []}', note="first")
    second = face_sketch.copy()
    second[60:70, 60:140] = 40  # the witness remembered a heavy brow
    store.add_sketch(info.number, png(second), note="heavier brow")
    invert_sketch(store, info.number, inverter)
    store.add_match(info.number, candidates(), GalleryIdentity("/data/gallery.sqlite",
                                                               "ab" * 32, 250), 0.6, k=6)
    store.update_case(info.number, status="closed")
    return info.number

