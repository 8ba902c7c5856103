"""Gallery fixtures: real CUFS test photos (skipped without shared data), bad files."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_CUFS = 16


@pytest.fixture(scope="session")
def cufs_photos(shared_data: Path) -> list[Path]:
    """A fixed subset of CUFS test photos (one person each)."""
    return sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[:N_CUFS]


@pytest.fixture(scope="session")
def cufs_gallery_file(cufs_photos, tmp_path_factory) -> Path:
    """A gallery of the CUFS subset, enrolled once per session; tests copy it."""
    from sketchlab.db.gallery import open_gallery

    folder = tmp_path_factory.mktemp("cufs")
    for p in cufs_photos:
        shutil.copy(p, folder / p.name)
    path = tmp_path_factory.mktemp("galleries") / "cufs.sqlite"
    with open_gallery(path) as g:
        summary = g.enroll([folder], workers=1, use_cache=False)
    assert summary.enrolled == len(cufs_photos), summary.as_dict()
    return path


@pytest.fixture
def cufs_gallery(cufs_gallery_file, tmp_path):
    from sketchlab.db.gallery import open_gallery

    path = tmp_path / "gallery.sqlite"
    shutil.copy(cufs_gallery_file, path)
    g = open_gallery(path)
    yield g
    g.close()


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny PNG whose header claims a huge size (a decompression bomb)."""
    Image.new("L", (8, 8), 255).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length+type of IHDR
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def bad_files(tmp_path, cufs_photos) -> dict[str, Path]:
    """One of each kind of bad file, plus one good photo, in a folder tree."""
    root = tmp_path / "mixed"
    (root / "sub").mkdir(parents=True)
    good = root / "sub" / "good.jpg"
    shutil.copy(cufs_photos[0], good)
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(cufs_photos[1].read_bytes()[:600])
    notimage = root / "notes.jpg"
    notimage.write_text("this is not an image\n")
    text = root / "readme.txt"
    text.write_text("hello\n")
    noface = root / "blank.png"
    Image.fromarray(np.full((240, 200, 3), 180, np.uint8)).save(noface)
    bomb = bomb_png(root / "bomb.png")
    big = root / "big.png"
    Image.new("RGB", (5000, 4000), (200, 200, 200)).save(big)
    return {"root": root, "good": good, "corrupt": corrupt, "notimage": notimage,
            "text": text, "noface": noface, "bomb": bomb, "big": big}
