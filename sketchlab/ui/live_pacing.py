"""How often the canvas asks for a live photo while the pen moves.

At most one request per THROTTLE_MS (a 16 Hz preview), fewer when the machine is slow:
the inversion thread then works at most half the time while the pen moves, which leaves
a core to the pen, and a pen-up usually finds it idle instead of busy with a preview of
an older canvas.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from sketchlab.ui.workers import InversionResult

THROTTLE_MS = 60  # live requests while drawing: at most one per 60 ms
MAX_THROTTLE_MS = 250  # ... and at least one per 250 ms however slow the machine


class LivePacer(QObject):
    """Calls `request()` once per interval while strokes move; `stop()` on pen-up."""

    def __init__(self, request: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setObjectName("inversion-throttle")
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(request)
        self.work_ms: list[float] = []  # recent preprocess + network times (ms)

    def interval_ms(self) -> int:
        """THROTTLE_MS, or twice the median of the last five inversion times if longer."""
        recent = sorted(self.work_ms[-5:])
        busy = recent[len(recent) // 2] if recent else 0.0
        return int(min(MAX_THROTTLE_MS, max(THROTTLE_MS, 2.0 * busy)))

    def note(self, result: InversionResult) -> None:
        """Remember how long the inversion thread worked on `result`."""
        if result.photo is not None and result.stages:
            self.work_ms = [*self.work_ms[-9:], result.stages.get("preprocess", 0.0)
                            + result.stages.get("network", result.ms)]

    def stroke_moved(self) -> None:
        if not self._timer.isActive():
            self._timer.setInterval(self.interval_ms())
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
