"""Connecting to a gallery database: URL choice, SQLite settings, sessions, migrations.

Any SQLAlchemy URL works (a shared PostgreSQL server for a lab, say). The default is a
SQLite file in the user data directory, opened in WAL mode (readers never block the
enrolment writer), with foreign keys on and the file readable by its owner only: a
gallery of faces is personal data. Before Alembic migrates an existing SQLite file it is
copied with SQLite's online-backup API, so a failed upgrade loses nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from sketchlab.core import paths
from sketchlab.core.atomic import private_file

log = logging.getLogger(__name__)

DB_ENV = "SKETCHLAB_DB"  # a URL or path; overrides the default location
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class GalleryDBError(RuntimeError):
    """The gallery database cannot be opened or migrated; the message says what to do."""


def default_url() -> str:
    """$SKETCHLAB_DB if set, else the SQLite gallery in the user data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return normalise_url(env)
    return f"sqlite:///{paths.user_data_dir() / 'gallery.sqlite'}"


def normalise_url(url_or_path: str | os.PathLike[str]) -> str:
    """Accept a SQLAlchemy URL, or a plain file path meaning a SQLite file there."""
    text = os.fspath(url_or_path)
    if "://" in text:
        try:
            make_url(text)
        except (ArgumentError, ValueError) as exc:
            raise GalleryDBError(f"not a database URL: {text!r} ({exc})") from exc
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, None for in-memory or other databases."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite files, creates the file owner-only (0600) first."""
    path = sqlite_path(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        if path is not None:
            try:
                private_file(path)
            except OSError as exc:
                raise GalleryDBError(f"cannot create the gallery file {path}: {exc}. "
                                     "Check the folder exists and is writable, or pass "
                                     "--db with another location.") from exc
            engine = create_engine(url, connect_args={"timeout": 30})
        else:  # one shared in-memory database for all sessions
            engine = create_engine(url, connect_args={"check_same_thread": False},
                                   poolclass=StaticPool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise GalleryDBError(f"no database driver for {backend}: {exc}. For PostgreSQL "
                             "install `psycopg[binary]` and use postgresql+psycopg://...") from exc


def search_role_sql(role: str, owner: str) -> list[str]:
    """SQL a lab's DBA runs (after the first `sketchlab gallery` command created the
    tables as `owner`) so that `role` can search the shared gallery but not enrol, edit or
    delete: read-only on every table, now and in later migrations."""
    for name in (role, owner):
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain role name: {name!r}")
    return [f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT SELECT ON TABLES TO {role}"]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: values read in a scope stay readable after it commits.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success, rolls back on any error, and always closes."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(connection: object | None = None):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def backup_sqlite(path: Path, label: str) -> Path:
    """Copy a live SQLite file (WAL included) with the online-backup API; owner-only."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.backup-{label}-{stamp}")
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    src = sqlite3.connect(path)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    return target


def migrate(engine: Engine) -> Path | None:
    """Bring the schema to the newest revision; returns the backup made first, if any.

    A SQLite file that already holds tables is backed up before any step runs. Other
    servers (PostgreSQL) are the lab's to back up: we log a reminder and migrate.
    """
    from alembic import command

    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return None
    backup: Path | None = None
    has_tables = bool(inspect(engine).get_table_names())
    path = sqlite_path(str(engine.url))
    if has_tables:
        if path is not None:
            backup = backup_sqlite(path, current or "unversioned")
            log.info("backed up %s to %s before migrating %s -> %s", path, backup,
                     current, head)
        else:
            log.warning("migrating %s from %s to %s without an automatic backup; "
                        "take one (pg_dump) first if this gallery matters", engine.url,
                        current, head)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
    except Exception as exc:
        where = f" The backup is {backup}." if backup else ""
        raise GalleryDBError(f"could not upgrade the gallery database {engine.url} to schema "
                             f"{head}: {exc}.{where}") from exc
    return backup
