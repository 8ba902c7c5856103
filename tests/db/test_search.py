import numpy as np
import pytest

from sketchlab.core.matching import EMBEDDING_MODEL
from sketchlab.db.search import EmbeddingIndex


def test_index_topk_matches_bruteforce():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(2000, 128)).astype(np.float32)
    ids = np.arange(100, 2100)
    index = EmbeddingIndex(v, ids)
    q = rng.normal(size=128).astype(np.float32)
    got_ids, got_d = index.topk(q, 10)
    brute = np.linalg.norm(v - q, axis=1)
    assert got_ids.tolist() == (np.argsort(brute)[:10] + 100).tolist()
    assert np.allclose(got_d, np.sort(brute)[:10], atol=1e-3)
    assert index.nbytes == v.nbytes + 2000 * 4 + 2000 * 8


def test_index_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        EmbeddingIndex(np.zeros((3, 64), np.float32), np.arange(3))
    with pytest.raises(ValueError):
        EmbeddingIndex(np.zeros((3, 128), np.float32), np.arange(2))
    empty = EmbeddingIndex(np.zeros((0, 128), np.float32), np.zeros(0, np.int64))
    assert empty.topk(np.zeros(128), 5)[0].size == 0


def test_bench_sections_quick_shape(cufs_photos):
    import argparse

    from sketchlab.commands.gallery import bench_enrolment, bench_search_1m

    args = argparse.Namespace(quick=True, runs=5)
    out = {**bench_search_1m(args), **bench_enrolment(args)}
    s = out["search_1m"]
    assert {"median_ms", "p90_ms", "matrix_mb", "n", "k"} <= set(s)
    assert s["n"] == 100_000 and s["p90_ms"] >= s["median_ms"] > 0
    assert s["matrix_mb"] > 100_000 * 128 * 4 / 1e6
    two = out["search_1m_two_way"]  # the same search with each face's drawing beside it
    assert two["n"] == 100_000 and two["matrix_mb"] > 2 * s["matrix_mb"] * 0.99
    assert out["enroll_faces_per_s"] > 0 and out["enroll"]["enrolled"] >= 5


def test_calibration_fit_recovers_a_known_logistic():
    from sketchlab.db.calibrate import fit_logistic

    rng = np.random.default_rng(0)
    d = rng.uniform(0.2, 1.0, 20000)
    p = 1 / (1 + np.exp((d - 0.55) / 0.05))
    y = (rng.uniform(size=d.size) < p).astype(float)
    t, s = fit_logistic(d, y)
    assert abs(t - 0.55) < 0.01 and abs(s - 0.05) < 0.01


def test_read_lfw_pairs(tmp_path):
    from sketchlab.db.calibrate import read_pairs

    f = tmp_path / "pairs.txt"
    f.write_text("2\nA_B\t1\t2\nC\t3\tD_E\t14\n")
    assert read_pairs(f) == [("A_B_0001", "A_B_0002", True), ("C_0003", "D_E_0014", False)]


def _synthetic_gallery(path, n: int = 300, seed: int = 3, drawn: np.ndarray | None = None):
    """A SQLite gallery of n random descriptors, one subject per two photos, written by the
    gallery's own writer (no face detection: the search's plumbing is what is tested);
    `drawn`: each photo's drawing's descriptor too (None in a row: that photo has none)."""
    from pathlib import Path

    from sketchlab.core.matching import FaceScan
    from sketchlab.db.gallery import open_gallery
    from sketchlab.enrol.inputs import EnrollItem
    from sketchlab.enrol.run import EnrolledPhoto

    rng = np.random.default_rng(seed)
    vecs = (rng.standard_normal((n, 128)) * 0.09).astype(np.float32)
    g = open_gallery(path)
    g.write_batch([EnrolledPhoto(EnrollItem(Path(f"p{i}.jpg"), f"s{i // 2}"), f"{i:064x}",
                                 FaceScan(v, (0, 1, 1, 0), 1), 10, 10, b"",
                                 None if drawn is None else drawn[i])
                   for i, v in enumerate(vecs)], model_version="test")
    return g, vecs


@pytest.mark.parametrize("ivf", [False, True])
def test_matcher_over_a_gallery_finds_the_exact_nearest(tmp_path, monkeypatch, ivf):
    """The Matcher reads the gallery only through GalleryRows: exact matrix below
    ann_min_faces, the IVF index above it (every list probed, so answers are exact), and a
    removed photo never comes back."""
    from sketchlab.db import ann
    from sketchlab.db.ann import AnnIndex
    from sketchlab.db.search import Matcher

    monkeypatch.setattr(ann, "PROBE_FRACTION", 1.0)
    g, vecs = _synthetic_gallery(tmp_path / "g.sqlite")
    with g:
        m = Matcher(g)
        if ivf:
            m.ann_min_faces = 1
        _, ids, _ = g.load_embeddings()
        exact = EmbeddingIndex(vecs, ids)
        for q in vecs[:3] + 0.01:
            got = m.search(q, k=5, distinct_subjects=False, thumbnails=False)
            want_ids, want_d = exact.topk(q, 5)
            assert [c.photo_id for c in got] == want_ids.tolist()
            assert np.allclose([c.distance for c in got], want_d, atol=1e-3)
        assert isinstance(m.index, AnnIndex) == ivf
        one_per_subject = m.search(vecs[0], k=4, thumbnails=False)
        assert len({c.subject_id for c in one_per_subject}) == 4
        assert g.remove_photo(f"{0:064x}")
        assert int(ids[0]) not in [c.photo_id for c in m.search(vecs[0], k=3,
                                                                 thumbnails=False)]
        assert m.gallery_norm(vecs[1]) is not None
        assert len(g.sample_vectors(EMBEDDING_MODEL, 50)) == 50


def test_two_way_index_adds_the_drawn_direction_and_keeps_one_way_queries():
    from sketchlab.core.drawn import pair, two_way_distances
    from sketchlab.db.search import TwoWayIndex

    rng = np.random.default_rng(4)
    v, d = rng.normal(0, 0.1, (2, 500, 128)).astype(np.float32)
    ids = np.arange(7, 507)
    index = TwoWayIndex(v, ids, d)
    searched, raw = rng.normal(0, 0.1, (2, 128)).astype(np.float32)
    got_ids, got_d = index.topk(pair(searched, raw), 10)
    brute = two_way_distances(searched, raw, v, d)
    assert got_ids.tolist() == (np.argsort(brute)[:10] + 7).tolist()
    assert np.allclose(got_d, np.sort(brute)[:10], atol=1e-4)
    one_way = index.topk(searched, 10)[0]  # a one-way query searches the photos alone
    assert one_way.tolist() == EmbeddingIndex(v, ids).topk(searched, 10)[0].tolist()
    with pytest.raises(ValueError, match="one drawing per photo"):
        TwoWayIndex(v, ids, d[:-1])


def test_matcher_searches_two_ways_only_when_every_face_has_its_drawing(tmp_path):
    from sketchlab.core.drawn import pair, two_way_distances
    from sketchlab.db.search import Matcher, TwoWayIndex

    rng = np.random.default_rng(5)
    drawings = rng.normal(0, 0.09, (120, 128)).astype(np.float32)
    g, vecs = _synthetic_gallery(tmp_path / "g.sqlite", n=120, drawn=drawings)
    with g:
        m = Matcher(g)
        snap = m.snapshot()
        assert snap.two_way and isinstance(m.index, TwoWayIndex) and m.missing_drawings == 0
        q = pair(vecs[3] + 0.01, drawings[40])
        got = m.search(q, k=5, distinct_subjects=False, thumbnails=False)
        brute = two_way_distances(q[:128], q[128:], vecs, drawings)
        _, ids, _ = g.load_embeddings()
        assert [c.photo_id for c in got] == ids[np.argsort(brute)[:5]].tolist()
    older = np.vstack([drawings[:119], np.full((1, 128), np.nan, np.float32)])
    g2, _ = _synthetic_gallery(tmp_path / "g2.sqlite", n=120,
                               drawn=[*older[:119], None])  # one photo from before drawings
    with g2:
        m2 = Matcher(g2)
        assert not m2.snapshot().two_way and m2.missing_drawings == 1
        assert len(m2.search(vecs[0], k=3, thumbnails=False)) == 3  # one way, as before
