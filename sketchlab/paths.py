"""Where bundled assets live (frozen or from source) and where user data goes (appdirs).

User data is never written next to the code or inside a frozen bundle. Every user
directory can be redirected with SKETCHLAB_HOME, which tests and portable installs use.
User folders are private (0700, files 0600): they hold case data and face descriptors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import appdirs

from sketchlab.core.atomic import private_dir, secure_tree

APP_NAME = "SketchLab"
APP_AUTHOR = "SketchLab"


def bundle_root() -> Path:
    """Root holding models/ and resources/: the PyInstaller dir when frozen, else the repo."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    return bundle_root() / "models"


def resources_dir() -> Path:
    return bundle_root() / "resources"


def _user_dir(kind: str) -> Path:
    home = os.environ.get("SKETCHLAB_HOME")
    if home:
        path = Path(home) / kind
    else:
        fn = {"data": appdirs.user_data_dir, "config": appdirs.user_config_dir,
              "cache": appdirs.user_cache_dir, "log": appdirs.user_log_dir}[kind]
        path = Path(fn(APP_NAME, APP_AUTHOR))
    return private_dir(path)


def secure_user_dirs() -> int:
    """Start-up migration: older versions left 0644 files in 0755 folders."""
    return sum(secure_tree(_user_dir(kind)) for kind in ("data", "config", "cache", "log"))


def private_process() -> int:
    """At program start: whatever this process creates is owner-only (umask 077), and
    user folders from older versions are made private. Returns files/folders fixed."""
    os.umask(0o077)
    return secure_user_dirs()


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
