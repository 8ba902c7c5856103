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
