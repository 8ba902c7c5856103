"""trainer.calibrate: modes, ranks and pair splits on small synthetic descriptors; the
card section; and the export path that stores a calibration in the model file."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.query import fuse
from trainer import calibrate as tc


def _world(n_id: int = 30, seed: int = 0):
    """Identities with a true centre; gallery = centre + noise, queries = 8 noisy variants
    around a biased reading of the centre, raw = a far noisier reading."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.1, (n_id, 128)).astype(np.float32)
    gallery = centres + rng.normal(0, 0.02, centres.shape).astype(np.float32)
    var = centres[:, None] + rng.normal(0, 0.04, (n_id, 8, 128)).astype(np.float32)
    raw = centres + rng.normal(0, 0.08, centres.shape).astype(np.float32)
    keys = [f"s/{i}" for i in range(n_id)]
    return var, raw, gallery, keys


def test_modes_and_scores():
    var, raw, gallery, keys = _world()
    single = tc.mode_queries(var, raw, "single")
    fused = tc.mode_queries(var, raw, "variants", 0.2)
    assert np.array_equal(single, var[:, 0])
    assert np.allclose(fused[3], fuse(var[3], raw[3], 0.2))
    s1 = tc.score(single, gallery, keys, keys)
    s8 = tc.score(tc.mode_queries(var, raw, "variants", 0.0), gallery, keys, keys)
    n = len(keys)
    assert len(s1.genuine) == n and len(s1.impostor) == n * (n - 1)
    # Averaging 8 noisy readings brings the query closer to its mate.
    assert np.median(s8.genuine) < np.median(s1.genuine)
    assert tc.rank_k(s8.ranks, 1) >= tc.rank_k(s1.ranks, 1)
    assert s1.ranks.min() >= 1 and tc.rank_k(s1.ranks, n) == 1.0
    # (N, V, 128) queries are scored by their mean distance, normalised per query over
    # the gallery (z = (d - mean) / sd).
    sm = tc.score(var, gallery, keys, keys)
    dm = np.linalg.norm(var[:, :, None] - gallery[None, None], axis=3).mean(axis=1)
    z = (dm - dm.mean(1, keepdims=True)) / dm.std(1, keepdims=True)
    assert np.allclose(sm.genuine, np.diag(z), atol=1e-3)
    # With own_gallery, a query is scored only against its own set's photos.
    two = [("a/" if i % 2 else "b/") + k for i, k in enumerate(keys)]
    so = tc.score(single, gallery, two, two, own_gallery=True)
    assert len(so.impostor) == sum(len([t for t in two if t[0] == k[0]]) - 1 for k in two)
    # Ranks agree with a brute-force count.
    d = np.linalg.norm(single[:, None] - gallery[None], axis=2)
    brute = [(d[i] < d[i, i]).sum() + 1 for i in range(n)]
    assert s1.ranks.tolist() == brute


def test_calibration_section_formats_a_report():
    report = {"raw_weight": 0.2, "raw_weight_sweep": {"0.0": (0.3, 0.6), "0.2": (0.35, 0.7)},
              "single": {"rank1": 0.3, "rank10": 0.6, "threshold_at_1pct": 0.41,
                         "fnmr_at_threshold": 0.55, "genuine_pairs": 400,
                         "impostor_pairs": 4_000_000}}
    text = tc.format_calibration(report)
    assert "| single | 30.0% | 60.0% | 0.410 | 55.0% | 400 | 4,000,000 |" in text
    assert "0.2: 35.0%/70.0%" in text


def test_build_sets_keeps_test_data_out(shared_data):
    queries, files, keys = tc.build_sets("train", lfw_queries=20, max_per_set=10)
    assert len(files) == len(keys) and len(queries) == 10 + 10 + 20
    sketches = [q.sketch for q in queries if q.sketch]
    assert all("/test/" not in s for s in sketches)
    # A synthetic LFW query's own source photo is not in the gallery; its mates are.
    src = {q.photo_for_synthetic for q in queries if q.photo_for_synthetic}
    assert not src & {str(f) for f in files}
    for q in queries:
        assert q.key in keys
    with pytest.raises(ValueError):
        tc.mode_queries(np.zeros((2, 0, 128)), np.zeros((2, 128)), "variants")
