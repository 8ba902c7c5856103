import io
import itertools
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from sketchlab.core.imageio import load_image
from sketchlab.core.matching import scan_faces
from sketchlab.db.gallery import open_gallery
from sketchlab.db.search import Matcher


def _perturbed(path, tmp_path):
    """A different file of the same face: smaller, mirrored, recompressed."""
    im = Image.open(path).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.resize((int(im.width * 0.8), int(im.height * 0.8)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    out = tmp_path / f"query_{path.name}"
    out.write_bytes(buf.getvalue())
    return out


def test_known_person_ranks_first(cufs_gallery, cufs_photos, tmp_path):
    for target in (cufs_photos[3], cufs_photos[11]):
        query = scan_faces(load_image(_perturbed(target, tmp_path))).vector
        cands = Matcher(cufs_gallery).search(query, k=5)
        assert cands[0].subject_name == target.stem
        assert cands[0].rank == 1 and cands[0].within_threshold
        assert [c.rank for c in cands] == [1, 2, 3, 4, 5]
        assert all(a.distance <= b.distance for a, b in itertools.pairwise(cands))
        assert cands[0].thumbnail[:2] == b"\xff\xd8"  # a JPEG face thumbnail
        assert set(cands[0].as_json()) == {"rank", "subject", "photo_sha256", "distance",
                                           "score", "within_threshold", "false_match_rate"}


def test_enrolled_rows_are_complete(cufs_gallery, cufs_photos):
    st = cufs_gallery.stats()
    assert (st.subjects, st.photos, st.embeddings) == (len(cufs_photos),) * 3
    photos = cufs_gallery.photos()
    p = photos[0]
    top, right, bottom, left = p.box
    assert 0 <= top < bottom <= p.height and 0 <= left < right <= p.width
    assert len(p.sha256) == 64 and p.added_at.tzinfo is not None
    _, _, vecs = cufs_gallery.load_embeddings()
    assert vecs.dtype == np.float32 and vecs.shape == (len(cufs_photos), 128)
    assert np.all(np.abs(np.linalg.norm(vecs, axis=1) - 1.0) < 0.5)
    thumb = Image.open(io.BytesIO(cufs_gallery.thumbnail(p.sha256)))
    assert max(thumb.size) <= 128


def test_dedupe_by_content(cufs_gallery, cufs_photos, tmp_path):
    copy = tmp_path / "renamed_copy.jpg"
    shutil.copy(cufs_photos[0], copy)
    s = cufs_gallery.enroll([copy, cufs_photos[1], cufs_photos[1]], workers=1)
    assert (s.enrolled, s.duplicates, s.total) == (0, 3, 3)
    assert cufs_gallery.stats().photos == len(cufs_photos)


def test_removal_updates_search(cufs_gallery, cufs_photos):
    target = cufs_photos[2].stem
    m = Matcher(cufs_gallery)
    query = cufs_gallery.load_embeddings()[2][2]
    assert m.search(query, 1)[0].subject_name == target
    sid = cufs_gallery.subjects(name=target)[0].id
    assert cufs_gallery.remove_subject(sid) == 1
    assert cufs_gallery.remove_subject(sid) == -1
    assert m.search(query, 1)[0].subject_name != target
    assert len(m.index) == len(cufs_photos) - 1
    sha = cufs_gallery.photos()[0].sha256
    assert cufs_gallery.remove_photo(sha[:12]) is True
    assert cufs_gallery.remove_photo(sha) is False
    with pytest.raises(ValueError):
        cufs_gallery.remove_photo("abc")
    assert cufs_gallery.stats().embeddings == len(cufs_photos) - 2  # cascaded


def test_bad_files_are_reported_not_fatal(bad_files, tmp_path):
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll([bad_files["root"]], workers=1, use_cache=False)
    by_path = {x.path: x for x in s.skipped}
    assert s.enrolled == 1 and s.total == 7
    assert by_path[str(bad_files["corrupt"])].status == "unreadable"
    assert "corrupt.jpg" in by_path[str(bad_files["corrupt"])].reason
    assert by_path[str(bad_files["notimage"])].status == "unreadable"
    assert by_path[str(bad_files["text"])].status == "not_image"
    assert by_path[str(bad_files["noface"])].status == "no_face"
    assert by_path[str(bad_files["big"])].status == "no_face"
    bomb = by_path[str(bad_files["bomb"])]
    assert bomb.status == "unreadable" and "too large" in bomb.reason
    with open_gallery(tmp_path / "g.sqlite") as g:
        assert [x.name for x in g.subjects()] == ["sub"]  # named after its folder


def test_manifest_identities_and_multi_face(cufs_photos, tmp_path):
    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in cufs_photos[:2])
    pair = tmp_path / "two_people.png"
    Image.fromarray(np.concatenate([a, b], axis=1)).save(pair)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("sketch,photo,identity,split\n"
                        f",{cufs_photos[4]},Alice,test\n"
                        f",{cufs_photos[5].name},Bob,test\n"  # relative: not found here
                        f"x.jpg,,,test\n"
                        f",two_people.png,Carol,test\n")
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll([manifest], workers=1)
        statuses = {x.status for x in s.skipped}
        assert s.enrolled == 1 and statuses == {"missing", "multi_face"}
        assert "2 faces" in next(x.reason for x in s.skipped if x.status == "multi_face")
        s2 = g.enroll([manifest], workers=1, largest_face=True)
        assert s2.enrolled == 1 and s2.duplicates == 1 and s2.computed == 0  # from cache
        assert sorted(x.name for x in g.subjects()) == ["Alice", "Carol"]


def test_subject_override_and_grouping(cufs_photos, tmp_path):
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll(cufs_photos[:2], subject="Same Person", workers=1)
        assert s.new_subjects == 1
        (subj,) = g.subjects()
        assert subj.n_photos == 2
        assert len(g.photos(subject_id=subj.id)) == 2
        m = Matcher(g)
        cands = m.search(g.load_embeddings()[2][0], k=5)
        assert len(cands) == 1  # distinct subjects by default
        assert len(m.search(g.load_embeddings()[2][0], k=5, distinct_subjects=False)) == 2


def test_search_while_enrolling(cufs_photos, tmp_path):
    """A reader thread searches continuously while another thread enrols in batches."""
    with open_gallery(tmp_path / "g.sqlite") as g:
        g.enroll(cufs_photos[:2], workers=1)
        query = g.load_embeddings()[2][0]
        errors: list[BaseException] = []
        sizes: list[int] = []
        stop = threading.Event()

        def searcher() -> None:
            try:
                with open_gallery(tmp_path / "g.sqlite") as reader:
                    m = Matcher(reader)
                    while not stop.is_set():
                        cands = m.search(query, k=3)
                        assert cands[0].subject_name == cufs_photos[0].stem
                        sizes.append(len(m.index))
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=searcher)
        t.start()
        try:
            s = g.enroll(cufs_photos[2:10], workers=1, batch_size=2)
        finally:
            stop.set()
            t.join(30)
        assert not errors, errors
        assert s.enrolled == 8
        assert sizes and sizes == sorted(sizes) and sizes[0] >= 2
        assert len(set(sizes)) > 1  # it saw committed batches arrive


def test_cancel_keeps_committed_work(cufs_photos, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.done == 3:
            cancel.set()

    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll(cufs_photos[:8], workers=1, batch_size=2, progress=progress,
                     cancel=cancel)
        assert s.cancelled and s.enrolled == 3
        assert g.stats().photos == 3
        assert seen[-1].total == 8
        s2 = g.enroll(cufs_photos[:8], workers=1)
        assert (s2.duplicates, s2.enrolled) == (3, 5)


def test_reuses_vectors_cached_by_plain_put(cufs_photos, tmp_path):
    """Rows the trainer's evaluation wrote with EmbeddingCache.put (vector only) are reused:
    enrolment re-runs only the detector and stores the same vector."""
    from sketchlab.core import paths
    from sketchlab.core.embedding_cache import EmbeddingCache
    from sketchlab.core.hashing import sha256_file
    from sketchlab.core.matching import embed

    cache = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")
    fake = np.full(128, 0.05, np.float32)  # distinguishable from any real descriptor
    cache.put(sha256_file(cufs_photos[0]), fake)
    cache.put(sha256_file(cufs_photos[1]), None)  # "no face" as the trainer cached it
    cache.close()
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll(cufs_photos[:3], workers=1)
        assert s.enrolled == 2 and s.skipped[0].status == "no_face"
        vecs = dict(zip(g.load_embeddings()[1].tolist(), g.load_embeddings()[2], strict=True))
        first = g.photos()[0]
        assert np.array_equal(vecs[first.id], fake) and first.box is not None
        real = embed(load_image(cufs_photos[2]))
        assert np.allclose(vecs[g.photos()[1].id], real, atol=1e-6)
    cache = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")
    hit, scan = cache.get_scan(sha256_file(cufs_photos[0]))
    assert hit and scan.n_faces == 1 and scan.box == first.box  # completed in place
    cache.close()


def test_cache_filled_during_the_run_is_used(cufs_photos, tmp_path):
    """A descriptor cached by another process after the run started is not recomputed."""
    from sketchlab.core import paths
    from sketchlab.core.embedding_cache import EmbeddingCache
    from sketchlab.core.hashing import sha256_file

    fake = np.full(128, 0.07, np.float32)
    late = sha256_file(cufs_photos[2])

    def progress(p):
        if p.done == 1:
            other = EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")
            other.put(late, fake)
            other.close()

    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll(cufs_photos[:3], workers=1, progress=progress)
        assert s.enrolled == 3 and s.computed == 3  # 2 full scans + 1 detection only
        pid = next(p.id for p in g.photos() if p.sha256 == late)
        _, ids, vecs = g.load_embeddings()
        assert np.array_equal(vecs[ids.tolist().index(pid)], fake)


def test_lfw_other_photo_of_a_person_ranks_first(shared_data, tmp_path):
    """Different photos of the same people (LFW), not copies: identification works."""
    import csv
    from collections import defaultdict

    root = shared_data / "lfw"
    by_id: dict[str, list[str]] = defaultdict(list)
    with open(root / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by_id[row["identity"]].append(row["photo"])
    people = sorted(k for k, v in by_id.items() if len(v) >= 2)[:12]
    singles = sorted(k for k, v in by_id.items() if len(v) == 1)[:12]
    manifest = tmp_path / "gallery.csv"
    manifest.write_text("photo,identity\n" + "".join(
        f"{root / by_id[p][0]},{p}\n" for p in people + singles))
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll([manifest], workers=1)
        assert s.enrolled >= 22, s.as_dict()
        enrolled = {x.name for x in g.subjects()}
        m = Matcher(g)
        hits = total = 0
        for p in people:
            query = scan_faces(load_image(root / by_id[p][1])).vector
            if p not in enrolled or query is None:
                continue
            total += 1
            hits += m.search(query, k=1)[0].subject_name == p
    assert total >= 10 and hits >= total - 1, (hits, total)


def test_batched_descriptors_are_interchangeable_with_dlibs(cufs_photos, tmp_path):
    """Enrolment's batched PyTorch descriptor against dlib's own per-face call: the same
    boxes, and descriptors within 1e-4 per component (3.9e-7 measured), so galleries
    enrolled either way (or before this change) search together."""
    got = {}
    for batched in (True, False):
        with open_gallery(tmp_path / f"{batched}.sqlite") as g:
            s = g.enroll(cufs_photos[:4], workers=1, use_cache=False, batched=batched)
            assert s.enrolled == 4
            got[batched] = (g.load_embeddings()[2], [p.box for p in g.photos()])
    assert got[True][1] == got[False][1]
    assert np.abs(got[True][0] - got[False][0]).max() < 1e-4


def test_enrolment_keeps_each_face_drawn_as_a_sketch(cufs_gallery, cufs_photos):
    """Every enrolled face also gets its drawing's descriptor (core.drawn), cut from the
    same chip as its photo descriptor, so the gallery is searched two ways."""
    from sketchlab.core.drawn import DRAWN_MODEL, drawn_descriptors
    from sketchlab.core.matching import face_chip

    _, ids, _ = cufs_gallery.load_embeddings()
    _, drawn_ids, drawn = cufs_gallery.load_embeddings(DRAWN_MODEL)
    assert sorted(drawn_ids.tolist()) == sorted(ids.tolist())
    st = cufs_gallery.stats()
    assert st.embeddings == st.drawn == len(cufs_photos)
    p = cufs_gallery.photos()[0]
    want = drawn_descriptors([face_chip(load_image(p.source_path), p.box)])[0]
    assert np.allclose(drawn[drawn_ids.tolist().index(p.id)], want, atol=1e-4)
    assert Matcher(cufs_gallery).snapshot().two_way


def test_a_gallery_enrolled_before_drawings_gets_them_from_its_files(cufs_gallery,
                                                                      cufs_photos, tmp_path):
    """An older gallery (faces, no drawings) searches one way; `add_drawings` draws its
    faces from their files, reports a file that has moved, and the search turns two-way
    once every face has a drawing."""
    import shutil

    from sqlalchemy import delete

    from sketchlab.core.drawn import DRAWN_MODEL
    from sketchlab.db.tables import Embedding

    with cufs_gallery.session() as s:
        s.execute(delete(Embedding).where(Embedding.model == DRAWN_MODEL))
        cufs_gallery._bump(s)
    m = Matcher(cufs_gallery)
    assert not m.snapshot().two_way and m.missing_drawings == len(cufs_photos)
    assert m.snapshot().missing_drawings == len(cufs_photos)  # what a search is told
    moved = cufs_gallery.photos()[2]
    away = tmp_path / "away.jpg"
    shutil.move(moved.source_path, away)
    summary = cufs_gallery.add_drawings(batch=5)
    assert summary.drawn == len(cufs_photos) - 1
    assert summary.left == [(moved.source_path, "no longer at its enrolled path")]
    assert "searched one way" in summary.line()
    assert not m.snapshot().two_way and m.missing_drawings == 1
    shutil.move(away, moved.source_path)
    again = cufs_gallery.add_drawings()
    assert (again.drawn, again.left) == (1, []) and "two ways" in again.line()
    assert m.snapshot().two_way and cufs_gallery.stats().drawn == len(cufs_photos)


def test_a_drawing_network_draws_the_gallery_beside_the_pencil_drawings(cufs_gallery,
                                                                       cufs_photos,
                                                                       tiny_model):
    """A model whose two-way rates were read on faces drawn by a network: `add_drawings`
    draws each face with it from the photo's canonical frame, as `trainer evaluate` does,
    under the network's own name and beside the pencil drawings; the Matcher searches two
    ways with the drawings a search asks for, once every face has them."""
    from sketchlab.core.drawn import (
        DRAWN_MODEL,
        Drawing,
        load_drawer,
        network_drawn_descriptors,
    )
    from sketchlab.core.preprocess import prepare_photo

    drawing = Drawing.by_network(tiny_model)
    m = Matcher(cufs_gallery)
    snap = m.snapshot(drawing.model)
    assert not snap.two_way and snap.drawing is None
    assert m.missing_drawings == len(cufs_photos)
    summary = cufs_gallery.add_drawings(batch=3, drawing=drawing)
    assert (summary.drawn, summary.left) == (len(cufs_photos), [])
    st = cufs_gallery.stats()
    assert st.drawn_by(drawing.model) == st.drawn == st.embeddings == len(cufs_photos)
    snap = m.snapshot(drawing.model)
    assert snap.two_way and snap.drawing == drawing.model
    _, ids, vecs = cufs_gallery.load_embeddings(drawing.model)
    p = cufs_gallery.photos()[1]
    net = load_drawer(tiny_model)
    want = network_drawn_descriptors([prepare_photo(p.source_path, net.resolution).image], net)
    assert np.allclose(vecs[ids.tolist().index(p.id)], want[0], atol=1e-4)
    assert m.snapshot(DRAWN_MODEL).drawing == DRAWN_MODEL  # the pencil ones are kept
    assert cufs_gallery.add_drawings(drawing=drawing).drawn == 0  # nothing left to draw


def test_enrolment_with_a_drawing_network_draws_the_new_faces_too(tmp_path, cufs_photos,
                                                                  tiny_model):
    """Enrolling for a model that draws with a network leaves a gallery searched two ways
    as that model's rates were read: every new face drawn by the network too."""
    from sketchlab.core.drawn import Drawing
    from sketchlab.db.gallery import open_gallery

    drawing = Drawing.by_network(tiny_model)
    seen = []
    with open_gallery(tmp_path / "g.sqlite") as g:
        summary = g.enroll(cufs_photos[:3], workers=1, use_cache=False, drawing=drawing,
                           progress=seen.append)
        assert summary.enrolled == 3 and summary.drawings.drawn == 3
        # the drawing is reported after the files, face by face, with the run's counts
        drawn = [p for p in seen if p.phase == "drawing"]
        assert drawn and seen[-1] is drawn[-1] and drawn[-1].checked == drawn[-1].to_draw == 3
        assert all(p.done == p.total == 3 and p.enrolled == 3 for p in drawn)
        assert "Drew 3 faces" in summary.line() and summary.as_dict()["drawn"] == 3
        assert g.stats().drawn_by(drawing.model) == 3
        assert Matcher(g).snapshot(drawing.model).two_way
