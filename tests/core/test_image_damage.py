"""Damaged files that still decode are refused; intact ones never are.

Each test flips bytes of a generated file and keeps only the flips that Pillow decodes
without a word to a visibly different picture (the silent garbage a forensic tool must
not search with): those must be refused, with a message that says the file is damaged.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from sketchlab.core.image_damage import damage, gif_damage, lzw_pixel_count
from sketchlab.core.imageio import ImageLoadError, load_image


def _face(h: int = 72, w: int = 56) -> np.ndarray:
    rng = np.random.default_rng(26)
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3 + 4), 0, 0, 360, (40, 40, 40), 2)
    cv2.line(img, (w // 2 - 7, h // 2 + 12), (w // 2 + 7, h // 2 + 12), (50, 50, 50), 1)
    return np.clip(img.astype(int) + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pillow(data: bytes) -> np.ndarray | None:
    """What Pillow alone makes of the bytes (None when it refuses them)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            return np.asarray(im.convert("RGB")).astype(np.int16)
    except Exception:
        return None


def _silent_garbage(data: bytes, positions: range) -> list[bytes]:
    """Byte flips of `data` that Pillow decodes quietly to a visibly different picture."""
    ref = _pillow(data)
    out = []
    for pos in positions:
        for x in (0x01, 0x10, 0xFF):
            b = bytearray(data)
            b[pos] ^= x
            got = _pillow(bytes(b))
            if got is not None and (got.shape != ref.shape
                                    or np.abs(got - ref).mean() > 1.0):
                out.append(bytes(b))
    return out


def _refused(data: bytes) -> bool:
    """Refused as damaged (or, where a flip made it absurd, as too large or a strip)."""
    try:
        load_image(data)
    except ImageLoadError as exc:
        assert any(w in str(exc) for w in ("damaged", "strip", "too large", "too small"))
        return True
    return False


@pytest.fixture(scope="module")
def face() -> Image.Image:
    return Image.fromarray(_face())


def test_intact_files_are_never_called_damaged(face):
    grey = face.convert("L")
    files = {
        "gif": _encode(face.convert("P"), "GIF"),
        "gif-interlaced": _encode(face.convert("P"), "GIF", interlace=True),
        "gif-animated": _encode(face.convert("P"), "GIF", save_all=True,
                                append_images=[grey.convert("P")]),
        "gif-1bit": _encode(face.convert("1"), "GIF"),
        "tiff": _encode(face, "TIFF"), "tiff-strips": _encode(face, "TIFF", tiffinfo={278: 7}),
        "tiff-lzw": _encode(face, "TIFF", compression="tiff_lzw"),
        "tiff-bilevel": _encode(face.convert("1"), "TIFF"),
        "tiff-float": _encode(Image.fromarray(np.asarray(grey, np.float32) / 255, "F"),
                              "TIFF"),
        "tiff-opencv": cv2.imencode(".tiff", _face())[1].tobytes(),
        "webp-lossless": _encode(face, "WEBP", lossless=True),
        "webp-lossy": _encode(face, "WEBP", quality=90),
        "webp-alpha": _encode(face.convert("RGBA"), "WEBP"),
        "webp-animated": _encode(face, "WEBP", save_all=True, append_images=[face]),
        "webp-opencv": cv2.imencode(".webp", _face())[1].tobytes(),
        "jpeg": _encode(face, "JPEG", quality=92),
        "png": _encode(face, "PNG"),
    }
    for name, data in files.items():
        with Image.open(io.BytesIO(data)) as im:
            assert damage(data, im) is None, name
        assert load_image(data).shape == (72, 56, 3), name


def test_gif_flips_that_change_the_picture_are_refused(face):
    data = _encode(face.convert("P"), "GIF")
    palette_end = 13 + (3 << ((data[10] & 7) + 1))
    bad = _silent_garbage(data, range(palette_end, len(data)))
    assert len(bad) > 50
    refused = sum(_refused(b) for b in bad)
    # A code flipped to another of the same length keeps the pixel count: the format
    # cannot tell (a palette entry flipped is not tried, for the same reason).
    assert refused >= 0.9 * len(bad)


def _codes(*codes: int, size: int = 3) -> bytes:
    """Fixed-width LZW codes packed least significant bit first, as GIF stores them."""
    value = sum(c << (i * size) for i, c in enumerate(codes))
    return value.to_bytes((len(codes) * size + 7) // 8, "little")


def test_lzw_pixel_count():
    # Code size 2: clear = 4, end = 5, the first new entry is 6.
    assert lzw_pixel_count(_codes(4, 0, 1, 5), 2) == (2, None)
    assert lzw_pixel_count(_codes(4, 0, 1, 6, 5), 2) == (4, None)  # 6 = "0 1"
    assert lzw_pixel_count(_codes(4, 0, 1), 2)[1] == "the LZW data has no end code"
    assert "not in the table" in lzw_pixel_count(_codes(4, 0, 7, 5), 2)[1]


def test_gif_frame_outside_the_screen_is_refused(face):
    data = bytearray(_encode(face.convert("P"), "GIF"))
    assert gif_damage(bytes(data)) is None
    at = bytes(data).index(b"\x2c", 13 + (3 << ((data[10] & 7) + 1)))
    data[at + 1] = 5  # the frame's left edge: 5 px right, past the screen's width
    assert "does not fit" in gif_damage(bytes(data))


def test_tiff_header_flips_that_change_the_picture_are_refused(face):
    data = _encode(face, "TIFF")
    bad = _silent_garbage(data, range(0, 8 + 2 + 12 * 12 + 4))
    assert bad
    assert all(_refused(b) for b in bad)


def test_tiff_strip_overlapping_the_directory_is_refused(face):
    data = bytearray(_encode(face, "TIFF"))
    with Image.open(io.BytesIO(bytes(data))) as im:
        strip = im.tag_v2[273][0]
    # Point the strip at the directory: Pillow reads the tags back as pixels.
    at = bytes(data).index(strip.to_bytes(4, "little"), 8)
    data[at:at + 4] = (8).to_bytes(4, "little")
    assert _pillow(bytes(data)) is not None
    assert _refused(bytes(data))


def test_webp_container_flips_are_refused(face):
    data = _encode(face, "WEBP", lossless=True)
    for pos in (4, 5, 16, 17):  # the RIFF size and the VP8L chunk size
        b = bytearray(data)
        b[pos] ^= 0x01
        assert _refused(bytes(b)), pos
    grown = bytearray(data)
    grown += b"\0" * 16  # bytes appended after the container
    assert _refused(bytes(grown))


def test_webp_bitstream_size_must_match_the_canvas(face):
    exif = Image.Exif()
    exif[0x010F] = "SketchLab"
    data = _encode(face, "WEBP", lossless=True, exif=exif.tobytes())
    assert b"VP8X" in data and b"VP8L" in data
    at = data.index(b"VP8L") + 8 + 1  # the 14-bit width - 1 after the signature
    b = bytearray(data)
    b[at] ^= 0x01
    assert _refused(bytes(b))


def test_jpeg_scan_damage_pillow_accepts_is_refused(face):
    data = _encode(face, "JPEG", quality=92)
    scan = data.index(b"\xff\xda") + 14
    bad = _silent_garbage(data, range(scan, len(data) - 2, 7))
    refused = sum(_refused(b) for b in bad)
    assert refused > 0.3 * len(bad)
