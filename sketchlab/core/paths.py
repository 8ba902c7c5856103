"""Where bundled assets live (frozen or from source) and where user data goes (platformdirs).

User data is never written next to the code or inside a frozen bundle. Every user
directory can be redirected with SKETCHLAB_HOME, which tests and portable installs use.
User folders are private (0700, files 0600): they hold case data and face descriptors.

platformdirs replaced appdirs (unmaintained since 2020) with the same folders on Linux,
macOS and Windows but one: on Linux the log folder moved from ~/.cache/SketchLab/log to
~/.local/state/SketchLab/log (XDG's place for logs); `migrate_log_dir` moves the old
logs there once.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from sketchlab.core.atomic import private_dir, secure_tree

log = logging.getLogger(__name__)

APP_NAME = "SketchLab"
APP_AUTHOR = "SketchLab"


def bundle_root() -> Path:
    """Root holding models/ and resources/: the PyInstaller dir when frozen, else the repo."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parents[2]  # sketchlab/core/paths.py -> the repo


def models_dir() -> Path:
    return bundle_root() / "models"


def resources_dir() -> Path:
    return bundle_root() / "resources"


def _user_dir(kind: str) -> Path:
    home = os.environ.get("SKETCHLAB_HOME")
    if home:
        path = Path(home) / kind
    else:
        import platformdirs  # here, not at the top: a training machine may lack it

        fn = {"data": platformdirs.user_data_dir, "config": platformdirs.user_config_dir,
              "cache": platformdirs.user_cache_dir, "log": platformdirs.user_log_dir}[kind]
        path = Path(fn(APP_NAME, APP_AUTHOR))
    return private_dir(path)


def secure_user_dirs() -> int:
    """Start-up migration: older versions left 0644 files in 0755 folders."""
    return sum(secure_tree(_user_dir(kind)) for kind in ("data", "config", "cache", "log"))


def migrate_log_dir() -> int:
    """Start-up migration: move logs from appdirs' Linux log folder (under the cache
    folder) to platformdirs' one, unless the new one already has logs. Returns files moved."""
    if os.environ.get("SKETCHLAB_HOME") or not sys.platform.startswith("linux"):
        return 0
    import platformdirs

    old = Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)) / "log"
    new = Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    if old.resolve() == new.resolve() or not old.is_dir() or (new.is_dir() and any(new.iterdir())):
        return 0
    new = private_dir(new)
    moved = 0
    try:
        for f in sorted(old.iterdir()):
            if f.is_file():
                shutil.move(f, new / f.name)  # the two folders may be on different disks
                moved += 1
        if not any(old.iterdir()):
            old.rmdir()
    except OSError as exc:  # what was not moved stays where it was: nothing is lost
        log.warning("could not move old logs from %s to %s: %s", old, new, exc)
    return moved


def private_process() -> int:
    """At program start: whatever this process creates is owner-only (umask 077), logs
    left in the old log folder move to the new one, and user folders from older versions
    are made private. Returns files/folders fixed or moved."""
    os.umask(0o077)
    return migrate_log_dir() + secure_user_dirs()


def user_data_dir() -> Path:
    return _user_dir("data")


def user_config_dir() -> Path:
    return _user_dir("config")


def user_cache_dir() -> Path:
    return _user_dir("cache")


def user_log_dir() -> Path:
    return _user_dir("log")


def user_models_dir() -> Path:
    return private_dir(user_data_dir() / "models")
