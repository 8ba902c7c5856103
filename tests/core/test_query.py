"""`core.query.fuse`: one query or a batch, the same descriptor."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.query import fuse


def test_fuse_of_a_batch_is_each_query_fused() -> None:
    rng = np.random.default_rng(3)
    var = rng.normal(size=(5, 8, 128)).astype(np.float32)
    raw = rng.normal(size=(5, 128)).astype(np.float32)
    batch = fuse(var, raw, 0.2)
    assert batch.shape == (5, 128)
    for i in range(5):
        assert np.allclose(batch[i], fuse(var[i], raw[i], 0.2), atol=1e-7)
    with pytest.raises(ValueError):
        fuse(np.zeros((5, 0, 128), np.float32))
