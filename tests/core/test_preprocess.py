import numpy as np
import pytest

from sketchlab.core.preprocess import (
    AlignTransform,
    canonical_points,
    ink_bbox,
    is_colour,
    normalise_paper,
    prepare_photo,
    prepare_sketch,
)

FRAME = (160, 128)


def test_empty_canvas_has_defined_result():
    out = prepare_sketch(np.full((300, 240, 3), 255, np.uint8), FRAME, source="canvas")
    assert out.empty and out.image.shape == (160, 128, 3) and (out.image == 255).all()
    assert out.transform.method == "empty"


def test_blank_paper_scan_is_empty():
    rng = np.random.default_rng(0)
    paper = (230 + rng.integers(-3, 3, (400, 300, 1))).repeat(3, 2).astype(np.uint8)
    assert prepare_sketch(paper, FRAME).empty


def test_normalise_paper_flattens_uneven_light(face_sketch):
    # A phone photo: dim, yellowish paper with a lighting gradient.
    grad = np.linspace(0.6, 1.0, face_sketch.shape[1])[None, :, None]
    tint = np.array([1.0, 0.95, 0.8])
    photo = (face_sketch.astype(np.float64) * grad * tint).astype(np.uint8)
    clean = normalise_paper(photo)
    paper = clean[5:40, 5:40]
    assert paper.mean() > 245  # paper is white again on the dark side
    assert clean.min() < 60  # strokes stay dark


def test_canvas_keeps_aspect_with_padding():
    canvas = np.full((400, 400, 3), 255, np.uint8)
    canvas[100:300, 150:250] = 0
    out = prepare_sketch(canvas, FRAME, source="canvas")
    assert out.transform.method == "canvas"
    m = out.transform.matrix
    assert m[0, 0] == pytest.approx(m[1, 1])  # uniform scale: no stretching
    assert out.image.shape == (160, 128, 3)


def test_ink_bbox_alignment_maps_into_head_box(face_sketch):
    big = np.full((1000, 800, 3), 255, np.uint8)
    big[300:550, 500:700] = face_sketch  # small face off-centre in a big page
    out = prepare_sketch(big, FRAME, use_landmarks=False)
    assert out.transform.method == "ink_bbox"
    ys, xs = np.nonzero(out.image.min(axis=2) < 200)
    assert 20 < xs.mean() < 108 and 30 < ys.mean() < 140
    assert xs.max() - xs.min() > 60  # it was scaled up to fill the frame


def test_transform_maps_points_back_and_forth():
    m = np.array([[0.5, 0.1, 3.0], [-0.1, 0.5, 7.0]])
    t = AlignTransform(m, (100, 80), FRAME, "landmarks")
    pts = np.array([[10.0, 20.0], [50.0, 60.0]])
    assert np.allclose(t.to_source(t.to_frame(pts)), pts)


def test_colour_detection():
    gray = np.full((50, 50, 3), 128, np.uint8)
    assert not is_colour(gray)
    col = gray.copy()
    col[:, :25] = (200, 40, 40)
    assert is_colour(col)
    out = prepare_sketch(col, FRAME, style="auto", use_landmarks=False)
    assert out.colour
    out = prepare_sketch(col, FRAME, style="pencil", use_landmarks=False)
    assert not out.colour and (out.image[..., 0] == out.image[..., 1]).all()


def test_ink_bbox_none_for_specks():
    g = np.full((100, 100), 255, np.uint8)
    g[50, 50] = 0
    assert ink_bbox(g) is None


def test_photo_without_face_centre_crops():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    out = prepare_photo(noise, FRAME)
    assert out.transform.method == "centre" and out.image.shape == (160, 128, 3)


def test_cufs_sketch_aligns_with_landmarks(shared_data):
    from sketchlab.core.imageio import load_image

    path = shared_data / "cufs_cuhk" / "test" / "sketches" / "f1-001-01-sz1.jpg"
    out = prepare_sketch(path, FRAME)
    assert out.transform.method == "landmarks"
    # The eyes land on the canonical eye positions within a few pixels.
    from sketchlab.core.preprocess import find_landmarks

    found = find_landmarks(out.image)
    assert found is not None
    assert np.abs(found[:2] - canonical_points(FRAME)[:2]).max() < 4
    assert load_image(path).shape == (250, 200, 3)


def test_phone_photo_of_paper_sketch_is_straightened(shared_data):
    """Rotated, scaled, shadowed and yellowed page: still lands on the canonical eyes."""
    import cv2

    from sketchlab.core.imageio import load_image
    from sketchlab.core.preprocess import find_landmarks

    sk = load_image(shared_data / "cufs_cuhk" / "test" / "sketches" / "f1-005-01-sz1.jpg")
    page = np.full((900, 700, 3), 255, np.uint8)
    page[200:450, 250:450] = sk
    m = cv2.getRotationMatrix2D((350, 450), 12, 1.3)
    page = cv2.warpAffine(page, m, (700, 900), borderValue=(255, 255, 255))
    shade = np.linspace(0.55, 1.0, 700)[None, :, None] * np.array([1.0, 0.93, 0.75])
    phone = (page * shade).astype(np.uint8)
    out = prepare_sketch(phone, FRAME)
    assert out.transform.method == "landmarks" and not out.colour
    found = find_landmarks(out.image)
    assert found is not None
    assert np.abs(found[:2] - canonical_points(FRAME)[:2]).max() < 4
    assert out.image[:10, :10].mean() > 235  # the shadowed paper came out white


def test_percentile_u8_is_numpys_percentile():
    from sketchlab.core.preprocess import percentile_u8

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 1000, 52480):
        a = rng.integers(0, 256, n, dtype=np.uint8).reshape(-1, 1)
        a[: n // 3] = 0  # ties, as in a mostly white page
        for q in (0, 5, 50, 95, 99.5, 100):
            assert percentile_u8(a, q) == pytest.approx(float(np.percentile(a, q)), abs=1e-9)


@pytest.mark.parametrize("source", ["canvas", "scan"])
def test_grey_sketch_on_one_channel_gives_the_three_channel_pixels(source):
    """prepare_sketch warps a grey sketch on one channel (a third of the work on the live
    path); the frame must be exactly what warping the three-channel grey gives."""
    import cv2

    from sketchlab.core.preprocess import estimate_transform, prepare_sketch, warp

    page = np.full((640, 512, 3), 250, np.uint8)
    cv2.ellipse(page, (256, 300), (150, 200), 0, 0, 360, (40, 40, 40), 3)
    cv2.line(page, (200, 260), (240, 262), (90, 60, 60), 2)  # slightly warm ink: grey
    prep = prepare_sketch(page, (160, 128), source=source, style="line")
    assert not prep.colour and prep.image.shape == (160, 128, 3)
    clean = page if source == "canvas" else None
    if clean is None:
        from sketchlab.core.preprocess import normalise_paper

        clean = normalise_paper(page)
    grey3 = np.repeat(cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    t = estimate_transform(grey3, (160, 128), source)
    assert np.array_equal(prep.image, warp(grey3, t, 255))


@pytest.mark.parametrize("size", [(48, 64), (768, 1024), (3000, 4000)])
@pytest.mark.parametrize("level", [0, 3, 128, 255])
def test_a_page_with_nothing_drawn_is_empty_whatever_its_colour(size, level):
    """Black, near-black, grey and white pages, small to 12 MP, from a file or the canvas."""
    page = np.full((*size, 3), level, np.uint8)
    assert prepare_sketch(page, FRAME).empty
    assert prepare_sketch(page, FRAME, source="canvas").empty


def test_noisy_black_and_paper_pages_are_empty():
    rng = np.random.default_rng(5)
    black = rng.integers(0, 5, (600, 800, 1)).repeat(3, 2).astype(np.uint8)  # sensor noise
    paper = (np.array([236, 228, 205]) + rng.integers(-4, 4, (600, 800, 3))).astype(np.uint8)
    shaded = (paper * np.linspace(0.55, 1.0, 800)[None, :, None]).astype(np.uint8)
    for page in (black, paper, shaded):
        assert prepare_sketch(page, FRAME).empty


def test_black_jpeg_file_is_empty(tmp_path):
    from PIL import Image

    path = tmp_path / "blank_black_1024x768.jpg"
    Image.new("RGB", (1024, 768), "black").save(path, quality=75)
    assert prepare_sketch(path, FRAME).empty


def test_a_few_strokes_are_not_empty():
    """Sparse drawings (a few strokes on a large page, or on black) are still searched."""
    import cv2

    page = np.full((2000, 1500, 3), 255, np.uint8)
    cv2.ellipse(page, (750, 1000), (300, 400), 0, 0, 360, (0, 0, 0), 3)  # a head's outline
    assert not prepare_sketch(page, FRAME).empty
    assert not prepare_sketch(page, FRAME, source="canvas").empty
    dark = np.full((400, 300, 3), 0, np.uint8)
    dark[100:300:20, 50:250] = 255  # white lines drawn over a black canvas
    assert not prepare_sketch(dark, FRAME, source="canvas").empty
