"""kill -9 in the middle of an enrolment: the database stays sound and a rerun resumes."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sketchlab.core.drawn import DRAWN_MODEL
from sketchlab.core.matching import EMBEDDING_MODEL
from sketchlab.core.model_catalog import model_drawing

REPO = Path(__file__).resolve().parents[2]
N_PHOTOS = 40  # enough that both runs use the process pool (>= MIN_POOL_JOBS to compute)


def _enrol_cmd(folder: Path, db: Path) -> list[str]:
    return [sys.executable, "-W", "ignore", "-m", "sketchlab.cli", "gallery", "enroll",
            str(folder), "--db", str(db), "--batch-size", "4", "--workers", "2"]


def _committed(db: Path) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {r[0] for r in con.execute("SELECT sha256 FROM photo")}
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created / not migrated yet
        return set()


@pytest.mark.slow
def test_kill_9_during_enrolment(shared_data, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[:N_PHOTOS]:
        shutil.copy(p, folder / p.name)
    n_photos = N_PHOTOS
    db = tmp_path / "g.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(_enrol_cmd(folder, db), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _committed(db)
            if len(seen) >= 12:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers
        proc.wait(30)
    assert 12 <= len(seen) < n_photos, "the kill did not land mid-run"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after_kill = {r[0] for r in con.execute("SELECT sha256 FROM photo")}
    orphans = con.execute("SELECT count(*) FROM photo p LEFT JOIN embedding e "
                          "ON e.photo_id = p.id WHERE e.id IS NULL").fetchone()[0]
    con.close()
    assert seen <= after_kill and orphans == 0
    assert len(after_kill) < n_photos

    rerun = subprocess.run(_enrol_cmd(folder, db), env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(after_kill)} already in the gallery" in rerun.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM photo").fetchone()[0] == n_photos
    # each photo with its descriptor, its pencil drawing's and the model's drawing's
    # (core.drawn), none lost to the kill
    by_model = dict(con.execute("SELECT model, count(*) FROM embedding GROUP BY model"))
    assert by_model == {EMBEDDING_MODEL: n_photos, DRAWN_MODEL: n_photos,
                        model_drawing().model: n_photos}
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
