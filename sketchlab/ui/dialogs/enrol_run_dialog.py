"""An enrolment while it runs and after it ends, in one window that keeps its size.

Counts show from the first moment (the preview already knows how many files there are),
Cancel says at once that the run is stopping, and the final summary stays on screen with
every skipped or failed file and its reason. Photos skipped for having several faces can
be enrolled again with their largest face from here. The skipped list is in place, empty,
from the start and the labels have fixed heights, so nothing grows and Cancel (later
Close) never moves under the pointer. The dialog runs nothing itself: GalleryDialog
starts the job, feeds it progress and the summary, and acts on its two signals.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sketchlab.enrol.inputs import STATUS_TEXT, EnrollItem
from sketchlab.enrol.run import EnrollProgress, EnrollSummary

PHASE_TEXT = {
    "checking": "Checking {checked} of {total} files against the gallery…",
    "starting": "Loading the face detector…",
    "drawing": "Drawing the new faces as sketches: {checked} of {to_draw}…",
}


def counts_line(done: int, total: int, enrolled: int, duplicates: int, skipped: int,
                failed: int) -> str:
    """The one counts line, the same during the run and after it."""
    return (f"{done} of {total} files · {enrolled} enrolled · {duplicates} already in the "
            f"gallery · {skipped} skipped · {failed} failed")


class EnrolRunDialog(QDialog):
    cancel_requested = Signal()
    retry_requested = Signal(object)  # list[EnrollItem]: enrol their largest face

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enrolling photos")
        self.running = False
        self.stopping = False
        self.label = ""
        self._retry: list[EnrollItem] = []
        lines = self.fontMetrics().lineSpacing()
        self.heading = QLabel()
        bold = QFont(self.heading.font())
        bold.setBold(True)
        self.heading.setFont(bold)
        self.heading.setFixedHeight(lines + 4)
        self.bar = QProgressBar()
        self.bar.setFormat("%v of %m files")
        self.counts = QLabel()
        self.counts.setFixedHeight(lines + 4)
        self.counts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current = QLabel()
        self.current.setFixedHeight(lines + 4)
        self.current.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.skipped_title = QLabel("Skipped and failed files")
        self.skipped = QTableWidget(0, 3)
        self.skipped.setHorizontalHeaderLabels(["File", "Outcome", "Reason"])
        self.skipped.verticalHeader().setVisible(False)
        self.skipped.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skipped.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.skipped.setAlternatingRowColors(True)
        self.skipped.setShowGrid(False)
        self.skipped.setWordWrap(True)  # a reason is a sentence: read whole, not elided
        header = self.skipped.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        # Row heights follow the Reason column's width.
        header.sectionResized.connect(lambda *_: self.skipped.resizeRowsToContents())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setFixedHeight(3 * lines + 6)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton()
        self.retry_button.setToolTip("Enrol the largest face in each of these photos, under "
                                     "the subject it was going to have")
        self.retry_button.clicked.connect(self._retry_clicked)
        keep = self.retry_button.sizePolicy()
        keep.setRetainSizeWhenHidden(True)
        self.retry_button.setSizePolicy(keep)
        self.close_button = QPushButton("Cancel")
        self.close_button.setFixedWidth(max(110, self.close_button.sizeHint().width()))
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.heading)
        lay.addWidget(self.bar)
        lay.addWidget(self.counts)
        lay.addWidget(self.current)
        lay.addWidget(self.skipped_title)
        lay.addWidget(self.skipped, 1)
        lay.addWidget(self.summary)
        lay.addLayout(buttons)
        self.resize(720, 520)

    # --- fed by the gallery dialog ----------------------------------------------------
    def start(self, label: str, total: int | None = None) -> None:
        """A new run: the count is on screen now, before the job has read a file."""
        self.running, self.stopping, self.label = True, False, label
        self._retry = []
        self.heading.setText(f"Enrolling {label}…")
        self.bar.setFormat("%v of %m files")  # a run before may have ended drawing faces
        if total is None:
            self.bar.setRange(0, 0)  # busy until the first report says how many
            self.counts.setText("Listing files…")
        else:
            self.bar.setRange(0, max(total, 1))
            self.bar.setValue(0)
            self.counts.setText(counts_line(0, total, 0, 0, 0, 0))
        self.current.clear()
        self.skipped.setRowCount(0)
        self.skipped_title.setText("Skipped and failed files (listed when the run ends)")
        self.summary.clear()
        self.retry_button.hide()
        self.close_button.setText("Cancel")
        self.close_button.setEnabled(True)

    def show_progress(self, p: EnrollProgress) -> None:
        if not self.running:
            return
        drawing = p.phase == "drawing"  # the files are done; the bar follows the faces
        self.bar.setFormat("%v of %m faces" if drawing else "%v of %m files")
        self.bar.setRange(0, max(p.to_draw if drawing else p.total, 1))
        self.bar.setValue(p.checked if drawing else p.done)
        self.counts.setText(counts_line(p.done, p.total, p.enrolled, p.duplicates,
                                        p.skipped - p.failed, p.failed))
        if not self.stopping:
            text = PHASE_TEXT.get(p.phase)
            self.heading.setText(text.format(checked=p.checked, total=p.total,
                                             to_draw=p.to_draw) if text
                                 else f"Enrolling {self.label}…")
        if p.path:
            name = Path(p.path).name
            self.current.setText(self.current.fontMetrics().elidedText(
                name, Qt.TextElideMode.ElideMiddle, max(100, self.current.width())))
            self.current.setToolTip(p.path)

    def show_summary(self, summary: EnrollSummary) -> None:
        """The run has ended: this stays until the user closes the window."""
        self.running = False
        self.heading.setText(f"{'Cancelled' if summary.cancelled else 'Done'}: {self.label}")
        self.bar.setRange(0, max(summary.total, 1))
        self.bar.setValue(summary.done)
        failed = len(summary.failed)
        self.counts.setText(counts_line(summary.done, summary.total, summary.enrolled,
                                        summary.duplicates, len(summary.skipped) - failed,
                                        failed))
        self.current.clear()
        self.summary.setText(summary.line())
        self.skipped.setSortingEnabled(False)
        self.skipped.setRowCount(len(summary.skipped))
        for row, s in enumerate(summary.skipped):
            kind = "failed" if s.failed else "skipped"
            cells = (Path(s.path).name, f"{kind}: {STATUS_TEXT[s.status]}", s.reason)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{s.path}\n{s.reason}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                self.skipped.setItem(row, col, item)
        self.skipped.setSortingEnabled(True)
        self.skipped.resizeRowsToContents()
        self.skipped_title.setText(f"Skipped and failed files: {len(summary.skipped)}"
                                   if summary.skipped else "No file was skipped.")
        self._retry = summary.retry_with_largest_face()
        if self._retry:
            n = len(self._retry)
            self.retry_button.setText("Enrol the largest face of the photo with several "
                                      "faces" if n == 1 else f"Enrol the largest face of "
                                      f"each of the {n} photos with several faces")
            self.retry_button.show()
        self.close_button.setText("Close")
        self.close_button.setEnabled(True)

    def show_error(self, text: str) -> None:
        self.running = False
        self.heading.setText(f"Enrolment failed: {self.label}")
        self.summary.setText(text)
        self.close_button.setText("Close")
        self.close_button.setEnabled(True)

    # --- the user -----------------------------------------------------------------------
    def request_stop(self) -> None:
        """Cancel: say so at once; the photos already being read still finish."""
        if not self.running or self.stopping:
            return
        self.stopping = True
        self.heading.setText("Stopping: finishing the photos already being read…")
        self.close_button.setText("Stopping…")
        self.close_button.setEnabled(False)
        self.cancel_requested.emit()

    def reject(self) -> None:
        """Cancel, Close, Esc and the title bar's close: a running enrolment stops first."""
        if self.running:
            self.request_stop()
        else:
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            self.request_stop()
        else:
            super().closeEvent(event)

    def _retry_clicked(self) -> None:
        items, self._retry = self._retry, []
        self.retry_button.hide()
        if items:
            self.retry_requested.emit(items)
