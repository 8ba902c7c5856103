"""Read any user image into an RGB uint8 array, or fail with a message a person can act on.

Sketches arrive as scans, phone photos, PNG exports from drawing apps and odd TIFFs, so
this handles EXIF orientation, palettes, alpha, CMYK and 16-bit data, and refuses
decompression bombs before decoding them. No global PIL state is changed.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 40 megapixels covers a 600 dpi A4 scan (~35 MP); a larger image is almost surely a bomb
# or a mistake, and decoding it would take >120 MB per channel.
MAX_PIXELS = 40_000_000

ImageSource = str | os.PathLike[str] | bytes | Image.Image | np.ndarray


class ImageLoadError(ValueError):
    """The input is not an image we can use; the message says why and what to do."""


def _open(source: ImageSource) -> tuple[Image.Image, str]:
    if isinstance(source, Image.Image):
        return source, "image"
    if isinstance(source, bytes):
        data, label = io.BytesIO(source), "image data"
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{path}: file not found")
        data, label = path, path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(data), label
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{label}: image is too large to open safely ({exc}). "
                             "Downscale it below 40 megapixels.") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{label}: not a recognised image file "
                             "(use PNG, JPEG, TIFF, BMP or WebP)") from exc
    except OSError as exc:
        raise ImageLoadError(f"{label}: cannot read file: {exc}") from exc


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if mode == "F":
            lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
            arr = (arr - lo) / max(hi - lo, 1e-9) * 255.0
        else:
            arr = arr / top * 255.0
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


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB array with EXIF orientation applied."""
    if isinstance(source, np.ndarray):
        return as_rgb_array(source)
    im, label = _open(source)
    w, h = im.size
    if w * h > max_pixels:
        raise ImageLoadError(f"{label}: {w}x{h} is too large ({w * h / 1e6:.0f} MP; "
                             f"the limit is {max_pixels / 1e6:.0f} MP). Downscale it first.")
    if w < 8 or h < 8:
        raise ImageLoadError(f"{label}: {w}x{h} is too small to hold a face sketch")
    try:
        im.load()
        im = ImageOps.exif_transpose(im) or im
        return _to_rgb(im)
    except OSError as exc:
        raise ImageLoadError(f"{label}: the file is damaged or truncated ({exc}). "
                             "Re-export or re-scan it.") from exc
    except (ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"{label}: unsupported image encoding ({exc})") from exc


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
    """Write an RGB uint8 array atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    Image.fromarray(as_rgb_array(rgb)).save(tmp, format=fmt)
    os.replace(tmp, path)
