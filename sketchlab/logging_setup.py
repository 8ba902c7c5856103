"""Configure logging once per process: stderr for warnings, a rotating file for everything.

On stderr every record is one line (tracebacks and multi-line messages folded) so an
error reads as one error; the file keeps the full detail. Python warnings (PIL's, for
instance) go through logging too, so they follow the same rule.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

from sketchlab.core import paths
from sketchlab.core.atomic import open_private_append


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log names cases and files: each log file is created 0600, rollovers included."""

    def _open(self):  # type: ignore[no-untyped-def]
        return os.fdopen(open_private_append(self.baseFilename), "a", encoding=self.encoding,
                         errors=self.errors)


FILE_ONLY = {"file_only": True}  # `extra=` for records meant for the log file only


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None,
                                        "exc_text": None, "stack_info": None})
        return " | ".join(line for line in super().format(record).splitlines() if line.strip())


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def log_file() -> str:
    return str(paths.user_log_dir() / "sketchlab.log")


def configure(verbose: bool = False) -> None:
    root = logging.getLogger()
    if getattr(root, "_sketchlab_configured", False):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    stderr.addFilter(_not_file_only)
    root.addHandler(stderr)
    logging.captureWarnings(True)
    if os.environ.get("SKETCHLAB_NO_LOG_FILE") != "1":
        try:
            fh = _PrivateRotatingFileHandler(
                log_file(), maxBytes=2_000_000, backupCount=3,
                encoding="utf-8")
            fh.setFormatter(logging.Formatter(
                "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
            root.addHandler(fh)
        except OSError as exc:  # read-only home: log to stderr only
            root.warning("file logging disabled: %s", exc)
    root._sketchlab_configured = True  # type: ignore[attr-defined]
