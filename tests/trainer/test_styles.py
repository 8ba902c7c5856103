from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.frame import SKETCH_STYLES
from trainer.data.styles import synthesize


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    import cv2

    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 255, (160, 128, 3)).astype(np.uint8), (0, 0), 3)
    cv2.ellipse(img, (64, 85), (35, 50), 0, 0, 360, (200, 150, 120), -1)
    cv2.circle(img, (50, 75), 5, (30, 30, 30), -1)
    cv2.circle(img, (78, 75), 5, (30, 30, 30), -1)
    return img


@pytest.mark.parametrize("style", SKETCH_STYLES)
def test_style_shape_range_and_determinism(photo: np.ndarray, style: str) -> None:
    a = synthesize(photo, style, np.random.default_rng(5))
    b = synthesize(photo, style, np.random.default_rng(5))
    c = synthesize(photo, style, np.random.default_rng(6))
    assert a.shape == photo.shape and a.dtype == np.uint8
    assert np.array_equal(a, b), "same seed must give the same sketch"
    assert not np.array_equal(a, c), "another seed must vary the sketch"
    # A sketch: mostly paper (bright), with some dark strokes.
    assert np.median(a) > 150 and a.min() < 120


def test_grey_styles_are_grey_and_colour_has_colour(photo: np.ndarray) -> None:
    for style in ("line", "pencil"):
        s = synthesize(photo, style, np.random.default_rng(0)).astype(int)
        assert np.abs(s[..., 0] - s[..., 1]).max() <= 1
    c = synthesize(photo, "colour", np.random.default_rng(0)).astype(int)
    assert np.percentile(c.max(axis=2) - c.min(axis=2), 99) > 15


def test_unknown_style_is_refused(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown sketch style"):
        synthesize(photo, "charcoal", np.random.default_rng(0))
