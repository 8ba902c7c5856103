"""The case database: its own SQLite file (WAL), schema version, append-only triggers.

Cases live apart from the gallery: a gallery is rebuilt or swapped per deployment, while
case files are evidence with their own retention, backup and export rules.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text

from sketchlab.cases.models import SCHEMA_VERSION, Base
from sketchlab.db.engine import session_scope

__all__ = ["CaseStoreError", "make_engine", "session_scope"]

log = logging.getLogger(__name__)

_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)


# Schema 1 kept four tables that mirrored the log, and the case header beside it.
_V1_MIRRORS = ("match_candidates", "match_runs", "inversions", "sketch_versions")
_V1_HEADER = ("title", "artist", "investigator", "witness_description", "status",
              "created_at", "created_by", "updated_at")


class CaseStoreError(RuntimeError):
    """The case database cannot be used as it is; the message says what to do."""


def _on_connect(dbapi_conn, _record) -> None:
    # Autocommit at the driver, so the "begin" hook below decides how transactions start.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _on_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front: two processes appending to the same case
    # queue up instead of both reading the same chain head and forking the log.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def backup_database(path: Path, label: str) -> Path:
    """A consistent copy of the database beside it (SQLite's online backup, WAL included),
    owner-only like the original; returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{label}-backup-{stamp}")
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    src, dst = sqlite3.connect(path), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def _migrate_1_to_2(conn) -> None:
    """Drop the mirror tables and header columns: the log already holds all of it."""
    for table in _V1_MIRRORS:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    have = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(cases)")}
    for column in _V1_HEADER:
        if column in have:
            conn.exec_driver_sql(f"ALTER TABLE cases DROP COLUMN {column}")


def make_engine(path: str | os.PathLike[str]) -> Engine:
    """Open (creating if needed) the case database at `path`, migrating an older schema
    after backing the file up."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Witness statements and faces are personal data: owner-only, like the gallery.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    # Read the version and back up with plain sqlite3, before the engine switches the
    # file to WAL: the backup is the old store as it was.
    con = sqlite3.connect(path)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0] or 0
    finally:
        con.close()
    if version > SCHEMA_VERSION:
        raise CaseStoreError(
            f"{path} was written by a newer SketchLab (case schema {version}, this version "
            f"reads {SCHEMA_VERSION}); update SketchLab or point it at another case store")
    if 0 < version < SCHEMA_VERSION:
        try:
            backup = backup_database(path, f"schema{version}")
        except (OSError, sqlite3.Error) as exc:
            raise CaseStoreError(f"cannot back up {path} before upgrading it ({exc}); "
                                 "free some disk space and start again") from exc
        log.info("case store %s: schema %d backed up to %s, upgrading to %d", path, version,
                 backup, SCHEMA_VERSION)
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    with engine.begin() as conn:
        # Read again under the write lock: another process may have migrated meanwhile.
        version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
        if version == 1:
            _migrate_1_to_2(conn)
        Base.metadata.create_all(conn)
        for trigger in _TRIGGERS:
            conn.execute(text(trigger))
        if version < SCHEMA_VERSION:
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
    return engine
