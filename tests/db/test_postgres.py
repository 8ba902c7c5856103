"""The gallery on PostgreSQL: a throwaway local server from Debian's `postgresql` package.

Skipped with the reason when the server binaries or the psycopg driver are absent. As
root, the server runs as the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    for cand in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                                                 reverse=True)]:
        if cand and Path(cand).resolve().with_name("initdb").exists():
            return Path(cand).resolve().parent
    return None


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install psycopg[binary])")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
    root = Path(tempfile.mkdtemp(prefix="sketchlab-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    data = root / "data"
    run_as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run([bindir / "initdb", "-D", data, "-U", "sketchlab", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                       env=env, timeout=120, cwd=root, **run_as)
        subprocess.run([bindir / "pg_ctl", "-D", data, "-w", "-t", "60", "-l", root / "log",
                        "-o", f"-k {root} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True, env=env, timeout=120, cwd=root,
                       **run_as)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a local PostgreSQL: {exc} {getattr(exc, 'stderr', '')} "
                    f"{log[-500:]}")
    try:
        yield f"postgresql+psycopg://sketchlab@/postgres?host={root}"
    finally:
        subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, env=env, timeout=60, cwd=root, **run_as)
        shutil.rmtree(root, ignore_errors=True)


def test_gallery_on_postgresql(pg_url, cufs_photos, tmp_path):
    from sketchlab.db.engine import current_revision, head_revision
    from sketchlab.db.gallery import open_gallery

    with open_gallery(pg_url) as g:
        assert g.backup is None and current_revision(g.engine) == head_revision()
        s = g.enroll(cufs_photos[:5], workers=1)
        assert s.enrolled == 5
        assert g.enroll(cufs_photos[:5], workers=1).duplicates == 5
        query = g.load_embeddings()[2][3]
        cands = g.matcher().search(query, k=3)
        assert cands[0].subject_name == cufs_photos[3].stem and cands[0].distance < 1e-3
        assert cands[0].thumbnail[:2] == b"\xff\xd8"
        assert g.photos()[0].added_at.tzinfo is not None
        sid = g.subjects(name=cufs_photos[3].stem)[0].id
        assert g.remove_subject(sid) == 1
        assert g.matcher().search(query, k=1)[0].subject_name != cufs_photos[3].stem
        st = g.stats()
        assert (st.subjects, st.photos, st.embeddings, st.db_bytes) == (4, 4, 4, None)
        assert "postgresql" in st.url
    with open_gallery(pg_url) as g:  # reopen: already at head, no migration
        assert g.stats().photos == 4
