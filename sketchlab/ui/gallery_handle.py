"""One lazily opened gallery database shared by the match panel and the gallery manager,
and the one search index (`Matcher`) every search of it goes through.

Opening may migrate the schema (and back the file up first), so it happens on a worker
thread the first time a job needs it, never on the UI thread. The Matcher keeps the
gallery's descriptors in memory and reloads them only when the gallery changes, so one
is kept per open gallery rather than built per search.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sketchlab.db.gallery import Gallery
    from sketchlab.db.search import Matcher

log = logging.getLogger(__name__)


class GalleryHandle:
    def __init__(self, url: str = "") -> None:
        self._url = url
        self._gallery: Gallery | None = None
        self._matcher: Matcher | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    def display_url(self) -> str:
        from sketchlab.db.engine import default_url

        return self._url or default_url()

    def get(self) -> Gallery:
        """The open gallery (opening it on first use); thread-safe."""
        with self._lock:
            return self._open_locked()

    def matcher(self) -> Matcher:
        """The search index over the open gallery (built on first use); thread-safe."""
        from sketchlab.db.search import Matcher

        with self._lock:
            gallery = self._open_locked()
            if self._matcher is None:
                self._matcher = Matcher(gallery)
            return self._matcher

    def _open_locked(self) -> Gallery:
        from sketchlab.db.gallery import open_gallery

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
            self._matcher = None
