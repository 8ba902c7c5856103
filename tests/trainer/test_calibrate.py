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


def test_calibration_reads_the_sketches_the_model_packs_hold(tiny_model, tmp_path,
                                                            monkeypatch) -> None:
    """A sketch file `adapter describe` already put through the app's path is read from the
    model's pack; only the queries the packs lack are inverted, and the rows come back in
    the order asked. Synthetic sketches and packs of another engine are not taken."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.adapter import model_ink_gamma, pack_dir
    from trainer.descriptors import QueryDescriptors, QuerySpec, save_pack

    monkeypatch.chdir(tmp_path)  # packs live under runs/descriptors
    monkeypatch.delenv("SKETCHLAB_ENGINE", raising=False)  # the default engine's packs
    monkeypatch.delenv("SKETCHLAB_PRECISION", raising=False)
    loaded = load_generator(tiny_model)
    folder = pack_dir(loaded.sha256, ink_gamma=model_ink_gamma(loaded.path))
    rng = np.random.default_rng(0)

    def pack(name: str, specs: list[QuerySpec]) -> QueryDescriptors:
        n = len(specs)
        d = QueryDescriptors(rng.normal(size=(n, 8, 128)).astype(np.float32),
                             rng.normal(size=(n, 128)).astype(np.float32),
                             np.zeros((n, 8, 128), np.float32), np.zeros((n, 128), np.float32),
                             ["landmarks"] * n)
        save_pack(folder / f"{name}.npz", loaded.sha256, {name: d},
                  {"specs": np.array([s.key for s in specs])})
        return d

    held = pack("cufs_train", [QuerySpec("a.jpg"), QuerySpec("b.jpg")])
    pack("lfw_synth", [QuerySpec("c.jpg", "pencil", 3)])  # a synthetic sketch of c.jpg
    pack("cufs_train@openvino-auto", [QuerySpec("d.jpg")])  # another engine's arithmetic

    inverted: list[list[str]] = []

    def invert(_model, queries, _workers, _cache):
        inverted.append([q.key for q in queries])
        n = len(queries)
        return np.full((n, 8, 128), 7.0, np.float32), np.full((n, 128), 7.0, np.float32)

    monkeypatch.setattr(tc, "query_embeddings", invert)
    queries = [tc.Query("cufs/b", "b.jpg"), tc.Query("cufs/c", "c.jpg"),
               tc.Query("cufs/a", "a.jpg"), tc.Query("cufs/d", "d.jpg")]
    var, raw = tc.study_embeddings(loaded, queries, 1, tmp_path / "cache.npz")
    assert inverted == [["cufs/c", "cufs/d"]]
    assert np.array_equal(var[0], held.variants[1]) and np.array_equal(raw[2], held.raw[0])
    assert (var[1] == 7).all() and (raw[3] == 7).all()

    monkeypatch.setenv("SKETCHLAB_ENGINE", "openvino")  # that engine's pack only
    tc.study_embeddings(loaded, queries, 1, tmp_path / "cache.npz")
    assert inverted[1] == ["cufs/b", "cufs/c", "cufs/a"]
