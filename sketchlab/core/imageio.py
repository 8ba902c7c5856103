"""Read any user image into an RGB uint8 array, or fail with a message a person can act on.

Sketches arrive as scans, phone photos, PNG exports from drawing apps and odd TIFFs, so
this handles EXIF orientation, palettes, alpha, CMYK and 16-bit data. It is also the
door hostile files come through, so it opens only formats a sketch or photo can be
(never PostScript, which Pillow hands to Ghostscript), checks size, aspect ratio,
decoded bytes and metadata before decoding, decodes under a time budget, refuses
non-finite pixels, and refuses a file its format's own evidence calls damaged
(core.image_damage) rather than accepting a half-garbled scan as whole. No global PIL
state is changed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sketchlab.core.atomic import atomic_write
from sketchlab.core.budget import BudgetExceeded, run_within
from sketchlab.core.image_damage import damage

log = logging.getLogger(__name__)

# 40 megapixels covers a 600 dpi A4 scan (~35 MP); a larger image is almost surely a bomb
# or a mistake, and decoding it would take >120 MB per channel.
MAX_PIXELS = 40_000_000
# What a sketch or photo can be, with the file names each goes by: the one list the
# loader opens, enrolment takes from a folder, a drop accepts and file dialogs offer.
# GIF gives its first frame; Pillow's JPEG opener also opens a phone's MPO (a JPEG with
# extra frames appended).
FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",), "BMP": (".bmp",), "GIF": (".gif",)}
FORMATS = tuple(FORMAT_SUFFIXES)
IMAGE_SUFFIXES = frozenset(s for names in FORMAT_SUFFIXES.values() for s in names)
MAX_FILE_BYTES = 256 * 1024 * 1024
# Memory budget for the decoded raster (40 MP of 16-bit RGB is 240 MB).
MAX_DECODED_BYTES = 320 * 1024 * 1024
# Time budget for one decode; a 40 MP PNG takes ~2 s on one slow core.
DECODE_SECONDS = 30.0
# A face sketch or photo is never a strip: 8:1 already covers a panorama of a lineup.
MAX_ASPECT = 8.0
# Text, EXIF, ICC and XMP together; real files carry tens of KB, ICC profiles up to ~1 MB.
MAX_METADATA_BYTES = 4 * 1024 * 1024
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "RGB": 3, "YCbCr": 3,
                    "LAB": 3, "HSV": 3, "RGBA": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4,
                    "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_ALLOWED = ", ".join({"WEBP": "WebP"}.get(f, f) for f in FORMATS[:-1]) + f" or {FORMATS[-1]}"
_METADATA_BOMB = "decompressed data too large"  # Pillow's text-chunk limit (MAX_TEXT_CHUNK)

ImageSource = str | os.PathLike[str] | bytes | Image.Image | np.ndarray


def name_patterns() -> str:
    """Every accepted file name as glob patterns ("*.bmp *.gif ..."), for file dialogs."""
    return " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))


class ImageLoadError(ValueError):
    """The input is not an image we can use; the message says why and what to do."""


def _read(source: str | os.PathLike[str] | bytes
          ) -> tuple[bytes | mmap.mmap, str, BinaryIO | None]:
    """The file's bytes (mapped, not copied: the damage checks read the parts they need),
    its label, and an open handle for the decoder, which reads through the page cache
    (so a 120 MB scan is not held twice: once as a file, once decoded)."""
    if isinstance(source, bytes):
        return source, "image data", None
    path = Path(source)
    if not path.is_file():
        raise ImageLoadError(f"{path}: file not found")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageLoadError(f"{path.name}: {size / 1e6:.0f} MB is too large for a sketch "
                                 f"or photo (limit {MAX_FILE_BYTES / 1e6:.0f} MB)")
        fh = path.open("rb")
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError):
            fh.close()
            raise
        return data, path.name, fh
    except OSError as exc:
        raise ImageLoadError(f"{path.name}: cannot read file: {exc.strerror or exc}") from exc


def _unaccepted(data: bytes | mmap.mmap, label: str) -> ImageLoadError:
    head = data[:16]
    if head.startswith((b"%!", b"\xc5\xd0\xd3\xc6")):
        kind = "a PostScript/EPS file"
    elif head.startswith(b"%PDF"):
        kind = "a PDF"
    elif b"<svg" in data[:512] or head.startswith(b"<?xml"):
        kind = "an SVG/XML file"
    else:
        return ImageLoadError(f"{label}: not a recognised image file (use {_ALLOWED})")
    return ImageLoadError(f"{label}: is {kind}, which SketchLab does not open; "
                          f"export it as {_ALLOWED}")


def _too_large(label: str, exc: Image.DecompressionBombError) -> ImageLoadError:
    """Pillow refuses a huge image before SketchLab's own size check can see it; say it in
    the same words (its size and the limit), not Pillow's."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found[1]) / 1e6:.0f} MP" if found else "hundreds of MP"
    return ImageLoadError(f"{label}: the image is too large to open safely ({size}; the "
                          f"limit is {MAX_PIXELS / 1e6:.0f} MP). Downscale it first.")


def _open(data: bytes | mmap.mmap, label: str, fh: BinaryIO | None = None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # logged by the caller, never printed
            return Image.open(fh if fh is not None else io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_large(label, exc) from exc
    except UnidentifiedImageError as exc:
        raise _unaccepted(data, label) from exc
    except ValueError as exc:  # e.g. PNG "Decompressed Data Too Large" in a text chunk
        raise ImageLoadError(f"{label}: the file's metadata is too large or malformed "
                             f"({exc}); re-export the image without metadata") from exc
    except (OSError, SyntaxError, struct.error, IndexError, TypeError) as exc:
        raise ImageLoadError(f"{label}: the file is damaged or truncated ({exc}); "
                             "re-export or "
                             "re-scan it") from exc


def _check_geometry(im: Image.Image, label: str, max_pixels: int) -> None:
    w, h = im.size
    if w * h > max_pixels:
        raise ImageLoadError(f"{label}: {w}x{h} is too large ({w * h / 1e6:.0f} MP; "
                             f"the limit is {max_pixels / 1e6:.0f} MP). Downscale it first.")
    if w < 8 or h < 8:
        raise ImageLoadError(f"{label}: {w}x{h} is too small to hold a face sketch")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageLoadError(f"{label}: {w}x{h} is a strip, not a face sketch or photo "
                             f"(aspect ratio over {MAX_ASPECT:g}:1); crop it to the face")
    decoded = w * h * _BYTES_PER_PIXEL.get(im.mode, 8)
    if decoded > MAX_DECODED_BYTES:
        raise ImageLoadError(f"{label}: decoding would need {decoded / 1e6:.0f} MB (limit "
                             f"{MAX_DECODED_BYTES / 1e6:.0f} MB); downscale it first")


def _metadata_bytes(im: Image.Image) -> int:
    # PNG text chunks after the image data appear in `text`, not always in `info`.
    text = getattr(im, "text", None) if im.format == "PNG" else None
    found = {**(text or {}), **im.info}
    return sum(len(v) for v in found.values() if isinstance(v, bytes | str))


def _reduced(im: Image.Image, max_side: int | None) -> tuple[Image.Image, int]:
    """`im` box-averaged by the largest whole factor that keeps its long side at least
    `max_side`, and the factor: what follows then works on a few MB, not on a float
    copy of 30 MP."""
    f = max(im.size) // max_side if max_side else 1
    if f < 2:
        return im, 1
    if im.mode.startswith("I;16"):
        im = im.convert("I")
    elif im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    return im.reduce(f), f


def _decode(im: Image.Image, label: str, data: bytes | mmap.mmap | None,
            max_side: int | None = None
            ) -> tuple[np.ndarray, float, tuple[int, int]]:
    problem = damage(data, im) if data is not None else None
    if problem:
        raise ImageLoadError(f"{label}: the file is damaged or truncated ({problem}); "
                             "re-export or "
                             "re-scan it")
    full, mode = im.size, im.mode
    if max_side and im.format in ("JPEG", "MPO"):
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale itself: the full raster never exists.
        w, h = full
        s = max_side / max(w, h)
        if s < 1.0:
            im.draft(im.mode, (max(1, round(w * s)), max(1, round(h * s))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im.load()
        if _metadata_bytes(im) > MAX_METADATA_BYTES:
            raise ImageLoadError(f"{label}: the file carries over "
                                 f"{MAX_METADATA_BYTES / 1e6:.0f} MB of metadata; "
                                 "re-export the image without metadata")
        drafted = im.size[0] / full[0]
        decoded = im
        im, f = _reduced(im, max_side)
        if f > 1 and data is not None:
            decoded.close()  # ours (opened from the file): free the full raster now
        try:
            turned = ImageOps.exif_transpose(im)
        except (ValueError, SyntaxError, struct.error, KeyError, TypeError, OSError) as exc:
            # Unreadable EXIF holds no usable orientation either; the pixels are intact.
            log.info("%s: ignoring unreadable EXIF (%s)", label, exc)
            turned = None
        if turned is not None and turned.size != im.size:
            full = (full[1], full[0])
        rgb = _to_rgb(turned or im, label, mode)
    for w in caught:
        log.info("%s: decoder warning: %s", label, w.message)
    return rgb, drafted / f, (full[1], full[0])


def _to_rgb(im: Image.Image, label: str, decoded_mode: str | None = None) -> np.ndarray:
    """RGB uint8; `decoded_mode` is the file's own mode when `im` was converted to
    reduce it (a 16-bit scan keeps its 16-bit scaling)."""
    mode = decoded_mode if decoded_mode and decoded_mode.startswith("I;16") else im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        if mode == "F" and not np.isfinite(arr).all():
            raise ImageLoadError(f"{label}: the image holds NaN or infinite pixel values; "
                                 "export it as 8- or 16-bit integers")
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
        if mode.startswith("I;16") or (lo >= 0 and hi > 255 and hi <= 65535):
            arr = arr / 65535.0 * 255.0
        elif mode == "F" and lo >= 0 and hi <= 1.0:
            arr = arr * 255.0
        elif lo < 0 or hi > 255:  # an arbitrary float or 32-bit range: stretch it
            arr = (arr - lo) / max(hi - lo, 1e-9) * 255.0
        gray = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA") or (mode in ("RGB", "L") and "transparency" in im.info):
        # Transparent pixels are paper, not ink: composite onto white.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS,
               max_side: int | None = None) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB array with EXIF orientation applied.

    With `max_side`, a large picture is decoded smaller (by libjpeg itself for a JPEG,
    else box-averaged right after decoding), its long side still at least `max_side`."""
    return load_image_sized(source, max_pixels, max_side)[0]


def load_image_sized(source: ImageSource, max_pixels: int = MAX_PIXELS,
                     max_side: int | None = None
                     ) -> tuple[np.ndarray, float, tuple[int, int]]:
    """`load_image`, plus the scale it was decoded at (array / file pixels) and the
    picture's full (height, width), so positions can be mapped back to the file."""
    if isinstance(source, np.ndarray):
        rgb = as_rgb_array(source)
        return rgb, 1.0, rgb.shape[:2]
    fh = None
    if isinstance(source, Image.Image):
        im, label, data = source, "image", None
    else:
        data, label, fh = _read(source)
        try:
            im = _open(data, label, fh)
        except ImageLoadError:
            _close(data, fh)
            raise
    try:
        _check_geometry(im, label, max_pixels)
        return run_within(DECODE_SECONDS, lambda: _decode(im, label, data, max_side),
                          f"decoding {label}")
    except BudgetExceeded as exc:
        raise ImageLoadError(f"{label}: {exc}; the file is too complex to decode safely"
                             ) from exc
    except Image.DecompressionBombError as exc:
        raise _too_large(label, exc) from exc
    except (OSError, struct.error, IndexError, zlib.error, EOFError) as exc:
        raise ImageLoadError(f"{label}: the file is damaged or truncated ({exc}). "
                             "Re-export or re-scan it.") from exc
    except (ValueError, SyntaxError, TypeError) as exc:
        if isinstance(exc, ImageLoadError):
            raise
        if _METADATA_BOMB in str(exc).lower() or "text chunk" in str(exc).lower():
            raise ImageLoadError(f"{label}: the file's metadata is too large ({exc}); "
                                 "re-export the image without metadata") from exc
        raise ImageLoadError(f"{label}: unsupported or damaged image encoding ({exc})"
                             ) from exc
    finally:
        if im is not source:
            im.close()
        _close(data, fh)


def _close(data: bytes | mmap.mmap | None, fh: BinaryIO | None) -> None:
    if isinstance(data, mmap.mmap):
        with contextlib.suppress(BufferError):  # a decode past its budget still reads it
            data.close()
    if fh is not None:
        fh.close()


def is_grey(rgb: np.ndarray) -> bool:
    """True when the three channels of an RGB image (or a stack of them) are equal: a grey
    image stored as colour, which can be kept or encoded as one channel."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 1], rgb[..., 2]))


def as_rgb_array(arr: np.ndarray) -> np.ndarray:
    """Coerce a gray, gray+alpha, RGB or RGBA array (uint8/uint16/float in [0,1]) to RGB uint8."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ImageLoadError(f"expected an image array, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ImageLoadError("the image holds NaN or infinite pixel values")
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] in (2, 4):
        color, alpha = a[..., :-1].astype(np.float32), a[..., -1:].astype(np.float32) / 255.0
        a = (color * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def save_image(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write an RGB uint8 array atomically and owner-only (core.atomic)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_write(path) as fh:
        Image.fromarray(as_rgb_array(rgb)).save(fh, format=fmt)
