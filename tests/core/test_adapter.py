"""The query adapter: storage, integrity, and that it moves a query toward its photo."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.adapter import (
    DIM,
    META_KEY,
    AdapterError,
    QueryAdapter,
    read_adapter,
)


def _adapter(hidden: int = 8, seed: int = 0, gen: str = "g" * 64) -> QueryAdapter:
    rng = np.random.default_rng(seed)
    return QueryAdapter(rng.normal(size=(DIM, 2 * DIM)).astype(np.float32) * 0.01,
                        rng.normal(size=(hidden, 2 * DIM)).astype(np.float32),
                        rng.normal(size=hidden).astype(np.float32),
                        rng.normal(size=(DIM, hidden)).astype(np.float32) * 0.01,
                        rng.normal(size=DIM).astype(np.float32) * 0.01, gen, {"queries": 3})


def test_zero_output_layer_is_the_identity() -> None:
    a = _adapter()
    a = QueryAdapter(np.zeros_like(a.w0), a.w1, a.b1, np.zeros_like(a.w2), np.zeros_like(a.b2),
                     a.generator_sha256)
    rng = np.random.default_rng(1)
    fused, mean, raw = (rng.normal(size=(5, DIM)).astype(np.float32) for _ in range(3))
    np.testing.assert_array_equal(a(fused, mean, raw), fused)


def test_round_trip_through_metadata_is_exact() -> None:
    a = _adapter()
    back = read_adapter(a.metadata(), a.generator_sha256)
    assert back is not None and back.sha256 == a.sha256 and back.info == {"queries": 3}
    x = np.random.default_rng(2).normal(size=(3, DIM)).astype(np.float32)
    np.testing.assert_array_equal(back(x, x, x), a(x, x, x))
    assert read_adapter({}, "g" * 64) is None


def test_edited_or_foreign_adapter_is_refused() -> None:
    a = _adapter()
    meta = a.metadata()
    with pytest.raises(AdapterError, match="another generator"):
        read_adapter(meta, "h" * 64)
    edited = dict(meta, **{META_KEY: meta[META_KEY].replace('"queries": 3', '"queries": 4')})
    with pytest.raises(AdapterError, match="SHA-256"):
        read_adapter(edited, a.generator_sha256)


def test_non_finite_or_misshapen_weights_are_refused() -> None:
    a = _adapter()
    bad = a.w1.copy()
    bad[0, 0] = np.nan
    with pytest.raises(AdapterError, match="NaN"):
        QueryAdapter(a.w0, bad, a.b1, a.w2, a.b2, a.generator_sha256)
    with pytest.raises(AdapterError, match="shapes"):
        QueryAdapter(a.w0, a.w1[:, :DIM], a.b1, a.w2, a.b2, a.generator_sha256)
