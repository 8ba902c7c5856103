"""The sketch being drawn: pixels, the strokes that made them, and per-stroke undo.

Pixels are a numpy (H, W, 3) uint8 array in the network's canonical 4:5 frame, so the
canvas goes to `prepare_sketch(source="canvas")` with no alignment. Each stroke's undo
command keeps the exact before/after pixels of the rectangle it touched, so undo and redo
restore the canvas bit for bit and cost memory in proportion to the stroke, not the canvas.

On disk a sketch is `NAME.png` (what you see), `NAME.strokes.json` (the strokes since
the last clear or import, to replay and edit them) and, when the strokes sit on an
imported image, `NAME.background.png`. Every file is written atomically.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack

from sketchlab.core.atomic import write_text
from sketchlab.core.frame import FRAME_SIZE
from sketchlab.core.imageio import ImageLoadError, load_image, save_image
from sketchlab.ui.brush import BrushParams, Rect, Stroke, StrokeRenderer

log = logging.getLogger(__name__)

CANVAS_SIZE = (4 * FRAME_SIZE[0], 4 * FRAME_SIZE[1])  # (height, width): 4x the network frame
SIDECAR_FORMAT = "sketchlab-strokes"
SIDECAR_VERSION = 1


class SketchFileError(ValueError):
    """A sketch file or its stroke data cannot be used; the message says why."""


def sidecar_path(png: Path) -> Path:
    return png.with_name(png.stem + ".strokes.json")


def background_path(png: Path) -> Path:
    return png.with_name(png.stem + ".background.png")


class _StrokeCommand(QUndoCommand):
    def __init__(self, doc: SketchDocument, stroke: Stroke, rect: Rect, before: np.ndarray,
                 after: np.ndarray) -> None:
        super().__init__("Eraser stroke" if stroke.params.eraser else "Brush stroke")
        self.doc, self.stroke, self.rect = doc, stroke, rect
        self.before, self.after = before, after
        self._applied = True  # the renderer already painted it live

    def redo(self) -> None:
        if self._applied:
            self._applied = False
        else:
            self.doc._write(self.rect, self.after)
        self.doc.strokes.append(self.stroke)
        self.doc.changed.emit()

    def undo(self) -> None:
        self.doc._write(self.rect, self.before)
        self.doc.strokes.pop()
        self.doc.changed.emit()


class _ReplaceCommand(QUndoCommand):
    """Clear, import and open: swap the whole canvas (and its stroke history)."""

    def __init__(self, doc: SketchDocument, text: str, pixels: np.ndarray,
                 strokes: list[Stroke] | None = None) -> None:
        super().__init__(text)
        self.doc = doc
        self.old = (doc.pixels.copy(), doc.background.copy(), list(doc.strokes))
        bg = pixels.copy()
        self.new = (pixels.copy(), bg, list(strokes or []))

    def _apply(self, state: tuple[np.ndarray, np.ndarray, list[Stroke]]) -> None:
        pixels, bg, strokes = state
        self.doc.pixels[...] = pixels
        self.doc.background = bg.copy()
        self.doc.strokes = list(strokes)
        self.doc.changed.emit()

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class SketchDocument(QObject):
    """Canvas pixels + strokes + QUndoStack. `changed` fires on every visible change."""

    changed = Signal()

    def __init__(self, size: tuple[int, int] = CANVAS_SIZE, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self.size = size
        self.pixels = np.full((*size, 3), 255, np.uint8)
        self.background = self.pixels.copy()
        self.strokes: list[Stroke] = []
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(500)
        self._renderer: StrokeRenderer | None = None
        self._stroke: Stroke | None = None
        self.revision = 0  # bumps on every change; autosave compares it
        self.changed.connect(self._bump)

    def _bump(self) -> None:
        self.revision += 1

    # --- drawing --------------------------------------------------------------------
    @property
    def drawing(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, params: BrushParams, pt: tuple[float, float, float, float, float]
                     ) -> Rect | None:
        if self._stroke is not None:
            self.end_stroke()
        self._stroke = Stroke(params, [])
        self._renderer = StrokeRenderer(self.pixels, params)
        return self.extend_stroke(pt)

    def extend_stroke(self, pt: tuple[float, float, float, float, float]) -> Rect | None:
        if self._stroke is None or self._renderer is None:
            return None
        self._stroke.points.append(tuple(float(v) for v in pt))  # type: ignore[arg-type]
        dirty = self._renderer.add(pt)
        if dirty is not None:
            self.changed.emit()
        return dirty

    def end_stroke(self) -> None:
        stroke, renderer = self._stroke, self._renderer
        self._stroke = self._renderer = None
        if stroke is None or renderer is None:
            return
        if renderer.bbox is None:
            return
        x0, y0, x1, y1 = renderer.bbox
        before = renderer.before[y0:y1, x0:x1].copy()
        after = self.pixels[y0:y1, x0:x1].copy()
        self.undo_stack.push(_StrokeCommand(self, stroke, renderer.bbox, before, after))

    def _write(self, rect: Rect, block: np.ndarray) -> None:
        x0, y0, x1, y1 = rect
        self.pixels[y0:y1, x0:x1] = block

    def replay(self, stroke: Stroke) -> None:
        """Draw a stored stroke through the same code path as live input (one undo step)."""
        if not stroke.points:
            return
        self.begin_stroke(stroke.params, stroke.points[0])
        for pt in stroke.points[1:]:
            self.extend_stroke(pt)
        self.end_stroke()

    # --- whole-canvas edits ---------------------------------------------------------
    @property
    def is_blank(self) -> bool:
        return bool((self.pixels == 255).all())

    def clear(self) -> None:
        if self.drawing:
            self.end_stroke()
        self.undo_stack.push(_ReplaceCommand(self, "Clear", np.full_like(self.pixels, 255)))

    def set_image(self, rgb: np.ndarray, text: str = "Import") -> None:
        """Replace the canvas with an image already in the canonical frame (any size)."""
        if self.drawing:
            self.end_stroke()
        self.undo_stack.push(_ReplaceCommand(self, text, self._fit(rgb)))

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        h, w = self.size
        if rgb.shape[:2] == (h, w):
            return np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        interp = cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_CUBIC
        return cv2.resize(rgb[..., :3], (w, h), interpolation=interp)

    def qimage(self) -> QImage:
        """A QImage view of the pixels (no copy); valid while the document lives."""
        h, w = self.size
        return QImage(self.pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)

    def snapshot(self) -> np.ndarray:
        return self.pixels.copy()

    # --- files ----------------------------------------------------------------------
    def save(self, png: Path) -> None:
        """Write PNG + stroke sidecar (+ background when not plain paper), atomically."""
        self.write(png)
        self.undo_stack.setClean()
        log.info("saved sketch %s (%d strokes)", png, len(self.strokes))

    def write(self, png: Path) -> None:
        """Write the files without marking the document saved (autosave uses this)."""
        png = Path(png)
        bg_file = background_path(png)
        has_bg = not bool((self.background == 255).all())
        if has_bg:
            save_image(bg_file, self.background)
        side = {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
                "width": self.size[1], "height": self.size[0],
                "background": bg_file.name if has_bg else None,
                "strokes": [s.to_json() for s in self.strokes]}
        write_text(sidecar_path(png), json.dumps(side, separators=(",", ":")))
        save_image(png, self.pixels)
        if not has_bg and bg_file.exists():
            bg_file.unlink()

    def open(self, png: Path) -> bool:
        """Load a saved sketch. True when its strokes were replayed (so they can be undone).

        Without a usable sidecar the PNG is loaded as a flat image.
        """
        png = Path(png)
        pixels = load_image(png)
        if pixels.shape[0] * 4 != pixels.shape[1] * 5:
            raise SketchFileError(f"{png.name} is {pixels.shape[1]}x{pixels.shape[0]}, not a "
                                  "4:5 sketch canvas; use File > Import to align it first")
        side = sidecar_path(png)
        strokes: list[Stroke] = []
        background = np.full((*self.size, 3), 255, np.uint8)
        replayable = False
        if side.is_file() and pixels.shape[:2] == self.size:
            try:
                data = json.loads(side.read_text(encoding="utf-8"))
                if data.get("format") != SIDECAR_FORMAT:
                    raise SketchFileError("not a SketchLab stroke file")
                strokes = [Stroke.from_json(s) for s in data.get("strokes", [])]
                if data.get("background"):
                    background = self._fit(load_image(png.with_name(data["background"])))
                replayable = True
            except (OSError, ValueError, KeyError, TypeError, ImageLoadError) as exc:
                log.warning("ignoring stroke data of %s: %s", png, exc)
        if replayable:
            self.undo_stack.clear()
            self.pixels[...] = background
            self.background = background.copy()
            self.strokes = []
            for s in strokes:
                self.replay(s)
            if not np.array_equal(self.pixels, pixels):
                log.warning("%s: strokes do not reproduce the PNG (edited elsewhere?); "
                            "loading the PNG flat", png)
                replayable = False
        if not replayable:
            self.undo_stack.clear()
            self.pixels[...] = self._fit(pixels)
            self.background = self.pixels.copy()
            self.strokes = []
        self.undo_stack.setClean()
        self.changed.emit()
        return replayable

