"""Import a sketch file or a photo of one: automatic alignment, then a preview to correct it.

The automatic part is `sketchlab.core.preprocess` (paper normalisation, landmarks or the
ink box). It runs on a worker thread because the first landmark search loads dlib (~2 s).
The user can then move (drag), scale (wheel or slider) and rotate the sketch inside the
canonical frame, with the face guide drawn over the preview, before accepting.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from sketchlab.core import frame, preprocess
from sketchlab.core.imageio import ImageLoadError, load_image
from sketchlab.ui.qtimage import qimage_from_rgb
from sketchlab.ui.workers import Job

log = logging.getLogger(__name__)

_MAX_SIDE = 2048


@dataclass(frozen=True)
class ImportAnalysis:
    """What the worker found: the cleaned source and the automatic source->frame matrix."""

    source: np.ndarray  # original RGB (downscaled to <= 2048 px)
    clean: np.ndarray  # paper-normalised (grey unless colour), same size as `source`
    matrix: np.ndarray  # 2x3, clean pixels -> frame pixels
    method: str
    colour: bool


def load_downscaled(path: Path, max_side: int = _MAX_SIDE) -> np.ndarray:
    """Decode an image at no more than about `max_side` px on its long side.

    `load_image` decodes a large picture small (a JPEG at 1/2, 1/4 or 1/8 scale by
    libjpeg itself, others box-averaged right after decoding) and runs every check on
    the file, the damage checks included; the rest is area-downscaled here.
    """
    rgb = load_image(path, max_side=max_side)
    s = min(1.0, max_side / max(rgb.shape[:2]))
    if s < 1.0:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)),
                         interpolation=cv2.INTER_AREA)
    return rgb


def analyse(path: Path, frame: tuple[int, int], align: bool = True,
            cancel: threading.Event | None = None) -> ImportAnalysis | None:
    """Load, clean and auto-align an image (runs off the UI thread); None when cancelled.

    Everything runs on a copy of at most 2048 px (face detection itself on 640 px), so
    the time and memory needed do not grow with the camera's resolution.
    """
    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    rgb = load_downscaled(path)
    if cancelled():
        return None
    colour = preprocess.is_colour(rgb)
    clean = preprocess.normalise_paper(rgb) if align else rgb
    if not colour:
        clean = np.repeat(cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    if cancelled():
        return None
    prep = preprocess.prepare_sketch(rgb, frame=frame, source="auto" if align else "canvas")
    return ImportAnalysis(rgb, clean, prep.transform.matrix, prep.transform.method, colour)


def adjusted(matrix: np.ndarray, frame: tuple[int, int], dx: float, dy: float, scale: float,
             angle_deg: float) -> np.ndarray:
    """The automatic matrix followed by a user correction about the frame centre."""
    h, w = frame
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, scale)
    rot[:, 2] += (dx, dy)
    a = np.vstack([rot, [0, 0, 1]]) @ np.vstack([matrix, [0, 0, 1]])
    return a[:2]


class _Preview(QWidget):
    """The sketch as it will land on the canvas, with the face guide; drag/wheel adjust."""

    moved = Signal(float, float)  # frame pixels
    zoomed = Signal(float)  # multiplicative

    def __init__(self, frame: tuple[int, int]) -> None:
        super().__init__()
        self.frame = frame
        self.image: np.ndarray | None = None
        self._drag: QPointF | None = None
        self.setMinimumSize(256, 320)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def _scale(self) -> float:
        h, w = self.frame
        return min(self.width() / w, self.height() / h)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(58, 60, 64))
        h, w = self.frame
        s = self._scale()
        ox, oy = (self.width() - w * s) / 2, (self.height() - h * s) / 2
        target = QRectF(ox, oy, w * s, h * s)
        if self.image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(target, qimage_from_rgb(self.image))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(40, 140, 220, 170), 1.5, Qt.PenStyle.DashLine))
        for fx, fy in (frame.LEFT_EYE, frame.RIGHT_EYE):
            p.drawEllipse(QPointF(ox + fx * w * s, oy + fy * h * s), 0.055 * w * s, 0.022 * h * s)
        my = oy + frame.MOUTH[1] * h * s
        p.drawLine(QPointF(ox + 0.40 * w * s, my), QPointF(ox + 0.60 * w * s, my))
        x0, y0, x1, y1 = frame.HEAD_BOX
        p.drawRect(QRectF(ox + x0 * w * s, oy + y0 * h * s, (x1 - x0) * w * s,
                          (y1 - y0) * h * s))
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self._drag = e.position()
        self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._drag is not None:
            d = (e.position() - self._drag) / self._scale()
            self._drag = e.position()
            self.moved.emit(d.x(), d.y())

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.zoomed.emit(1.05 ** steps)


class _SourceView(QWidget):
    """The original image with the crop (the canonical frame mapped back) drawn on it."""

    def __init__(self) -> None:
        super().__init__()
        self.image: np.ndarray | None = None
        self.corners: np.ndarray | None = None  # 4x2 source pixels
        self.setMinimumSize(256, 320)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(58, 60, 64))
        if self.image is not None:
            h, w = self.image.shape[:2]
            s = min(self.width() / w, self.height() / h)
            ox, oy = (self.width() - w * s) / 2, (self.height() - h * s) / 2
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(QRectF(ox, oy, w * s, h * s), qimage_from_rgb(self.image))
            if self.corners is not None:
                p.setRenderHint(QPainter.RenderHint.Antialiasing)
                p.setPen(QPen(QColor(230, 120, 30), 2))
                p.drawPolygon(QPolygonF([QPointF(ox + x * s, oy + y * s)
                                         for x, y in self.corners]))
        p.end()


class ImportDialog(QDialog):
    """Shows the automatic alignment of an imported sketch and lets the user correct it."""

    analysed = Signal()

    def __init__(self, path: Path, frame: tuple[int, int], parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.frame = frame
        self.analysis: ImportAnalysis | None = None
        self.result_image: np.ndarray | None = None
        self.error: Exception | None = None
        self._worker: Job | None = None
        self.setWindowTitle(f"Import sketch: {self.path.name}")
        self.source_view = _SourceView()
        self.preview = _Preview(frame)
        self.preview.moved.connect(self._on_moved)
        self.preview.zoomed.connect(lambda f: self.scale.setValue(self.scale.value() * f))
        self.status = QLabel("Finding the face…")
        self.status.setWordWrap(True)

        self.align = QComboBox()
        self.align.addItem("Automatic (face landmarks, else the ink outline)", True)
        self.align.addItem("None: the image is already framed like the canvas", False)
        self.align.currentIndexChanged.connect(self._analyse)
        self.dx, self.dy = QDoubleSpinBox(), QDoubleSpinBox()
        for sb in (self.dx, self.dy):
            sb.setRange(-2000, 2000)
            sb.setSuffix(" px")
            sb.setDecimals(1)
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.2, 5.0)
        self.scale.setSingleStep(0.02)
        self.scale.setDecimals(3)
        self.scale.setValue(1.0)
        self.angle = QDoubleSpinBox()
        self.angle.setRange(-45, 45)
        self.angle.setSingleStep(0.5)
        self.angle.setSuffix("°")
        for sb in (self.dx, self.dy, self.scale, self.angle):
            sb.valueChanged.connect(self._update_preview)
        reset = QPushButton("Reset correction")
        reset.clicked.connect(self._reset)

        form = QFormLayout()
        form.addRow("Alignment", self.align)
        form.addRow("Move right", self.dx)
        form.addRow("Move down", self.dy)
        form.addRow("Scale", self.scale)
        form.addRow("Rotate", self.angle)
        form.addRow("", reset)
        views = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(QLabel("Source (orange: what lands on the canvas)"))
        left.addWidget(self.source_view, 1)
        right.addWidget(QLabel("On the canvas (drag to move, wheel to scale; blue: face guide)"))
        right.addWidget(self.preview, 1)
        views.addLayout(left, 1)
        views.addLayout(right, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(views, 1)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.resize(820, 720)
        self._set_ready(False)
        self._analyse()

    def _set_ready(self, ready: bool) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)

    def _analyse(self) -> None:
        self._stop_worker()
        self._set_ready(False)
        self.status.setText("Finding the face…")
        job = create_worker(analyse, self.path, self.frame, bool(self.align.currentData()),
                            _worker_class=Job, _start_thread=False, _ignore_errors=True)
        # Through the job: a result of one that was let go of (Cancel, a new alignment
        # mode) may already be queued, and must not reach a closed or reset dialog.
        # (_ignore_errors: `errored` is connected here, not re-raised by superqt.)
        job.returned.connect(lambda a: self._on_analysed(job, a))
        job.errored.connect(lambda e: self._on_error(job, e))
        job.expected_errors = (ImageLoadError,)  # "not an image": said in a message box
        self._worker = job
        job.start()

    def _on_analysed(self, job: Job, a: ImportAnalysis | None) -> None:
        if job is not self._worker or a is None:  # let go of, or cancelled
            return
        self.analysis = a
        how = {"landmarks": "aligned on the eyes and mouth found by the face detector",
               "ink_bbox": "no face landmarks found: fitted the outline of the strokes; "
                           "check the eyes sit on the guide",
               "canvas": "used as drawn, no alignment",
               "empty": "the image looks empty"}.get(a.method, a.method)
        self.status.setText(f"{self.path.name}: {how}.")
        self.source_view.image = a.source
        self._update_preview()
        self._set_ready(a.method != "empty")
        self.analysed.emit()

    def _on_error(self, job: Job, exc: Exception) -> None:
        if job is not self._worker:
            return
        self.error = exc
        self.status.setText(f"Cannot import {self.path.name}: {exc}")
        self.analysed.emit()

    def _on_moved(self, dx: float, dy: float) -> None:
        self.dx.setValue(self.dx.value() + dx)
        self.dy.setValue(self.dy.value() + dy)

    def _reset(self) -> None:
        for sb, v in ((self.dx, 0.0), (self.dy, 0.0), (self.scale, 1.0), (self.angle, 0.0)):
            sb.setValue(v)

    def current_matrix(self) -> np.ndarray | None:
        if self.analysis is None:
            return None
        return adjusted(self.analysis.matrix, self.frame, self.dx.value(), self.dy.value(),
                        self.scale.value(), self.angle.value())

    def _update_preview(self) -> None:
        m = self.current_matrix()
        if m is None or self.analysis is None:
            return
        t = preprocess.AlignTransform(m, self.analysis.clean.shape[:2], self.frame, "canvas")
        self.result_image = preprocess.warp(self.analysis.clean, t, 255)
        self.preview.image = self.result_image
        h, w = self.frame
        self.source_view.corners = t.to_source(np.array([[0, 0], [w, 0], [w, h], [0, h]]))
        self.preview.update()
        self.source_view.update()

    def _stop_worker(self) -> None:
        """Let go of a running analysis at once (Cancel must not wait for dlib); it stops
        at its next check and its result is dropped, so it cannot touch this dialog."""
        if self._worker is not None:
            self._worker.quit()
            self._worker = None

    def done(self, r: int) -> None:
        self._stop_worker()
        super().done(r)

