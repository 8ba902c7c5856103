import os
import sqlite3
import stat

import pytest
from sqlalchemy import select, text

from sketchlab.db.engine import (
    GalleryDBError,
    current_revision,
    head_revision,
    normalise_url,
    session_scope,
)
from sketchlab.db.gallery import open_gallery
from sketchlab.db.tables import Subject


def test_migrates_empty_db_without_backup(tmp_path):
    path = tmp_path / "new.sqlite"
    with open_gallery(path) as g:
        assert g.backup is None
        assert current_revision(g.engine) == head_revision()
        st = g.stats()
        assert (st.subjects, st.photos, st.revision, st.schema) == (0, 0, 0, head_revision())
        with g.engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open_gallery(path) as g:  # reopening at head: nothing to do, no backup
        assert g.backup is None


def test_backup_before_migrating_existing_data(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE legacy (x INTEGER)")
    con.execute("INSERT INTO legacy VALUES (42)")
    con.commit()
    con.close()
    with open_gallery(path) as g:
        assert g.backup is not None and g.backup.name.startswith("old.sqlite.backup-unversioned")
        assert stat.S_IMODE(os.stat(g.backup).st_mode) == 0o600
    bak = sqlite3.connect(g.backup)
    assert bak.execute("SELECT x FROM legacy").fetchall() == [(42,)]
    assert bak.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    bak.close()


def test_models_match_the_migrations(tmp_path):
    """`alembic check`: the newest migration creates exactly what the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sketchlab.db.tables import Base, autogenerate_filter

    with open_gallery(tmp_path / "g.sqlite") as g, g.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": autogenerate_filter("sqlite"), "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_session_scope_rolls_back(tmp_path):
    with open_gallery(tmp_path / "g.sqlite") as g:
        with pytest.raises(RuntimeError), g.session() as s:
            s.add(Subject(name="ghost"))
            s.flush()
            raise RuntimeError("boom")
        with session_scope(g._sessions) as s:
            assert s.scalars(select(Subject)).all() == []
        sid = g.add_subject("Jane Doe", external_ref="CASE-1", notes="n")
        g.update_subject(sid, notes="updated")
        (info,) = g.subjects()
        assert (info.name, info.external_ref, info.notes, info.n_photos) == \
            ("Jane Doe", "CASE-1", "updated", 0)


def test_urls(tmp_path, monkeypatch):
    assert normalise_url(tmp_path / "x.sqlite") == f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert normalise_url("sqlite://") == "sqlite://"
    with pytest.raises(GalleryDBError):
        normalise_url("nonsense://:::")
    with open_gallery("sqlite://") as g:  # in-memory works too
        assert g.stats().photos == 0 and g.stats().db_bytes is None
    monkeypatch.setenv("SKETCHLAB_DB", str(tmp_path / "env.sqlite"))
    with open_gallery() as g:
        assert g.url.endswith("env.sqlite")
    monkeypatch.delenv("SKETCHLAB_DB")
    with open_gallery() as g:
        assert g.url.endswith("data/gallery.sqlite")  # under the per-test SKETCHLAB_HOME
        assert os.environ["SKETCHLAB_HOME"] in g.url


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GalleryDBError, match="cannot create the gallery file"):
        open_gallery(blocker / "sub" / "g.sqlite")
