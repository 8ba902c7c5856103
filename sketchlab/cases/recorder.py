"""What the desktop app records in the open case, and when (no Qt: the panel forwards).

Live preview inverts after every stroke; recording each of those would bury the log in
previews nobody relied on. So the recorder keeps the newest *final* inversion and
records inversions only when they are used:

* saving the sketch records a sketch version (image + strokes; an unchanged image is
  not recorded twice), and the newest inversion with it when that inversion is of the
  very picture saved;
* a gallery search records every photo it searched (one per sketch variant) as an
  inversion, then the match run naming those inversions.

Each inversion carries the exact image it consumed (`canvas`, the snapshot the worker
inverted), so the record never depends on what was saved: the store itself decides
which saved version, if any, that image equals.

The API, for any code that searches (e.g. N sketch variants per search):

* an inversion result is any object with `canvas` (RGB array: the image consumed; the
  network input `sketch` is used when absent), `sketch` (the network input), `photo`,
  `model`, `device_label`, `ms`, `colour`, and optionally `variant` (a JSON-able dict:
  how this input was varied from the canvas);
* `record_inversion(result) -> int` records one (once per result object);
* `record_search(queries, candidates, gallery, threshold, k, calibration) -> int`
  records the queries, then the match run; candidates may carry `stability` and
  `false_match_rate` (see `records.CandidateRecord`);
* `on_match(outcome)` does the same for a match panel outcome: `outcome.queries` (or
  `[outcome.query]`), `candidates`, `threshold`, `k`, `gallery_size`, `gallery_url`,
  optional `calibration`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sketchlab.cases.artefacts import rgb_sha256
from sketchlab.cases.records import GalleryIdentity
from sketchlab.cases.store import CaseError, CaseStore

log = logging.getLogger(__name__)


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


def consumed(result: Any) -> Any:
    """The image an inversion result consumed: the canvas snapshot, else its input."""
    canvas = getattr(result, "canvas", None)
    return canvas if canvas is not None else result.sketch


class CaseRecorder:
    """Turns app events (saved sketch, inversion result, match outcome) into case records."""

    def __init__(self, store: CaseStore, case: str | None = None) -> None:
        self.store = store
        self.case: str | None = None
        self._pending: Any = None  # newest final inversion result, not yet recorded
        # id(result) -> (result, inversion number); the result is kept so its id stays unique
        self._recorded: dict[int, tuple[Any, int]] = {}
        self._sha_cache: dict[str, str] = {}
        self._png: tuple[str, bytes] = ("", b"")  # rgb_sha256 -> PNG of the last source
        if case is not None:
            self.open(case)

    def open(self, case: str | None) -> None:
        """Switch to a case (number or UID), or to none."""
        self.case = self.store.get(case).info.uid if case else None
        self._pending = None
        self._recorded.clear()

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
        from sketchlab.core.hashing import sha256_bytes

        latest = self.store.get(self.case).sketch()
        if latest is not None and latest.image_sha256 == sha256_bytes(data):
            version = latest.version  # saved again without changes
        else:
            version = self.store.add_sketch(self.case, data, strokes=strokes,
                                            note=f"saved as {png.name}")
        saved = self.store.get(self.case).sketch(version)
        pending = self._pending
        if (pending is not None and id(pending) not in self._recorded
                and rgb_sha256(consumed(pending)) == self.store.version_pixels(saved)):
            self.record_inversion(pending)  # the photo on screen is of the saved picture
        return version

    def record_inversion(self, result: Any) -> int:
        """Record one inversion result (see the module doc); once per result object."""
        if self.case is None:
            raise CaseError("no case is open")
        if id(result) in self._recorded:
            return self._recorded[id(result)][1]
        if getattr(result, "photo", None) is None:
            raise CaseError("the canvas was empty: there is no photo to record")
        settings = {"colour": bool(getattr(result, "colour", False)), "source": "canvas",
                    "resolution": list(result.photo.shape[:2])}
        number = self.store.add_inversion(
            self.case, result.photo, source=self._source_png(consumed(result)),
            input_image=result.sketch,
            model_name=str(result.model), model_sha256=self._sha(str(result.model)),
            device=str(result.device_label), ms=float(result.ms), settings=settings,
            variant=getattr(result, "variant", None))
        self._recorded[id(result)] = (result, number)
        return number

    def _source_png(self, rgb: Any) -> bytes:
        """PNG bytes of a consumed image, encoded once for the N variants of one canvas."""
        from sketchlab.cases.store import png_bytes

        key = rgb_sha256(rgb)
        if self._png[0] != key:
            self._png = (key, png_bytes(rgb))
        return self._png[1]

    def on_photo_exported(self, result: Any, path: str | Path, factor: int = 1) -> int | None:
        """Record a synthesized photo written to a file (Ctrl+E): the inversion that made
        it, then the export with the file's hash; returns the entry's number (None: no
        case)."""
        if self.case is None:
            return None
        number = None if getattr(result, "photo", None) is None else self.record_inversion(result)
        return self.store.record_photo_export(self.case, path, inversion=number,
                                              factor=factor).seq

    def record_search(self, queries: Sequence[Any], candidates: Sequence[Any],
                      gallery: GalleryIdentity, threshold: float | None, k: int | None,
                      calibration: str = "") -> int:
        """Record the photos searched (each an inversion) and the match run naming them."""
        if self.case is None:
            raise CaseError("no case is open")
        numbers = [self.record_inversion(q) for q in queries]
        return self.store.add_match(self.case, list(candidates), gallery, threshold=threshold,
                                    k=k, inversions=numbers, calibration=calibration)

    def on_match(self, outcome: Any, gallery_fingerprint: str = "") -> int | None:
        """Record a match panel outcome; returns the match run number (None: no case)."""
        if self.case is None:
            return None
        queries = list(getattr(outcome, "queries", None) or [outcome.query])
        gallery = GalleryIdentity(location=str(outcome.gallery_url),
                                  fingerprint=gallery_fingerprint
                                  or str(getattr(outcome, "gallery_fingerprint", "")),
                                  size=int(outcome.gallery_size))
        return self.record_search(queries, outcome.candidates, gallery,
                                  threshold=float(outcome.threshold), k=int(outcome.k),
                                  calibration=str(getattr(outcome, "calibration", "") or ""))


__all__ = ["CaseError", "CaseRecorder", "consumed", "model_sha256", "strokes_sidecar"]
