"""Bad and unusual input: each gets a clear ImageLoadError or a correct RGB array."""

import io

import numpy as np
import pytest
from PIL import Image

from sketchlab.core.imageio import ImageLoadError, as_rgb_array, load_image, save_image


def _png_bytes(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.png"
    p.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageLoadError, match="not a recognised image"):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    data = _png_bytes(Image.new("RGB", (300, 300), (200, 10, 10)).effect_spread(5), "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(p)


def test_decompression_bomb_refused_without_decoding(tmp_path):
    # A 20000x20000 PNG header over a tiny body: refused from the header alone.
    im = Image.new("1", (20000, 20000))
    p = tmp_path / "bomb.png"
    im.save(p, optimize=True)
    with pytest.raises(ImageLoadError, match="too large") as err:
        load_image(p)
    # SketchLab's words: the size and the limit, not the decoder's own message.
    assert "(400 MP; the limit is 40 MP)" in str(err.value)
    assert "DOS" not in str(err.value)


def test_missing_and_tiny(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(_png_bytes(Image.new("L", (4, 4))))


def test_cmyk_is_converted():
    rgb = load_image(_png_bytes(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"))
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 60


def test_16bit_gray_is_scaled():
    arr = np.full((20, 20), 65535 // 2, np.uint16)
    rgb = load_image(_png_bytes(Image.fromarray(arr)))
    assert rgb.shape == (20, 20, 3)
    assert 120 <= rgb.mean() <= 135


def test_paletted_with_transparency_becomes_white_paper():
    im = Image.new("P", (16, 16), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    rgb = load_image(_png_bytes(im))
    assert (rgb == 255).all()


def test_rgba_alpha_composited_on_white():
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[..., 3] = 0
    arr[5, 5] = (0, 0, 0, 255)
    rgb = as_rgb_array(arr)
    assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[5, 5].tolist() == [0, 0, 0]


def test_exif_orientation_applied():
    im = Image.new("RGB", (40, 20), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    rgb = load_image(_png_bytes_with_exif(im, exif))
    assert rgb.shape[:2] == (40, 20)


def _png_bytes_with_exif(im, exif):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def test_save_image_atomic(tmp_path):
    target = tmp_path / "out.png"
    save_image(target, np.zeros((8, 8), np.uint8))
    assert load_image(target).shape == (8, 8, 3)
    assert not list(tmp_path.glob(".*tmp"))


def test_truncated_jpeg_still_refused_after_face_recognition_import(tmp_path):
    from sketchlab.core.matching import face_recognition_api

    face_recognition_api()  # its import sets PIL's LOAD_TRUNCATED_IMAGES globally
    test_truncated_jpeg(tmp_path)


@pytest.mark.parametrize("kind", ["jpeg", "png", "tiff-float", "tiff-16bit", "gif"])
def test_max_side_decodes_small_and_says_how(kind):
    """A large picture decoded for a 500 px work size: long side at least 500, less than
    twice that, the scale and full size reported, the picture the same as decoded whole."""
    import cv2

    from sketchlab.core.imageio import load_image_sized

    yy, xx = np.mgrid[0:1200, 0:1800]
    grey = ((np.sin(xx / 90.0) + np.cos(yy / 70.0)) * 60 + 128).astype(np.uint8)
    im = Image.fromarray(grey)
    data = {"jpeg": lambda: _png_bytes(im.convert("RGB"), "JPEG"),
            "png": lambda: _png_bytes(im),
            "tiff-float": lambda: _png_bytes(Image.fromarray(grey.astype(np.float32) / 255,
                                                             "F"), "TIFF"),
            "tiff-16bit": lambda: _png_bytes(Image.fromarray(grey.astype(np.uint16) * 257),
                                             "TIFF"),
            "gif": lambda: _png_bytes(im.convert("P"), "GIF")}[kind]()
    full = load_image(data)
    small, scale, size = load_image_sized(data, max_side=500)
    assert size == (1200, 1800) and full.shape[:2] == size
    assert 500 <= max(small.shape[:2]) < 1000
    assert scale == pytest.approx(small.shape[1] / 1800, rel=0.01)
    ref = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - ref.astype(int)).mean() < 3.0


def test_max_side_keeps_exif_orientation_and_full_size():
    from sketchlab.core.imageio import load_image_sized

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the file is 1600 wide, the picture 1600 tall
    arr = np.zeros((1000, 1600, 3), np.uint8)
    arr[:, :100] = 255
    data = io.BytesIO()
    Image.fromarray(arr).save(data, "JPEG", exif=exif)
    small, _, size = load_image_sized(data.getvalue(), max_side=400)
    assert size == (1600, 1000) and small.shape[0] > small.shape[1]
    assert small[:small.shape[0] // 16].mean() > 200  # the white band is now on top


def test_files_are_read_without_a_copy_and_closed(tmp_path):
    """A file is decoded from its handle and checked through a map of it; neither stays
    open after the call (a damaged file included)."""
    import os

    p = tmp_path / "a.png"
    p.write_bytes(_png_bytes(Image.new("RGB", (64, 48), "white")))
    bad = tmp_path / "b.png"
    raw = bytearray(p.read_bytes())
    raw[40] ^= 0xFF
    bad.write_bytes(bytes(raw))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert load_image(p).shape == (48, 64, 3)
        with pytest.raises(ImageLoadError):
            load_image(bad)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_one_list_of_formats_for_the_loader_and_the_file_names():
    """Every suffix offered is one Pillow maps to a format the loader opens, and every
    format it opens has its suffixes offered (GIF was opened but not offered)."""
    from PIL import Image

    from sketchlab.core.imageio import FORMATS, IMAGE_SUFFIXES, name_patterns

    registered = Image.registered_extensions()
    assert {registered[s] for s in IMAGE_SUFFIXES} == set(FORMATS)
    assert ".gif" in IMAGE_SUFFIXES
    assert set(name_patterns().split()) == {f"*{s}" for s in IMAGE_SUFFIXES}


def test_a_gif_with_its_suffix_loads(tmp_path):
    from PIL import Image

    from sketchlab.core.imageio import load_image

    p = tmp_path / "sketch.gif"
    Image.new("L", (40, 50), 200).save(p)
    assert load_image(p).shape == (50, 40, 3)


def test_is_grey_reads_one_image_or_a_stack() -> None:
    from sketchlab.core.imageio import is_grey

    grey = np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2)
    assert is_grey(grey) and is_grey(np.stack([grey, grey]))
    tinted = grey.copy()
    tinted[1, 2, 2] += 1
    assert not is_grey(tinted) and not is_grey(np.stack([grey, tinted]))
