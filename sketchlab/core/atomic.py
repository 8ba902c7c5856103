"""Write a file so that a crash never leaves it half-written under its final name, and
so that no other local user can read it.

Bytes go to a temp file beside the target (same filesystem, so the rename is atomic),
are fsynced, then renamed over it; on any failure the temp file is removed. The temp
name is unique per call, so two processes writing the same target (DDP ranks, two app
instances) cannot rename each other's temp away, and it carries the writer's process id,
so a temp left by a writer that was killed (SIGKILL, power loss) is known for what it is
and `sweep_stale_temps` removes it the next time the folder is used.

Everything SketchLab writes holds case data (sketches, synthesized faces, face
descriptors, case numbers in logs), so files are created 0600 and the folders it creates
0700. This module is the one place that knows how; `secure_tree` brings folders written
by older versions (0644 files in 0755 folders) into line at start-up.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
# .NAME.PID.XXXXXXXX.tmp: mkstemp's eight random characters between the pid and suffix.
_TEMP_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]{8}(?:\.tmp|\.part)$")


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (and missing parents) 0700; an existing folder keeps its mode."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(p, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


@contextmanager
def atomic_write(path: str | os.PathLike[str], suffix: str = ".tmp",
                 mode: int = FILE_MODE) -> Iterator[BinaryIO]:
    """Yield a binary file to write; on clean exit it replaces `path` with `mode`."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix,
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode != FILE_MODE:  # mkstemp already made it 0600
                os.fchmod(fh.fileno(), mode)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def process_alive(pid: int) -> bool:
    """Whether a process with this id is running (one of another user's counts; a zombie,
    dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def sweep_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files `atomic_write` left in `folder` for writers that are gone;
    returns what was removed. Only our own regular files, named as atomic_write names
    them, whose writer process no longer exists: a live writer's temp is never touched
    (a pid reused since only delays the sweep to a later start)."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    uid = os.getuid()
    for name in names:
        m = _TEMP_RE.match(name)
        if m is None or process_alive(int(m.group(1))):
            continue
        p = folder / name
        with contextlib.suppress(OSError):
            st = os.lstat(p)
            if st.st_uid == uid and stat.S_ISREG(st.st_mode):
                p.unlink()
                removed.append(p)
    return removed


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = FILE_MODE) -> None:
    with atomic_write(path, mode=mode) as fh:
        fh.write(data)


def write_text(path: str | os.PathLike[str], text: str, mode: int = FILE_MODE) -> None:
    write_bytes(path, text.encode("utf-8"), mode=mode)


def open_private_append(path: str | os.PathLike[str]) -> int:
    """An fd for appending to `path`, created 0600 (for logs, which grow in place)."""
    path = Path(path)
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create `path` empty and 0600 unless it exists, then make sure it is 0600 (for
    SQLite files, whose -wal and -shm companions copy the main file's mode)."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def secure_tree(root: str | os.PathLike[str]) -> int:
    """Make every folder under `root` 0700 and every file 0600; returns how many changed.

    Links are left alone (never followed), and so is anything owned by another user.
    """
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        return 0
    uid = os.getuid()
    changed = 0

    def fix(p: str, want: int) -> None:
        nonlocal changed
        try:
            st = os.lstat(p)
            if st.st_uid != uid or stat.S_ISLNK(st.st_mode):
                return
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(p, stat.S_IMODE(st.st_mode) & want)
                changed += 1
        except OSError:
            pass

    fix(str(root), DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            fix(os.path.join(dirpath, d), DIR_MODE)
        for f in filenames:
            fix(os.path.join(dirpath, f), FILE_MODE | 0o100)  # keep an owner x bit
    return changed
