import numpy as np

from sketchlab.core.embedding_cache import EmbeddingCache
from sketchlab.core.frame import face_box
from sketchlab.core.matching import (
    distances,
    embed,
    embed_aligned,
    rank,
    similarity,
)


def test_rank_matches_bruteforce():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(500, 128)).astype(np.float32)
    q = rng.normal(size=128).astype(np.float32)
    idx, d = rank(q, g, k=10)
    brute = np.linalg.norm(g - q, axis=1)
    assert idx.tolist() == np.argsort(brute)[:10].tolist()
    assert np.allclose(d, np.sort(brute)[:10], atol=1e-4)
    assert np.allclose(distances(q, g), brute, atol=1e-4)


def test_rank_edge_cases():
    assert rank(np.zeros(128), np.zeros((0, 128), np.float32), 5)[0].size == 0
    idx, _ = rank(np.zeros(128), np.ones((3, 128), np.float32), 10)
    assert sorted(idx.tolist()) == [0, 1, 2]


def test_similarity_is_half_at_threshold_and_monotone():
    s = similarity(np.array([0.3, 0.6, 0.9]))
    assert s[1] == 0.5 and s[0] > 0.9 and s[2] < 0.1


def test_cache_roundtrip(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    assert cache.get("abc") == (False, None)
    v = np.arange(128, dtype=np.float32)
    cache.put("abc", v)
    cache.put("nof", None)
    hit, got = cache.get("abc")
    assert hit and np.array_equal(got, v)
    assert cache.get("nof") == (True, None)
    assert cache.get("abc", box=(1, 2, 3, 4))[0] is False
    cache.close()


def test_no_face_gives_none():
    assert embed(np.full((120, 100, 3), 200, np.uint8)) is None


def test_real_photo_embeds_same_person_closer(shared_data):
    from sketchlab.core.preprocess import prepare_photo, prepare_sketch

    root = shared_data / "cufs_cuhk" / "test"
    a = prepare_photo(root / "photos" / "f1-001-01.jpg").image
    b = prepare_photo(root / "photos" / "f1-002-01.jpg").image
    sk = prepare_sketch(root / "sketches" / "f1-001-01-sz1.jpg").image
    ea, eb = embed_aligned(a), embed_aligned(b)
    assert ea.shape == (128,) and ea.dtype == np.float32
    assert face_box((160, 128))[0] < face_box((160, 128))[2]
    assert np.linalg.norm(ea - embed_aligned(a)) < 1e-5
    assert np.linalg.norm(ea - eb) > 0.2
    assert embed_aligned(sk).shape == (128,)
