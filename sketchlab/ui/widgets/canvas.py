"""The drawing surface: tablet and mouse input, zoom/pan, face guide, drag-and-drop.

Input habits follow Krita/MyPaint: the stylus tip draws with pressure and tilt, the
eraser end erases whatever tool is selected, the wheel zooms about the cursor, space+drag
or the middle button pans. Tablet events are accepted so Qt does not also synthesize
mouse events from them (which would draw every stroke twice).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPointingDevice,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from sketchlab.core import frame
from sketchlab.core.imageio import IMAGE_SUFFIXES
from sketchlab.ui.brush import BrushParams, dab_radius
from sketchlab.ui.document import SketchDocument

log = logging.getLogger(__name__)

MIN_ZOOM, MAX_ZOOM = 0.1, 16.0


class CanvasView(QWidget):
    """Shows a SketchDocument and turns pointer input into strokes."""

    files_dropped = Signal(list)  # list[Path]
    zoom_changed = Signal(float)
    stroke_moved = Signal()

    def __init__(self, document: SketchDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.brush = BrushParams()
        self.eraser_size = 24.0
        self.tool = "brush"  # "brush" | "eraser"
        self.show_guide = True
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._fit_pending = True
        self._space = False
        self._pan_from: QPointF | None = None
        self._hover: QPointF | None = None
        self._stylus_eraser = False
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 300)
        self.setCursor(Qt.CursorShape.CrossCursor)
        document.changed.connect(self.update)

    # --- view transform -------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def _transform(self) -> QTransform:
        t = QTransform()
        t.translate(self._offset.x(), self._offset.y())
        t.scale(self._zoom, self._zoom)
        return t

    def to_canvas(self, pos: QPointF) -> QPointF:
        return QPointF((pos.x() - self._offset.x()) / self._zoom,
                       (pos.y() - self._offset.y()) / self._zoom)

    def fit(self) -> None:
        h, w = self.document.size
        margin = 16
        z = min((self.width() - margin) / w, (self.height() - margin) / h)
        self._zoom = max(MIN_ZOOM, min(MAX_ZOOM, z))
        self._offset = QPointF((self.width() - w * self._zoom) / 2,
                               (self.height() - h * self._zoom) / 2)
        self._fit_pending = False
        self.zoom_changed.emit(self._zoom)
        self.update()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.to_canvas(anchor)
        self._zoom = zoom
        self._offset = QPointF(anchor.x() - before.x() * zoom, anchor.y() - before.y() * zoom)
        self._fit_pending = False
        self.zoom_changed.emit(zoom)
        self.update()

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / 1.25)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_pending:
            self.fit()

    # --- tools ----------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self.update()

    def set_guide_visible(self, on: bool) -> None:
        self.show_guide = on
        self.update()

    def current_params(self, eraser: bool = False) -> BrushParams:
        if eraser or self.tool == "eraser":
            return BrushParams(size=self.eraser_size, hardness=self.brush.hardness,
                               opacity=1.0, eraser=True)
        return self.brush

    def active_size(self) -> float:
        return self.eraser_size if self.tool == "eraser" else self.brush.size

    # --- painting -------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(58, 60, 64))
        h, w = self.document.size
        p.setTransform(self._transform())
        if self._zoom < 2:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRectF(0, 0, w, h), self.document.qimage())
        if self.show_guide:
            self._paint_guide(p, w, h)
        p.resetTransform()
        if self._hover is not None and not self._space:
            r = dab_radius(self.current_params(), 1.0) * self._zoom
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(QColor(255, 255, 255, 200), 1))
            p.drawEllipse(self._hover, r + 1, r + 1)
            p.setPen(QPen(QColor(0, 0, 0, 200), 1))
            p.drawEllipse(self._hover, r, r)
        p.end()

    def _paint_guide(self, p: QPainter, w: int, h: int) -> None:
        """The canonical frame, from the measured constants the network was trained with.

        Eyes and mouth come from preprocess (dlib landmarks on CUFS), the face box (brows
        to chin) from frame.FACE_BOX, the hair-to-neck extent from HEAD_BOX.
        """
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(40, 140, 220, 150), 1.5 / self._zoom, Qt.PenStyle.DashLine)
        p.setPen(pen)
        _top, right, bottom, left = frame.FACE_BOX
        head_top = frame.HEAD_BOX[1]
        cx = (frame.LEFT_EYE[0] + frame.RIGHT_EYE[0]) / 2  # face centre line
        half = (right - left) / 2 + 0.03
        head = QRectF((cx - half) * w, (head_top + 0.03) * h, 2 * half * w,
                      (bottom - head_top - 0.03) * h)
        p.drawEllipse(head)
        neck = QPainterPath()
        for x in (cx - 0.11, cx + 0.11):
            neck.moveTo(x * w, (bottom - 0.04) * h)
            neck.lineTo(x * w, frame.HEAD_BOX[3] * h)
        p.drawPath(neck)
        eye_y = (frame.LEFT_EYE[1] + frame.RIGHT_EYE[1]) / 2 * h
        p.drawLine(QPointF(head.left(), eye_y), QPointF(head.right(), eye_y))
        p.drawLine(QPointF(cx * w, head.top()), QPointF(cx * w, head.bottom()))
        p.setPen(QPen(QColor(40, 140, 220, 190), 1.5 / self._zoom))
        for fx, fy in (frame.LEFT_EYE, frame.RIGHT_EYE):
            p.drawEllipse(QPointF(fx * w, fy * h), 0.055 * w, 0.022 * h)
        mx, my = frame.MOUTH[0] * w, frame.MOUTH[1] * h
        p.drawLine(QPointF(mx - 0.09 * w, my), QPointF(mx + 0.09 * w, my))

    # --- stroke input -----------------------------------------------------------------
    def _point(self, pos: QPointF, pressure: float, xt: float = 0.0, yt: float = 0.0
               ) -> tuple[float, float, float, float, float]:
        c = self.to_canvas(pos)
        return (c.x(), c.y(), pressure, xt, yt)

    def _begin(self, pt: tuple[float, float, float, float, float], eraser: bool) -> None:
        self.document.begin_stroke(self.current_params(eraser), pt)

    def _move(self, pt: tuple[float, float, float, float, float]) -> None:
        if self.document.drawing:
            self.document.extend_stroke(pt)
            self.stroke_moved.emit()

    def _end(self) -> None:
        if self.document.drawing:
            self.document.end_stroke()

    def tabletEvent(self, event: QTabletEvent) -> None:
        pos = event.position()
        self._hover = pos
        etype = event.type()
        if self._space or self._pan_from is not None:
            self._pan_event(etype, pos, event.buttons() != Qt.MouseButton.NoButton)
            event.accept()
            return
        eraser = event.pointerType() == QPointingDevice.PointerType.Eraser
        pt = self._point(pos, event.pressure(), event.xTilt(), event.yTilt())
        if etype == QTabletEvent.Type.TabletPress:
            self._stylus_eraser = eraser
            self._begin(pt, eraser)
        elif etype == QTabletEvent.Type.TabletMove:
            self._move(pt)
        elif etype == QTabletEvent.Type.TabletRelease:
            self._move(pt)
            self._end()
        event.accept()
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(self._point(pos, 1.0), False)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._hover = pos
        if self._pan_from is not None:
            self._pan_to(pos)
            return
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move(self._point(pos, 1.0))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space
                           else Qt.CursorShape.CrossCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._move(self._point(event.position(), 1.0))
            self._end()

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()

    # --- pan / zoom -----------------------------------------------------------------
    def _pan_event(self, etype: QTabletEvent.Type, pos: QPointF, down: bool) -> None:
        if etype == QTabletEvent.Type.TabletPress:
            self._pan_from = pos
        elif etype == QTabletEvent.Type.TabletMove and self._pan_from is not None and down:
            self._pan_to(pos)
        elif etype == QTabletEvent.Type.TabletRelease:
            self._pan_from = None

    def _pan_to(self, pos: QPointF) -> None:
        assert self._pan_from is not None
        self._offset += pos - self._pan_from
        self._pan_from = pos
        self._fit_pending = False
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self._zoom * (1.25 ** steps), event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self.setCursor(Qt.CursorShape.CrossCursor)
            return
        super().keyReleaseEvent(event)

    # --- drag and drop --------------------------------------------------------------
    @staticmethod
    def _image_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        md = event.mimeData()
        if not md.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in md.urls()
                if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._image_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._image_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
