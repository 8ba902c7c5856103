"""Disk cache of face descriptors keyed by (image SHA-256, embedding model, box).

Embedding 13k LFW photos takes ~25 min on 2 cores; evaluation (`trainer`) and gallery
enrolment share this cache so that work is done once per machine. One SQLite file,
thread-safe, shared by processes. It lives in core because the trainer, which may import
only `sketchlab.core`, uses it too.

The schema is versioned (`PRAGMA user_version`) and upgraded step by step (MIGRATIONS);
files written before the version was kept are recognised by their columns. A file that
is not a cache this code can read (damaged, or from a newer version) is moved aside and
the cache starts empty: it is a cache, rebuilt as photos are embedded again.

For detected faces (box=None) the row may also hold the detected box and the number of
faces found (`get_scan`/`put_scans`, used by gallery enrolment). Plain `put` leaves them
NULL, and `get_scan` then reports only the vector (`n_faces` None), so enrolment re-runs
the cheap detector but not the costly descriptor.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from sketchlab.core.atomic import private_file
from sketchlab.core.frame import Box
from sketchlab.core.matching import EMBEDDING_MODEL, FaceScan

log = logging.getLogger(__name__)

# Version n is reached from n - 1 by MIGRATIONS[n - 1].
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    ("CREATE TABLE emb (sha TEXT, model TEXT, box TEXT, vec BLOB, "
     "PRIMARY KEY (sha, model, box))",),
    ("ALTER TABLE emb ADD COLUMN face_box TEXT",  # the detected box, "t,r,b,l"
     "ALTER TABLE emb ADD COLUMN n_faces INTEGER"),  # faces the detector saw
)
SCHEMA_VERSION = len(MIGRATIONS)


class CacheVersionError(sqlite3.DatabaseError):
    """The file is a cache from a newer SketchLab."""


def _version(db: sqlite3.Connection) -> int:
    """The schema version; files from before it was kept are told by their columns."""
    v = int(db.execute("PRAGMA user_version").fetchone()[0])
    if v:
        return v
    cols = {r[1] for r in db.execute("PRAGMA table_info(emb)")}
    return 0 if not cols else 2 if "n_faces" in cols else 1


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION in one write transaction (processes that open
    the file at the same moment wait for it, then find it done)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        v = _version(db)
        if v > SCHEMA_VERSION:
            raise CacheVersionError(f"schema version {v} is newer than {SCHEMA_VERSION}")
        for step in MIGRATIONS[v:]:
            for sql in step:
                db.execute(sql)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class EmbeddingCache:
    """The descriptor cache in one SQLite file (see the module doc)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:  # damaged, or another program's file
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.warning("embedding cache %s cannot be used (%s); moved to %s and rebuilt",
                        self.path, exc, aside.name)
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):  # its journal must not replay into the new file
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        private_file(self.path)  # face descriptors are personal data
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                             isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            if _version(db) != SCHEMA_VERSION:
                _migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _box_key(box: Box | None) -> str:
        return "detect" if box is None else ",".join(str(int(v)) for v in box)

    def get(self, sha: str, box: Box | None = None, model: str = EMBEDDING_MODEL
            ) -> tuple[bool, np.ndarray | None]:
        """(hit, vector); a hit with None means 'no face found' was cached."""
        with self._lock:
            row = self._db.execute("SELECT vec FROM emb WHERE sha=? AND model=? AND box=?",
                                   (sha, model, self._box_key(box))).fetchone()
        if row is None:
            return False, None
        return True, (np.frombuffer(row[0], np.float32).copy() if row[0] else None)

    def put(self, sha: str, vec: np.ndarray | None, box: Box | None = None,
            model: str = EMBEDDING_MODEL) -> None:
        blob = None if vec is None else np.asarray(vec, np.float32).tobytes()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO emb (sha, model, box, vec) VALUES (?,?,?,?)",
                             (sha, model, self._box_key(box), blob))

    def put_many(self, items: list[tuple[str, np.ndarray | None, Box | None]],
                 model: str = EMBEDDING_MODEL) -> None:
        """`put` for many (sha, vector, box) in one transaction."""
        rows = [(sha, model, self._box_key(box),
                 None if v is None else np.asarray(v, np.float32).tobytes())
                for sha, v, box in items]
        self._insert_many("sha, model, box, vec", rows)

    def get_scan(self, sha: str, model: str = EMBEDDING_MODEL) -> tuple[bool, FaceScan | None]:
        """(hit, scan) for the detected-face row. A scan whose `n_faces` is None came from
        plain `put`: the vector (or 'no face') is known, the box is not."""
        with self._lock:
            row = self._db.execute("SELECT vec, face_box, n_faces FROM emb WHERE sha=? AND "
                                   "model=? AND box='detect'", (sha, model)).fetchone()
        if row is None:
            return False, None
        vec = np.frombuffer(row[0], np.float32).copy() if row[0] else None
        if row[2] is None:
            return True, FaceScan(vec, None, 0 if vec is None else None)
        box = tuple(int(v) for v in row[1].split(",")) if row[1] else None
        return True, FaceScan(vec, box, int(row[2]))  # type: ignore[arg-type]

    def put_scans(self, items: list[tuple[str, FaceScan]], model: str = EMBEDDING_MODEL) -> None:
        """Store detected-face scans in one transaction (enrolment writes them in batches)."""
        rows = [(sha, model, "detect",
                 None if s.vector is None else np.asarray(s.vector, np.float32).tobytes(),
                 None if s.box is None else ",".join(str(int(v)) for v in s.box), s.n_faces)
                for sha, s in items]
        self._insert_many("sha, model, box, vec, face_box, n_faces", rows)

    def _insert_many(self, columns: str, rows: list[tuple[object, ...]]) -> None:
        """INSERT OR REPLACE the rows into `columns` in one transaction."""
        marks = ",".join("?" * (columns.count(",") + 1))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(f"INSERT OR REPLACE INTO emb ({columns}) VALUES ({marks})",
                                     rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
