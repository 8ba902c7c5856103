from __future__ import annotations

import cv2
import numpy as np
import pytest

from sketchlab.core.frame import FRAME_SIZE
from trainer.data.artist_augment import (
    ARTIST_AUGMENTS,
    artist_augment,
    face_ellipse,
    paper,
    partial_hair,
    proportion_shift,
)

NAMES = tuple(ARTIST_AUGMENTS)


@pytest.fixture(scope="module")
def sketch() -> np.ndarray:
    """A drawn face in the canonical frame: hair strokes, outline, features, a shadow."""
    h, w = FRAME_SIZE
    img = np.full((h, w), 255, np.uint8)
    rng = np.random.default_rng(0)
    cx, cy, ax, ay = (round(v) for v in face_ellipse((h, w)))
    for _ in range(120):  # hair: short dark strokes above and beside the face
        x = int(rng.integers(w // 8, w - w // 8))
        y = int(rng.integers(h // 10, cy))
        if ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 > 1.1:
            cv2.line(img, (x, y), (x + int(rng.integers(-4, 5)), y + 8), 40, 1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy), (ax, ay), 0, 0, 360, 60, 1, cv2.LINE_AA)
    cv2.ellipse(img, (cx - 20, cy + 10), (10, 14), 0, 0, 360, 180, -1)  # cheek shadow
    for ex in (round(0.37 * w), round(0.628 * w)):
        cv2.ellipse(img, (ex, round(0.506 * h)), (7, 3), 0, 0, 360, 30, 1, cv2.LINE_AA)
        cv2.circle(img, (ex, round(0.506 * h)), 2, 20, -1)
    cv2.line(img, (w // 2, round(0.55 * h)), (w // 2 - 3, round(0.65 * h)), 70, 1)
    cv2.line(img, (w // 2 - 10, round(0.727 * h)), (w // 2 + 10, round(0.727 * h)), 50, 2)
    return np.repeat(img[..., None], 3, axis=2)


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_change_and_determinism(sketch: np.ndarray, name: str) -> None:
    fn = ARTIST_AUGMENTS[name]
    before = sketch.copy()
    for seed in range(4):
        a = fn(sketch, np.random.default_rng(seed))
        assert a.shape == sketch.shape and a.dtype == np.uint8
        assert not np.array_equal(a, sketch), f"{name} seed {seed} left the sketch as it was"
        assert np.array_equal(a, fn(sketch, np.random.default_rng(seed)))
    assert not np.array_equal(fn(sketch, np.random.default_rng(0)),
                              fn(sketch, np.random.default_rng(1)))
    assert np.array_equal(sketch, before)  # the input is not drawn on


@pytest.mark.parametrize("name", ["line_weight", "hatching", "proportion", "partial_hair"])
def test_a_blank_page_stays_blank(name: str) -> None:
    blank = np.full((*FRAME_SIZE, 3), 255, np.uint8)
    for seed in range(6):
        assert np.array_equal(ARTIST_AUGMENTS[name](blank, np.random.default_rng(seed)), blank)


def test_paper_on_a_blank_page_adds_noise_but_no_strokes() -> None:
    blank = np.full((*FRAME_SIZE, 3), 255, np.uint8)
    h, w = FRAME_SIZE
    for seed in range(20):
        g = cv2.cvtColor(paper(blank, np.random.default_rng(seed)), cv2.COLOR_RGB2GRAY)
        blocks = cv2.resize(g, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        assert g.mean() > 240 and blocks.min() > 150, f"seed {seed}"


def test_paper_keeps_grey_grey_and_colour_colour(sketch: np.ndarray) -> None:
    out = paper(sketch, np.random.default_rng(3))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    colour = sketch.copy()
    colour[..., 0] = np.maximum(colour[..., 0], 200)  # red-tinted strokes
    out = paper(colour, np.random.default_rng(3)).astype(int)
    assert np.percentile(np.abs(out[..., 0] - out[..., 2]), 99) > 20


def test_hatching_goes_only_into_dark_tone() -> None:
    h, w = FRAME_SIZE
    img = np.full((h, w, 3), 255, np.uint8)
    img[20:60, 20:60] = 150  # one shaded patch on clean paper
    far = (slice(100, h), slice(80, w))
    changed_patch = False
    for seed in range(8):
        out = ARTIST_AUGMENTS["hatching"](img, np.random.default_rng(seed))
        assert np.array_equal(out[far], img[far]), f"ink far from any tone, seed {seed}"
        changed_patch |= not np.array_equal(out[20:60, 20:60], img[20:60, 20:60])
        assert (out <= img).all()  # graphite only darkens
    assert changed_patch


def test_partial_hair_keeps_the_central_face(sketch: np.ndarray) -> None:
    h, w = FRAME_SIZE
    cx, cy, ax, ay = face_ellipse((h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    for seed in range(8):
        out = partial_hair(sketch, np.random.default_rng(seed))
        assert np.array_equal(out[inside], sketch[inside])
        assert (out >= sketch).all()  # it only fades ink toward paper
        assert not np.array_equal(out[~inside], sketch[~inside])


def test_proportion_moves_a_few_per_cent_at_most() -> None:
    h, w = FRAME_SIZE
    largest = []
    for seed in range(50):
        dx, dy = proportion_shift((h, w), np.random.default_rng(seed))
        largest.append(max(np.abs(dx).max(), np.abs(dy).max()))
    assert max(largest) <= 0.04 * w  # a few per cent of the frame
    assert np.median(largest) >= 0.005 * w  # and not nothing


def test_apply_in_fixed_order_with_probability(sketch: np.ndarray) -> None:
    a = artist_augment(sketch, ["paper", "line_weight"], 1.0, np.random.default_rng(2))
    b = artist_augment(sketch, ["line_weight", "paper"], 1.0, np.random.default_rng(2))
    assert np.array_equal(a, b)  # the config's order does not matter
    rng = np.random.default_rng(2)
    rng.random()  # line_weight's coin (p 1: applied), then its draws
    expect = ARTIST_AUGMENTS["line_weight"](sketch, rng)
    rng.random()
    expect = ARTIST_AUGMENTS["paper"](expect, rng)
    assert np.array_equal(a, expect)  # line_weight first, as ARTIST_AUGMENTS orders them
    kept = sum(np.array_equal(artist_augment(sketch, NAMES, 0.1, np.random.default_rng(s)),
                              sketch) for s in range(40))
    assert 10 < kept < 40  # p 0.1 over five: about 59 % of draws untouched
    with pytest.raises(ValueError, match=r"unknown artist augmentations \['smear'\]"):
        artist_augment(sketch, ["smear"], 1.0, np.random.default_rng(0))
