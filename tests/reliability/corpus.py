"""A seeded corpus of bad and unusual images, and a runner that sorts every outcome into
clean error / correct / traceback / crash / hang / silent garbage.

The same seed gives the same files, so a failure reproduces. Each file runs in a child
process (spawn) through the app's path up to the network: `load_image`, then
`prepare_sketch` (alignment by ink, no face detector: that part is budgeted and tested
on its own). A child that dies is a crash; one that does not answer in time is a hang.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Expect = Literal["image", "error", "either", "blank"]
OUTCOMES = ("clean error", "correct", "traceback", "crash", "hang", "silent garbage")
HANG_S = 45.0  # over imageio's 30 s decode budget: the budget must answer first


@dataclass(frozen=True)
class Item:
    cls: str  # the row of the table
    name: str
    data: bytes
    expect: Expect  # "either": a clean error, or exactly the reference pixels
    reference: np.ndarray | None = None
    tolerance: float = 0.0  # max mean absolute difference for "image"


# ---- the images -------------------------------------------------------------------

def _face(rng: np.random.Generator, h: int = 72, w: int = 56) -> np.ndarray:
    """A small sketch-like picture: paper, an oval, eyes and a mouth, some noise."""
    import cv2

    img = np.full((h, w, 3), 235, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3 + 4), 0, 0, 360, (40, 40, 40), 2)
    for x in (w // 2 - 9, w // 2 + 9):
        cv2.circle(img, (x, h // 2 - 5), 3, (30, 30, 30), 1)
    cv2.line(img, (w // 2 - 7, h // 2 + 12), (w // 2 + 7, h // 2 + 12), (50, 50, 50), 1)
    noise = rng.integers(-12, 12, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _decode_reference(data: bytes) -> np.ndarray:
    """What the clean file holds, decoded by Pillow alone (not by the code under test)."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if im.mode in ("RGBA", "LA", "PA", "P"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    if im.mode == "I;16":
        arr = (np.asarray(im, np.float64) / 65535 * 255 + 0.5).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if im.mode == "F":
        arr = (np.clip(np.asarray(im, np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def valid_files(rng: np.random.Generator) -> dict[str, bytes]:
    """Unusual but valid images, one per kind a user may bring."""
    f = _face(rng)
    rgb, grey = Image.fromarray(f), Image.fromarray(f).convert("L")
    rgba = rgb.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:10, :, 3] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    g16 = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype(np.uint16))
    fl = Image.fromarray(np.asarray(grey, np.float32) / 255.0, mode="F")
    return {
        "png-rgb": _encode(rgb, "PNG"), "png-grey": _encode(grey, "PNG"),
        "png-stored": _encode(rgb, "PNG", compress_level=0),  # some scanners write these
        "png-alpha": _encode(Image.fromarray(a), "PNG"),
        "png-palette": _encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "png-16bit": _encode(g16, "PNG"),
        "jpeg": _encode(rgb, "JPEG", quality=92), "jpeg-grey": _encode(grey, "JPEG"),
        "jpeg-cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "jpeg-progressive": _encode(rgb, "JPEG", progressive=True),
        "jpeg-exif-rotated": _encode(rgb, "JPEG", exif=exif),
        "tiff": _encode(rgb, "TIFF"), "tiff-lzw": _encode(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-16bit": _encode(g16, "TIFF"), "tiff-float": _encode(fl, "TIFF"),
        "webp-lossless": _encode(rgb, "WEBP", lossless=True),
        "webp-lossy": _encode(rgb, "WEBP", quality=90),
        "bmp": _encode(rgb, "BMP"), "gif": _encode(rgb.convert("P"), "GIF"),
        "gif-animated": _encode(rgb.convert("P"), "GIF", save_all=True,
                                append_images=[grey.convert("P")]),
    }


# Formats whose byte flips and cuts we try. PNG has a CRC per chunk (and zlib's Adler-32);
# JPEG's entropy coding often desynchronises, which libjpeg reports; a GIF's LZW data must
# expand to its frame, a TIFF's strips must fit its directory, a WebP's chunks must add up
# (core.image_damage). Beyond that these formats and BMP carry no integrity data: a flipped
# pixel byte, palette entry or lossless WebP code is a valid, different image.
DAMAGE_FORMATS = ("png-rgb", "png-stored", "jpeg", "webp-lossless", "gif", "tiff", "bmp")
# Where silent garbage is inherent (see the closing note of issue 14, line by line).
NO_INTEGRITY = ("byte flip: jpeg", "byte flip: webp-lossless", "byte flip: gif",
                "byte flip: tiff", "byte flip: bmp")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk with its length and CRC (for images with planted metadata)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def with_chunk_before_iend(png: bytes, chunk: bytes) -> bytes:
    at = png.rindex(b"IEND") - 4
    return png[:at] + chunk + png[at:]


def _png_size_lie(png: bytes, w: int, h: int) -> bytes:
    data = bytearray(png)
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def hostile_items(rng: np.random.Generator, valid: dict[str, bytes]) -> list[Item]:
    """Files made to hurt: other formats in disguise, bombs, lies, strips, NaN."""
    png = valid["png-rgb"]
    white = np.full((64, 48), 255, np.uint8)
    items = [
        Item("disguised", "postscript-loop.png",
             b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 128 160\n{ } loop\n", "error"),
        Item("disguised", "eps-binary.png", b"\xc5\xd0\xd3\xc6" + bytes(28) + b"%!PS\n", "error"),
        Item("disguised", "pdf.png", b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n", "error"),
        Item("disguised", "svg.png", b'<?xml version="1.0"?><svg xmlns="x"></svg>', "error"),
        Item("disguised", "html.jpg", b"<html><body>not an image</body></html>", "error"),
        Item("disguised", "empty.png", b"", "error"),
        Item("disguised", "one-byte.png", b"\x89", "error"),
        Item("disguised", "random.png", rng.bytes(2048), "error"),
        Item("disguised", "png-signature-only.png", png[:8], "error"),
        Item("disguised", "ico.png", _encode(Image.fromarray(_face(rng, 32, 32)), "ICO"),
             "error"),
        Item("disguised", "psd-like.png", b"8BPS" + rng.bytes(200), "error"),
        Item("disguised", "tga.png", _encode(Image.fromarray(_face(rng)), "TGA"), "error"),
        Item("size lies", "png-30000x30000", _png_size_lie(png, 30000, 30000), "error"),
        Item("size lies", "png-65535x65535", _png_size_lie(png, 65535, 65535), "error"),
        Item("size lies", "png-claims-4096x8", _png_size_lie(png, 4096, 8), "error"),
        Item("size lies", "png-claims-0x0", _png_size_lie(png, 0, 0), "error"),
        Item("size lies", "jpeg-sof-65000", _jpeg_size_lie(valid["jpeg"], 65000, 65000),
             "error"),
        Item("size lies", "gif-screen-65535", _gif_screen_lie(valid["gif"]), "either",
             _decode_reference(valid["gif"])),
        Item("size lies", "bmp-width-huge", _bmp_size_lie(valid["bmp"]), "error"),
        Item("size lies", "webp-riff-size-lie", _riff_size_lie(valid["webp-lossless"]),
             "either", _decode_reference(valid["webp-lossless"])),
        Item("strips and tiny", "strip-4096x8", _encode(Image.new("L", (4096, 8)), "PNG"),
             "error"),
        Item("strips and tiny", "strip-8x4096", _encode(Image.new("L", (8, 4096)), "PNG"),
             "error"),
        Item("strips and tiny", "strip-2000x100", _encode(Image.new("L", (2000, 100)), "PNG"),
             "error"),
        Item("strips and tiny", "tiny-4x4", _encode(Image.new("L", (4, 4)), "PNG"), "error"),
        Item("strips and tiny", "one-pixel", _encode(Image.new("L", (1, 1)), "GIF"), "error"),
        Item("metadata", "ztxt-50MB", with_chunk_before_iend(png, png_chunk(
            b"zTXt", b"c\x00\x00" + zlib.compress(bytes(50_000_000), 9))), "error"),
        Item("metadata", "itxt-50MB", with_chunk_before_iend(png, png_chunk(
            b"iTXt", b"c\x00\x01\x00\x00\x00" + zlib.compress(bytes(50_000_000), 9))),
             "error"),
        Item("metadata", "text-chunks-3MB", with_chunk_before_iend(png, b"".join(
            png_chunk(b"tEXt", b"k%d\x00" % i + b"x" * 3000) for i in range(1000))), "image",
             _decode_reference(png)),
        Item("metadata", "text-chunks-6MB", with_chunk_before_iend(png, b"".join(
            png_chunk(b"tEXt", b"k%d\x00" % i + b"x" * 6000) for i in range(1000))), "error"),
        Item("metadata", "exif-garbage",
             with_chunk_before_iend(png, png_chunk(b"eXIf", rng.bytes(4000))),
             "image", _decode_reference(png)),
    ]
    for name, value in [("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)]:
        a = np.full((48, 40), 0.5, np.float32)
        a[5, 5] = value
        items.append(Item("non-finite pixels", f"tiff-float-{name}",
                          _encode(Image.fromarray(a, mode="F"), "TIFF"), "error"))
    a = np.linspace(-1000, 1000, 48 * 40, dtype=np.float32).reshape(48, 40)
    items.append(Item("non-finite pixels", "tiff-float-wide-range-finite",
                      _encode(Image.fromarray(a, mode="F"), "TIFF"), "image", None))
    items += [
        Item("blank sketches", "white", _encode(Image.fromarray(white), "PNG"), "blank"),
        Item("blank sketches", "white-jpeg", _encode(Image.fromarray(white), "JPEG"), "blank"),
        Item("blank sketches", "transparent", _encode(Image.new("RGBA", (64, 48)), "PNG"),
             "blank"),
        Item("blank sketches", "paper-noise", _encode(Image.fromarray(
            np.clip(235 + rng.integers(-4, 4, (64, 48)), 0, 255).astype(np.uint8)), "PNG"),
             "blank"),
        Item("blank sketches", "white-16bit", _encode(Image.fromarray(
            np.full((64, 48), 65535, np.uint16)), "TIFF"), "blank"),
    ]
    return items


def _jpeg_size_lie(jpeg: bytes, w: int, h: int) -> bytes:
    data = bytearray(jpeg)
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def _gif_screen_lie(gif: bytes) -> bytes:
    data = bytearray(gif)
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def _bmp_size_lie(bmp: bytes) -> bytes:
    data = bytearray(bmp)
    data[18:26] = struct.pack("<ii", 200_000, 200_000)
    return bytes(data)


def _riff_size_lie(webp: bytes) -> bytes:
    data = bytearray(webp)
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def build(seed: int = 14, flips_per_format: int = 40, cuts_per_format: int = 6) -> list[Item]:
    rng = np.random.default_rng(seed)
    valid = valid_files(rng)
    items = [Item("valid but unusual", name, data, "image", _decode_reference(data),
                  tolerance=2.0) for name, data in valid.items()]
    for fmt in DAMAGE_FORMATS:
        data, ref = valid[fmt], _decode_reference(valid[fmt])
        for k in range(flips_per_format):
            b = bytearray(data)
            pos = int(rng.integers(0, len(b)))
            b[pos] ^= int(rng.integers(1, 256))
            items.append(Item(f"byte flip: {fmt}", f"{fmt}-flip{k}@{pos}", bytes(b), "either",
                              ref))
        for k in range(cuts_per_format):
            cut = int(rng.integers(1, len(data) - 1))
            items.append(Item(f"truncated: {fmt}", f"{fmt}-cut{k}@{cut}", data[:cut], "either",
                              ref))
    return items + hostile_items(rng, valid)


# ---- running -----------------------------------------------------------------------

def _child(conn) -> None:  # type: ignore[no-untyped-def]
    from sketchlab.core.imageio import ImageLoadError, load_image
    from sketchlab.core.preprocess import prepare_sketch

    while True:
        item = conn.recv()
        if item is None:
            return
        try:
            rgb = load_image(item.data)
            prepared = prepare_sketch(rgb, use_landmarks=False)
        except ImageLoadError as exc:
            conn.send(("error", str(exc)))
            continue
        except Exception as exc:
            conn.send(("traceback", f"{type(exc).__name__}: {exc}"))
            continue
        if item.expect == "blank":
            conn.send(("correct" if prepared.empty else "silent garbage", "blank"))
        elif item.expect == "error":
            conn.send(("silent garbage", "decoded a file that should be refused"))
        elif item.reference is None:
            conn.send(("correct", "decoded"))
        else:
            ref = item.reference
            same_shape = rgb.shape == ref.shape
            diff = float(np.abs(rgb.astype(np.int16) - ref.astype(np.int16)).mean()) \
                if same_shape else float("inf")
            good = same_shape and diff <= item.tolerance
            conn.send(("correct" if good else "silent garbage", f"mean diff {diff:.2f}"))


@dataclass(frozen=True)
class Result:
    item: Item
    outcome: str
    detail: str


class _Worker:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    def ask(self, item: Item) -> tuple[str, str]:
        try:
            self.conn.send(item)
        except OSError:
            self.proc.join(5)
            return "crash", f"worker gone (exit code {self.proc.exitcode})"
        if not self.conn.poll(HANG_S):
            self.kill()
            return "hang", f"no answer in {HANG_S:g} s"
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            return "crash", f"worker died (exit code {self.proc.exitcode})"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()


def run(items: list[Item]) -> list[Result]:
    results: list[Result] = []
    worker = _Worker()
    try:
        for item in items:
            kind, detail = worker.ask(item)
            if kind in ("hang", "crash"):
                worker = _Worker()
            elif kind == "error":
                kind = "clean error" if "\n" not in detail else "traceback"
                if item.expect in ("image", "blank"):
                    kind = "traceback"  # a good file refused is a failure too
            results.append(Result(item, kind, detail))
    finally:
        worker.close()
    return results


def table(results: list[Result]) -> str:
    """Markdown: one row per class, one column per outcome."""
    rows: dict[str, Counter[str]] = {}
    for r in results:
        rows.setdefault(r.item.cls, Counter())[r.outcome] += 1
    head = "| class | tried | " + " | ".join(OUTCOMES) + " |"
    lines = [head, "|" + "---|" * (len(OUTCOMES) + 2)]
    total: Counter[str] = Counter()
    for cls, c in rows.items():
        total.update(c)
        lines.append(f"| {cls} | {sum(c.values())} | "
                     + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    lines.append(f"| **all** | {sum(total.values())} | "
                 + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    # python -m tests.reliability.corpus: the table for a closing note, plus every row
    # that is not a clean error or a correct result, with why.
    import sys
    import time

    t0 = time.perf_counter()
    found = run(build())
    print(table(found))
    print(f"\n{len(found)} files in {time.perf_counter() - t0:.1f} s\n")
    for r in found:
        if r.outcome not in ("clean error", "correct"):
            print(f"{r.outcome:15s} {r.item.cls:24s} {r.item.name:28s} {r.detail[:110]}")
    sys.exit(0)
