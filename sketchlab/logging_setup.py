"""Configure logging once per process: stderr for warnings, a rotating file for everything."""

from __future__ import annotations

import logging
import logging.handlers
import os

from sketchlab import paths
from sketchlab.core.atomic import open_private_append


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log names cases and files: each log file is created 0600, rollovers included."""

    def _open(self):  # type: ignore[no-untyped-def]
        return os.fdopen(open_private_append(self.baseFilename), "a", encoding=self.encoding,
                         errors=self.errors)


def configure(verbose: bool = False) -> None:
    root = logging.getLogger()
    if getattr(root, "_sketchlab_configured", False):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    if os.environ.get("SKETCHLAB_NO_LOG_FILE") != "1":
        try:
            fh = _PrivateRotatingFileHandler(
                paths.user_log_dir() / "sketchlab.log", maxBytes=2_000_000, backupCount=3,
                encoding="utf-8")
            fh.setFormatter(logging.Formatter(
                "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
            root.addHandler(fh)
        except OSError as exc:  # read-only home: log to stderr only
            root.warning("file logging disabled: %s", exc)
    root._sketchlab_configured = True  # type: ignore[attr-defined]
