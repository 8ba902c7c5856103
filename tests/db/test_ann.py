"""The HNSW index beside a big SQLite gallery: same answers as exact search, persisted,
grown incrementally, rebuilt when missing, corrupt or stale. (The size threshold is
lowered so a 16-face gallery uses it; recall at scale is `sketchlab bench`'s job.)"""

from __future__ import annotations

import os
import stat

import numpy as np

from sketchlab.db.ann import AnnIndex, index_paths
from sketchlab.db.search import EmbeddingIndex, Matcher
from sketchlab.db.synthetic import fit, generate, probes


def _matcher(g) -> Matcher:
    m = Matcher(g)
    m.ann_min_faces = 1
    return m


def test_ann_matches_exact_and_persists(cufs_gallery, cufs_photos, tmp_path):
    g = cufs_gallery
    path = tmp_path / "gallery.sqlite"
    _, ids, vecs = g.load_embeddings()
    m = _matcher(g)
    for q in vecs[:5]:
        ann = m.search(q, k=5, thumbnails=False)
        assert isinstance(m.index, AnnIndex)
        exact = EmbeddingIndex(vecs, ids).topk(q, 16)
        assert [c.photo_id for c in ann] == exact[0][:5].tolist()
        assert np.allclose([c.distance for c in ann], exact[1][:5], atol=1e-3)
    graph, meta = index_paths(path)
    assert graph.is_file() and meta.is_file()
    assert stat.S_IMODE(os.stat(graph).st_mode) == 0o600
    assert m.index.rebuilt
    assert np.array_equal(np.sort(m.index.sample(100), 0), np.sort(vecs, 0))
    m.gallery_norm(vecs[0])

    # A new process (a new Matcher) loads it; enrolling adds rows without a rebuild.
    extra = tmp_path / "extra"
    extra.mkdir()
    photos = sorted(cufs_photos[0].parent.glob("*.jpg"))[16:20]
    for p in photos:
        (extra / p.name).write_bytes(p.read_bytes())
    g.enroll([extra], workers=1)
    m2 = _matcher(g)
    _, ids2, vecs2 = g.load_embeddings()
    cands = m2.search(vecs2[-1], k=1, thumbnails=False)
    assert cands[0].photo_id == ids2[-1] and cands[0].distance < 1e-5
    assert not m2.index.rebuilt and len(m2.index) == 20

    # Deleting more than 10% makes it stale: rebuilt, and the removed never come back.
    for p in g.photos()[:4]:
        g.remove_photo(p.sha256)
    m3 = _matcher(g)
    got = m3.search(vecs2[0], k=20, distinct_subjects=False, thumbnails=False)
    assert m3.index.rebuilt and len(m3.index) == 16 and len(got) == 16
    assert ids2[0] not in [c.photo_id for c in got]

    # A corrupt file is rebuilt, not an error.
    graph.write_bytes(b"garbage")
    m4 = _matcher(g)
    assert m4.search(vecs2[5], k=1, thumbnails=False)[0].photo_id == ids2[5]
    assert m4.index.rebuilt


def test_synthetic_descriptors_follow_the_fit():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 128)).astype(np.float32) * 0.06
    real = np.repeat(centres, 4, axis=0) + rng.standard_normal((200, 128)).astype(
        np.float32) * 0.03
    model = fit(real, [str(i // 4) for i in range(200)])
    g = generate(model, 4000, photos_per_identity=2)
    same = np.linalg.norm(g[0::2] - g[1::2], axis=1).mean()
    other = np.linalg.norm(g[0:2000:2] - g[2001:4000:2], axis=1).mean()
    real_same = np.linalg.norm(real[0::4] - real[1::4], axis=1).mean()
    assert abs(same - real_same) / real_same < 0.15 and other > 1.5 * same
    q = probes(model, g, 10)
    assert q.shape == (10, 128) and q.dtype == np.float32
