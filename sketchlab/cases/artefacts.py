"""Content-addressed artefact files: the bytes of a sketch, photo or stroke file, by SHA-256.

Files (not SQLite blobs) because: identical bytes are stored once however many cases
use them; the database stays small and fast to back up; export copies files straight
into a bundle; and `verify` re-hashes each file, so a changed byte shows up as a file
whose content no longer matches its name. Writes are atomic (temp file, then rename).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sketchlab.core.atomic import atomic_write
from sketchlab.core.hashing import sha256_bytes, sha256_file

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
              "image/bmp": ".bmp", "image/webp": ".webp", "application/json": ".json",
              "application/pdf": ".pdf", "application/octet-stream": ".bin"}


def sniff_media_type(data: bytes) -> str:
    """The media type of artefact bytes, from their content (not a file name)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "").lower()
    except (UnidentifiedImageError, OSError):
        fmt = ""
    if fmt:
        return {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff",
                "bmp": "image/bmp", "webp": "image/webp"}.get(fmt, f"image/{fmt}")
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    return "application/octet-stream"


def extension(media_type: str) -> str:
    return EXTENSIONS.get(media_type, ".bin")


def is_sha256(text: str) -> bool:
    return bool(_SHA_RE.match(text))


class ArtefactStore:
    """objects/ab/abcdef... files under `root`; names are the SHA-256 of the content."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        if not is_sha256(sha):
            raise ValueError(f"not a SHA-256: {sha!r}")
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        target = self.path(sha)
        if target.is_file() and target.stat().st_size == len(data):
            return sha
        with atomic_write(target, suffix=".part") as fh:
            fh.write(data)
        return sha

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def read(self, sha: str) -> bytes:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"artefact {sha[:12]} is missing from {self.root}") from None

    def check(self, sha: str) -> str | None:
        """None when the file exists and its bytes hash to its name, else what is wrong."""
        p = self.path(sha)
        if not p.is_file():
            return f"artefact {sha[:12]} is missing ({p})"
        actual = sha256_file(p)
        if actual != sha:
            return f"artefact {sha[:12]} was modified: its bytes now hash to {actual[:12]} ({p})"
        return None


def rgb_sha256(rgb: np.ndarray) -> str:
    """SHA-256 of an (H, W, 3) uint8 picture with its size: the same picture gives the
    same digest whichever encoder wrote its file, so the canvas as inverted can be matched
    to the sketch file saved from it."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    digest = hashlib.sha256(f"rgb8 {rgb.shape[0]}x{rgb.shape[1]}\n".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def pixels_sha256(data: bytes) -> str:
    """`rgb_sha256` of an image file's decoded pixels; ImageLoadError for non-images."""
    from sketchlab.core.imageio import load_image

    return rgb_sha256(load_image(data))
