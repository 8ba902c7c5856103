"""What the desktop app records in the open case, and when (no Qt: the panel forwards).

Live preview inverts after every stroke; recording each of those would bury the log in
previews nobody relied on. So the recorder keeps the newest *final* inversion and
records it when it is used:

* saving the sketch records a sketch version (image + strokes; an unchanged image is
  not recorded twice) and the newest inversion with it;
* a gallery search records the inversion it searched with (first recording the network
  input as an automatic sketch version if nothing was saved yet) and then the match run.

Each inversion keeps its exact network input as an artefact, so the record says what
was inverted even when the canvas moved on between the inversion and the save.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sketchlab.cases.records import GalleryIdentity
from sketchlab.cases.store import CaseError, CaseStore

log = logging.getLogger(__name__)

AUTO_NOTE = "automatic: the canvas as searched (not saved as a file)"


def strokes_sidecar(png: Path) -> Path:
    """`NAME.strokes.json` beside `NAME.png` (the canvas's save format)."""
    return png.with_name(png.stem + ".strokes.json")


def model_sha256(model: str) -> str:
    """The weights hash of an installed model name or a model file path ('' if unknown)."""
    from sketchlab.core.checkpoint import CheckpointError, read_metadata
    from sketchlab.core.model_catalog import list_models

    for m in list_models():
        if model in (m.name, str(m.path)):
            return m.sha256
    try:
        return read_metadata(Path(model)).get("sha256", "")
    except (CheckpointError, OSError):
        return ""


class CaseRecorder:
    """Turns app events (saved sketch, inversion result, match outcome) into case records."""

    def __init__(self, store: CaseStore, case: str | None = None) -> None:
        self.store = store
        self.case: str | None = None
        self._pending: Any = None  # newest final inversion result, not yet recorded
        self._recorded: dict[int, int] = {}  # id(result) -> inversion number
        self._keep: list[Any] = []  # results recorded, kept so their ids stay unique
        self._sha_cache: dict[str, str] = {}
        if case is not None:
            self.open(case)

    def open(self, case: str | None) -> None:
        """Switch to a case (number or UID), or to none."""
        self.case = self.store.get(case).info.uid if case else None
        self._pending = None
        self._recorded.clear()
        self._keep.clear()

    def note_model(self, name: str, sha256: str) -> None:
        """The app loaded this model: use its hash (the catalog may not list it)."""
        self._sha_cache[name] = sha256

    def _sha(self, model: str) -> str:
        if model not in self._sha_cache:
            self._sha_cache[model] = model_sha256(model)
        return self._sha_cache[model]

    def on_inversion(self, result: Any) -> None:
        if getattr(result, "final", True) and getattr(result, "photo", None) is not None:
            self._pending = result

    def on_sketch_saved(self, png: str | Path) -> int | None:
        """Record the saved sketch as a new version; returns it (None when no case is open)."""
        if self.case is None:
            return None
        png = Path(png)
        data = png.read_bytes()
        side = strokes_sidecar(png)
        strokes = side.read_bytes() if side.is_file() else None
        case = self.store.get(self.case)
        latest = case.sketch()
        from sketchlab.core.hashing import sha256_bytes

        if latest is not None and latest.image_sha256 == sha256_bytes(data):
            version = latest.version  # saved again without changes
        else:
            version = self.store.add_sketch(self.case, data, strokes=strokes,
                                            note=f"saved as {png.name}")
        if self._pending is not None and id(self._pending) not in self._recorded:
            self._record_inversion(self._pending, version)
        return version

    def _record_inversion(self, result: Any, version: int) -> int:
        number = self.store.add_inversion(
            self.case, version, result.photo, model_name=str(result.model),
            model_sha256=self._sha(str(result.model)), device=str(result.device_label),
            ms=float(result.ms), settings={"colour": bool(getattr(result, "colour", False)),
                                           "source": "canvas",
                                           "resolution": list(result.photo.shape[:2])},
            input_image=result.sketch)
        self._recorded[id(result)] = number
        self._keep.append(result)
        return number

    def on_match(self, outcome: Any, gallery_fingerprint: str = "") -> int | None:
        """Record the inversion searched with (if new) and the match run; returns its number."""
        if self.case is None:
            return None
        q = outcome.query
        inversion = self._recorded.get(id(q))
        if inversion is None:
            case = self.store.get(self.case)
            version = (case.sketch().version if case.sketches else
                       self.store.add_sketch(self.case, q.sketch, note=AUTO_NOTE))
            inversion = self._record_inversion(q, version)
        gallery = GalleryIdentity(location=str(outcome.gallery_url),
                                  fingerprint=gallery_fingerprint
                                  or str(getattr(outcome, "gallery_fingerprint", "")),
                                  size=int(outcome.gallery_size))
        return self.store.add_match(self.case, list(outcome.candidates), gallery,
                                    threshold=float(outcome.threshold), k=int(outcome.k),
                                    inversion=inversion)


__all__ = ["AUTO_NOTE", "CaseError", "CaseRecorder", "model_sha256", "strokes_sidecar"]
