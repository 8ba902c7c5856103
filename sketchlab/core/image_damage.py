"""Is this image file damaged? Each format's own evidence, read before its pixels are used.

A decoder fills in what it cannot read and says nothing: Pillow skips PNG's image-data
CRCs, swallows libjpeg's "Corrupt JPEG data" warnings, stops a GIF's LZW stream wherever
it ends and reads a TIFF strip from wherever its offset points. A forensic tool must not
search with a picture that is not what was scanned, so each format is checked with what
it carries: PNG chunk CRCs, libjpeg's strict mode, the GIF LZW stream's pixel count, the
TIFF strip layout and the WebP RIFF chunk structure. What a format cannot know (a flipped
byte inside uncompressed TIFF pixels or a lossless WebP's entropy-coded data decodes to
a valid, different picture) no check can see; everything here is evidence, never a guess,
so an intact file is never called damaged.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable

from PIL import Image


def png_damage(data: bytes, im: Image.Image | None = None) -> str | None:
    """Why a PNG's chunk structure is broken (bad CRC, cut short), or None when intact.

    Pillow skips the CRC of image data and stops inflating once it has the pixels, so a
    flipped bit in a scan would otherwise load as a silently different picture."""
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > n:
            return f"chunk {ctype!r} runs past the end of the file"
        crc = struct.unpack(">I", data[end:end + 4])[0]
        if zlib.crc32(data[pos + 4:end]) != crc:
            return f"chunk {ctype!r} fails its CRC check"
        if ctype == b"IEND":
            return None
        pos = end + 4
    return "the file ends before its IEND chunk"


def jpeg_damage(data: bytes, im: Image.Image | None = None) -> str | None:
    """libjpeg-turbo's verdict on the compressed data ("Corrupt JPEG data...", "Premature
    end..."): warnings Pillow's decoder swallows. Decoded at 1/8 scale: the entropy
    decoding that finds the damage is all done, the costly inverse DCT mostly is not."""
    import simplejpeg

    try:
        _, _, space, _ = simplejpeg.decode_jpeg_header(data)
        simplejpeg.decode_jpeg(data, colorspace="CMYK" if space == "CMYK" else "GRAY",
                               min_factor=8, strict=True)
    except ValueError as exc:
        return str(exc).strip() or "the decoder rejected it"
    return None


# ---- GIF ----------------------------------------------------------------------------


def _skip_sub_blocks(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """The concatenated data sub-blocks at `pos` and the position after their terminator;
    None when the file ends first."""
    parts, n = [], len(data)
    while pos < n:
        size = data[pos]
        if size == 0:
            return b"".join(parts), pos + 1
        if pos + 1 + size > n:
            return None
        parts.append(data[pos + 1:pos + 1 + size])
        pos += 1 + size
    return None


def lzw_pixel_count(stream: bytes, min_size: int) -> tuple[int, str | None]:
    """How many pixels a GIF LZW stream expands to, and what is wrong with it (an invalid
    code, no end code). Only string lengths are tracked: a flipped byte in the codes
    changes how many pixels they make, which a decoder that stops at the frame's size
    never notices."""
    clear, eoi = 1 << min_size, (1 << min_size) + 1
    size, next_code, prev = min_size + 1, eoi + 1, -1
    lengths = [1] * clear + [0, 0]
    count, buf, bits = 0, 0, 0
    for byte in stream:
        buf |= byte << bits
        bits += 8
        while bits >= size:
            code = buf & ((1 << size) - 1)
            buf >>= size
            bits -= size
            if code == clear:
                size, next_code, prev = min_size + 1, eoi + 1, -1
                del lengths[clear + 2:]
                continue
            if code == eoi:
                return count, None
            if prev < 0:
                if code >= clear:
                    return count, f"LZW code {code} before any table entry exists"
                count += 1
                prev = code
                continue
            if code < next_code:
                length = lengths[code]
            elif code == next_code:
                length = lengths[prev] + 1
            else:
                return count, f"LZW code {code} is not in the table (next is {next_code})"
            count += length
            if next_code < 4096:
                lengths.append(lengths[prev] + 1)
                next_code += 1
                if next_code == 1 << size and size < 12:
                    size += 1
            prev = code
    return count, "the LZW data has no end code"


def gif_damage(data: bytes, im: Image.Image | None = None) -> str | None:
    """The first frame's LZW data must expand to exactly width x height pixels and its
    blocks must be whole (what the app decodes is the first frame)."""
    if len(data) < 13:
        return "the file ends inside its header"
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data):
        kind = data[pos]
        if kind == 0x21:  # extension: label, then sub-blocks
            found = _skip_sub_blocks(data, pos + 2)
            if found is None:
                return "an extension block runs past the end of the file"
            pos = found[1]
        elif kind == 0x2C:  # image descriptor
            if pos + 11 > len(data):
                return "the file ends inside the image descriptor"
            left, top, w, h, iflags = struct.unpack("<HHHHB", data[pos + 1:pos + 10])
            screen_w, screen_h = struct.unpack("<HH", data[6:10])
            if screen_w and screen_h and (left + w > screen_w or top + h > screen_h):
                return (f"the frame at ({left}, {top}) of {w}x{h} does not fit the "
                        f"{screen_w}x{screen_h} screen")
            pos += 10 + (3 << ((iflags & 7) + 1) if iflags & 0x80 else 0)
            if pos >= len(data):
                return "the file ends before the image data"
            min_size = data[pos]
            if not 1 <= min_size <= 11:
                return f"invalid LZW code size {min_size}"
            found = _skip_sub_blocks(data, pos + 1)
            if found is None:
                return "the image data runs past the end of the file"
            count, problem = lzw_pixel_count(found[0], min_size)
            if problem is None and count != w * h:
                problem = f"the LZW data holds {count} pixels, the frame {w}x{h} = {w * h}"
            if problem is not None and count == w * h and problem.endswith("no end code"):
                problem = None  # some encoders omit the end code; the pixels are all there
            return problem
        elif kind == 0x3B:
            return "the file has no image"
        else:
            return f"unknown block type 0x{kind:02x} at byte {pos}"
    return "the file ends before its first image"


# ---- TIFF ---------------------------------------------------------------------------

_STRIP_OFFSETS, _STRIP_COUNTS, _ROWS_PER_STRIP = 273, 279, 278
_TILE_OFFSETS, _TILE_COUNTS = 324, 325


def tiff_damage(data: bytes, im: Image.Image | None = None) -> str | None:
    """The first image's strips or tiles must lie inside the file, apart from each other
    and from the directory that lists them, and uncompressed strips must hold the rows
    they claim (no more, no less): a flipped byte in an offset, a size or the image's
    width or height otherwise shifts, re-reads or re-wraps pixels."""
    if im is None or data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None  # BigTIFF and the rest: Pillow's own checks only
    tags = im.tag_v2
    tiled = _TILE_OFFSETS in tags
    offsets = tags.get(_TILE_OFFSETS if tiled else _STRIP_OFFSETS)
    counts = tags.get(_TILE_COUNTS if tiled else _STRIP_COUNTS)
    if offsets is None or counts is None:
        return "no strip or tile offsets and sizes"
    offsets = (offsets,) if isinstance(offsets, int) else tuple(offsets)
    counts = (counts,) if isinstance(counts, int) else tuple(counts)
    if len(offsets) != len(counts):
        return f"{len(offsets)} data offsets but {len(counts)} sizes"
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return "the image directory lies past the end of the file"
    entries = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    spans = sorted((o, o + c) for o, c in zip(offsets, counts, strict=True))
    reserved = [(0, 8), (ifd, ifd + 2 + 12 * entries + 4)]
    for start, end in spans:
        if end > len(data):
            return f"image data at {start}..{end} lies past the end of the file ({len(data)})"
        for r0, r1 in reserved:
            if start < r1 and r0 < end:
                return f"image data at {start}..{end} overlaps the file's header or directory"
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            return "two strips or tiles overlap"
    if tags.get(259, 1) == 1 and not tiled:
        return _short_strip(tags, counts, im)
    return None


def _short_strip(tags: dict, counts: tuple[int, ...], im: Image.Image) -> str | None:
    w, h = im.size
    bits = tags.get(258, (1,))
    per_pixel = sum(bits) if isinstance(bits, tuple) else int(bits) * tags.get(277, 1)
    if tags.get(284, 1) != 1 or tags.get(262) == 6:  # planar, or subsampled YCbCr
        return None
    row = (w * per_pixel + 7) // 8
    rows = min(int(tags.get(_ROWS_PER_STRIP, h)), h) or h
    if len(counts) != -(-h // rows):
        return f"{len(counts)} strips for {h} rows of {rows} per strip"
    for i, count in enumerate(counts):
        need = row * min(rows, h - i * rows)
        # Some writers fill the last strip to a whole strip's rows.
        if count != need and not (i == len(counts) - 1 and count == row * rows):
            return f"strip {i} holds {count} bytes, its rows need {need}"
    return None


# ---- WebP ---------------------------------------------------------------------------

_WEBP_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
                          b"EXIF", b"XMP "})


def webp_damage(data: bytes, im: Image.Image | None = None) -> str | None:
    """The RIFF container must add up (its size, each chunk's size and name) and the
    bitstream headers must agree with the canvas: libwebp reads what it can and ignores
    the rest, so a changed size or a cut chunk otherwise goes unnoticed."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return "not a RIFF WebP container"
    riff = struct.unpack("<I", data[4:8])[0]
    if riff + 8 != len(data) and riff + 9 != len(data):
        return f"the container says {riff + 8} bytes, the file has {len(data)}"
    pos, end, canvas = 12, min(len(data), riff + 8), None
    while pos < end:
        if pos + 8 > end:
            return "the file ends inside a chunk header"
        fourcc, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if fourcc not in _WEBP_CHUNKS:
            return f"unknown chunk {fourcc!r} at byte {pos}"
        if len(body) < size:
            return f"chunk {fourcc!r} runs past the end of the file"
        if fourcc == b"VP8X" and size >= 10:
            canvas = (1 + int.from_bytes(body[4:7], "little"),
                      1 + int.from_bytes(body[7:10], "little"))
        elif fourcc == b"VP8L":
            problem = _vp8l_header(body, canvas)
            if problem:
                return problem
        pos += 8 + size + (size & 1)
    if pos != end:
        return "the last chunk does not end where the container does"
    return None


def _vp8l_header(body: bytes, canvas: tuple[int, int] | None) -> str | None:
    if len(body) < 5 or body[0] != 0x2F:
        return "the lossless bitstream has no signature"
    bits = int.from_bytes(body[1:5], "little")
    size = (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
    if bits >> 29:
        return f"unknown lossless bitstream version {bits >> 29}"
    if canvas is not None and size != canvas:
        return f"the bitstream is {size[0]}x{size[1]}, the canvas {canvas[0]}x{canvas[1]}"
    return None


CHECKS: dict[str, Callable[[bytes, Image.Image | None], str | None]] = {
    "PNG": png_damage, "JPEG": jpeg_damage, "MPO": jpeg_damage, "GIF": gif_damage,
    "TIFF": tiff_damage, "WEBP": webp_damage}


def damage(data: bytes, im: Image.Image) -> str | None:
    """What is wrong with the file `im` was opened from, or None when nothing is known to
    be (formats without a check: None)."""
    check = CHECKS.get(im.format or "")
    return check(data, im) if check else None
