"""Autosave every few seconds, atomically, and offer recovery after a crash.

Each running app has its own session folder under user_data_dir()/autosave, named by pid
and start time, holding the current sketch in the normal PNG + strokes format. A clean
exit deletes the folder. A folder whose process is gone (or, within one process, that is
not the live session) is a crash leftover: the next start offers to recover it. Declined
recoveries are moved aside, never deleted, so nothing is lost by a wrong click.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from sketchlab.core import paths
from sketchlab.core.atomic import private_dir, write_text
from sketchlab.ui.document import SketchDocument

log = logging.getLogger(__name__)

SKETCH = "sketch.png"
SESSION = "session.json"


def autosave_root() -> Path:
    return private_dir(paths.user_data_dir() / "autosave")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass(frozen=True)
class Recoverable:
    folder: Path
    sketch: Path
    saved_at: float
    source: str  # the file the user was editing, if any
    case: str = ""  # UID of the case that was open, if any

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        src = f" (editing {self.source})" if self.source else ""
        return f"a sketch autosaved at {when}{src}"


class Autosaver(QObject):
    """Writes the document to this session's folder when it changed since the last write."""

    saved = Signal(Path)
    failed = Signal(str)

    def __init__(self, document: SketchDocument, interval_s: int = 5,
                 root: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.root = root or autosave_root()
        self.folder = self.root / f"{os.getpid()}-{int(time.time() * 1000)}"
        self.source = ""
        self.case = ""  # UID of the open case: recovery reopens it
        self._saved_revision = document.revision
        self._timer = QTimer(self)
        self._timer.setObjectName("autosave")
        self._timer.timeout.connect(self.save_now)
        self.set_interval(interval_s)

    def set_interval(self, seconds: int) -> None:
        self._timer.setInterval(max(1, int(seconds)) * 1000)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def mark_saved(self) -> None:
        """The current state needs no autosave (just opened, recovered or saved by hand)."""
        self._saved_revision = self.document.revision

    def save_now(self) -> bool:
        if self.document.revision == self._saved_revision or self.document.drawing:
            return False
        try:
            private_dir(self.folder)
            self.document.write(self.folder / SKETCH)
            self._write_session()
        except OSError as exc:
            log.error("autosave to %s failed: %s", self.folder, exc)
            self.failed.emit(f"Autosave failed: {exc}. Save your sketch with File > Save As.")
            return False
        self._saved_revision = self.document.revision
        self.saved.emit(self.folder / SKETCH)
        return True

    def _write_session(self) -> None:
        write_text(self.folder / SESSION, json.dumps(
            {"pid": os.getpid(), "saved_at": time.time(), "source": self.source,
             "case": self.case}))

    def set_case(self, uid: str) -> None:
        """The open case changed: a crash from now on recovers into this case."""
        self.case = uid
        if (self.folder / SESSION).is_file():
            try:
                self._write_session()
            except OSError as exc:
                log.warning("cannot note the open case in %s: %s", self.folder, exc)

    def discard(self) -> None:
        """Clean exit: this session's autosave is no longer needed."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def find_recoverable(self) -> list[Recoverable]:
        """Leftovers of sessions that did not exit cleanly, newest first."""
        found = []
        for folder in self.root.iterdir():
            meta, sketch = folder / SESSION, folder / SKETCH
            if folder == self.folder or folder.name == "declined" or not sketch.is_file():
                continue
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                pid = int(data["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("unreadable autosave session %s", folder)
                continue
            if pid != os.getpid() and _pid_alive(pid):
                continue  # another SketchLab window is running and owns it
            found.append(Recoverable(folder, sketch, float(data.get("saved_at", 0)),
                                     str(data.get("source", "")), str(data.get("case", ""))))
        return sorted(found, key=lambda r: -r.saved_at)

    def set_aside(self, rec: Recoverable) -> Path:
        """Keep a declined recovery out of the way (user_data/autosave/declined/...)."""
        dest = self.root / "declined" / rec.folder.name
        private_dir(dest.parent)
        shutil.move(str(rec.folder), dest)
        return dest
