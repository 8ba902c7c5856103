"""The live photo pane: the synthesized face, which model made it, where and how fast."""

from __future__ import annotations

import statistics
import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from sketchlab.ui.widgets.image_view import ImageView
from sketchlab.ui.workers import InversionResult, ModelStatus

NO_MODEL = ("No sketch-inversion model is installed.\n\nYou can keep drawing; the photo "
            "appears once a model is available. Put NAME.safetensors (with its NAME.md "
            "card) in the models folder and pick it in Settings.")
EMPTY = "Draw a face on the canvas (or import a sketch) to see the synthesized photo."


class PhotoPane(QWidget):
    """Shows InversionResults. Also records stroke-to-photo latency of final requests."""

    photo_shown = Signal(object)  # InversionResult, after it is on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView(EMPTY)
        self.view.setToolTip("The photo the model synthesizes from the sketch on the canvas")
        self.info = QLabel("Loading model…")
        self.info.setObjectName("photoInfo")
        self.info.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Synthesized photo</b>")
        lay.addWidget(title)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.info)
        self.status: ModelStatus | None = None
        self.last: InversionResult | None = None
        self.latencies_ms: list[float] = []  # last stroke -> photo on screen, final requests
        self.stage_log: list[dict[str, float]] = []  # per final photo: ms spent in each step

    def set_model_status(self, status: ModelStatus | None, message: str | None = None) -> None:
        self.status = status
        if status is None:
            self.last = None
            self.view.set_image(None, message or NO_MODEL)
            self.info.setText("No model loaded")
        else:
            self.info.setText(f"{status.name} · {status.device_label} · waiting for a sketch")

    def show_loading(self, model: str) -> None:
        self.info.setText(f"Loading {model}…")

    def show_result(self, result: InversionResult) -> None:
        t0 = time.perf_counter()
        self.last = result
        if result.photo is None:
            self.view.set_image(None, EMPTY)
            self.info.setText(f"{result.model} · {result.device_label}")
        else:
            self.view.set_image(result.photo)
            kind = "colour" if result.colour else "grey"
            self.info.setText(f"{result.model} · {result.device_label} · "
                              f"{result.ms:.0f} ms per inversion · {kind} sketch")
        t1 = time.perf_counter()
        self.view.repaint()  # measure latency to pixels on screen, not to a queued update
        t2 = time.perf_counter()
        if result.final and result.photo is not None:
            self.latencies_ms.append((t2 - result.submitted) * 1000.0)
            self.stage_log.append({**result.stages,
                                   "delivery": (t0 - result.emitted) * 1000 if result.emitted
                                   else float("nan"),
                                   "display": (t1 - t0) * 1000, "repaint": (t2 - t1) * 1000})
            del self.stage_log[:-1000]
        self.photo_shown.emit(result)

    def median_latency_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None
