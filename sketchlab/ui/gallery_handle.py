"""One lazily opened gallery database shared by the match panel and the gallery manager.

Opening may migrate the schema (and back the file up first), so it happens on a worker
thread the first time a job needs it, never on the UI thread.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sketchlab.db.gallery import Gallery

log = logging.getLogger(__name__)


class GalleryHandle:
    def __init__(self, url: str = "") -> None:
        self._url = url
        self._gallery: Gallery | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    def display_url(self) -> str:
        from sketchlab.db.engine import default_url

        return self._url or default_url()

    def get(self) -> Gallery:
        """The open gallery (opening it on first use); thread-safe."""
        from sketchlab.db.gallery import open_gallery

        with self._lock:
            if self._gallery is None:
                self._gallery = open_gallery(self._url or None)
                log.info("gallery opened: %r", self._gallery)
            return self._gallery

    def set_url(self, url: str) -> None:
        with self._lock:
            if url == self._url:
                return
            self._close_locked()
            self._url = url

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._gallery is not None:
            try:
                self._gallery.close()
            except Exception:  # closing must never take the app down
                log.exception("closing the gallery failed")
            self._gallery = None
