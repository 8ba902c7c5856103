"""The case database: its own SQLite file (WAL), schema version, append-only triggers.

Cases live apart from the gallery: a gallery is rebuilt or swapped per deployment, while
case files are evidence with their own retention, backup and export rules.
"""

from __future__ import annotations

import logging
import os
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


def make_engine(path: str | os.PathLike[str]) -> Engine:
    """Open (creating if needed) the case database at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Witness statements and faces are personal data: owner-only, like the gallery.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    with engine.begin() as conn:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
        if version > SCHEMA_VERSION:
            raise CaseStoreError(
                f"{path} was written by a newer SketchLab (case schema {version}, this version "
                f"reads {SCHEMA_VERSION}); update SketchLab or point it at another case store")
        Base.metadata.create_all(conn)
        for trigger in _TRIGGERS:
            conn.execute(text(trigger))
        if version < SCHEMA_VERSION:
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
    return engine
