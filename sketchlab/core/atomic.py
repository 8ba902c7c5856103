"""Write a file so that a crash never leaves it half-written under its final name.

Bytes go to a temp file beside the target (same filesystem, so the rename is atomic),
are fsynced, then renamed over it; on any failure the temp file is removed. The temp
name is unique per call, so two processes writing the same target (DDP ranks, two app
instances) cannot rename each other's temp away. Files are created owner-only (0600),
which suits case artefacts, bundles, models and caches.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Yield a binary file to write; on clean exit it replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
