"""Sketch variants: deterministic, first is the sketch itself, each a small change."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.preprocess import prepare_sketch
from sketchlab.core.variants import DEFAULT_VARIANTS, sketch_variants, variant_names


def test_variants_are_small_deterministic_changes(face_sketch):
    frame = prepare_sketch(face_sketch).image
    a, b = sketch_variants(frame), sketch_variants(frame)
    assert len(a) == DEFAULT_VARIANTS == len(variant_names())
    assert np.array_equal(a[0], frame)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y) and x.shape == frame.shape and x.dtype == np.uint8
    diffs = [np.abs(v.astype(int) - frame).mean() for v in a[1:]]
    assert all(0.05 < d < 40 for d in diffs), diffs
    # Heavier lines darken the page, lighter lines lighten it.
    names = variant_names()
    assert a[names.index("heavier lines")].mean() < frame.mean()
    assert a[names.index("lighter lines")].mean() > frame.mean()


def test_variant_count_is_checked(face_sketch):
    frame = prepare_sketch(face_sketch).image
    assert len(sketch_variants(frame, 3)) == 3
    with pytest.raises(ValueError):
        sketch_variants(frame, 0)
    with pytest.raises(ValueError):
        sketch_variants(frame, DEFAULT_VARIANTS + 1)
    with pytest.raises(ValueError):
        sketch_variants(frame[..., 0])


def test_lightened_shading_fades_shading_far_more_than_lines() -> None:
    """Ink darkness to a power above 1: paper stays paper, a contour stays nearly as dark,
    light shading mostly goes; 1.0 is the sketch as drawn."""
    from sketchlab.core.variants import lighten_shading

    ink = np.array([0.0, 0.2, 0.5, 0.8, 1.0])
    frame = np.repeat(np.round((1 - ink) * 255).astype(np.uint8)[None, :, None], 3, 2)
    assert lighten_shading(frame, 1.0) is frame
    out = 1 - lighten_shading(frame, 1.6)[0, :, 0] / 255.0
    assert out[0] == 0.0 and out[-1] == 1.0
    faded = 1 - out[1:4] / ink[1:4]  # share of each ink level taken away
    assert faded[0] > 0.55 and faded[2] < 0.15 and np.all(np.diff(faded) < 0)
    assert lighten_shading(frame, 1.6).dtype == np.uint8


def test_a_models_shading_reading_is_read_checked_and_recorded() -> None:
    from sketchlab.core.variants import ink_gamma_of, variant_record

    assert ink_gamma_of({}) == 1.0 and ink_gamma_of({"ink_gamma": 1.6}) == 1.6
    with pytest.raises(ValueError):
        ink_gamma_of({"ink_gamma": 40})
    assert "ink_gamma" not in variant_record("as drawn", 0, 8)
    rec = variant_record("tilted left", 6, 8, 1.6)
    assert rec["ink_gamma"] == 1.6 and "shading lightened (ink gamma 1.6)" in str(rec["change"])
