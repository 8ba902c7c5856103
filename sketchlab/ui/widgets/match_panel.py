"""Gallery search: rank enrolled faces against the synthesized photo, off the UI thread.

The query is the photo on screen (the one the user judges), embedded with the canonical
face box (sketchlab.core.matching.embed_aligned) and ranked by the gallery's Matcher. If
the canvas changed since that photo, the search waits for the fresh photo first.

Results say what they belong to: once the canvas shows another picture than the one
searched (a stroke, undo, import, clear), the list is marked out of date, or searched
again when the `search_again` setting is on. Undoing back to the searched picture
makes it current again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sketchlab.core.matching import similarity
from sketchlab.ui.gallery_handle import GalleryHandle
from sketchlab.ui.settings import AppSettings, SettingsStore
from sketchlab.ui.workers import InversionResult, Worker, start_worker

log = logging.getLogger(__name__)

DISCLAIMER = ("Results are investigative leads, not identifications. A sketch-derived "
              "likeness can resemble many people; every lead needs independent confirmation.")
THUMB = 52


@dataclass(frozen=True)
class MatchOutcome:
    """One finished search, with what it searched with (for display and case records)."""

    candidates: list  # list[sketchlab.db.search.Candidate]
    query: InversionResult
    embedding: np.ndarray
    k: int
    threshold: float
    search_ms: float  # embedding + ranking
    gallery_size: int
    gallery_url: str


def run_search(handle: GalleryHandle, query: InversionResult, k: int, threshold: float
               ) -> MatchOutcome:
    """Worker job: embed the synthesized photo and rank the gallery."""
    from sketchlab.core.matching import embed_aligned

    gallery = handle.get()
    t0 = time.perf_counter()
    emb = embed_aligned(query.photo)
    matcher = gallery.matcher()
    cands = matcher.search(emb, k, threshold=threshold)
    ms = (time.perf_counter() - t0) * 1000.0
    return MatchOutcome(cands, query, emb, k, threshold, ms, len(matcher.index),
                        handle.display_url())


def same_picture(canvas: np.ndarray, query: InversionResult) -> bool:
    """Whether `canvas` is the picture `query` was inverted from."""
    searched = getattr(query, "canvas", None)
    return (searched is not None and searched.shape == canvas.shape
            and bool(np.array_equal(searched, canvas)))


def thumbnail_pixmap(data: bytes | None, size: int = THUMB) -> QPixmap:
    img = QImage.fromData(data) if data else QImage()
    if img.isNull():
        pm = QPixmap(size, size)
        pm.fill(QColor(80, 80, 80))
        return pm
    return QPixmap.fromImage(img).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)


class MatchPanel(QWidget):
    search_done = Signal(object)  # MatchOutcome
    candidate_activated = Signal(object)  # Candidate

    COLUMNS = ("#", "Face", "Subject", "Distance", "Score", "Threshold")

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.gallery = GalleryHandle(store.value.gallery_url)
        self.is_current: Callable[[InversionResult], bool] = lambda r: True
        self._query: InversionResult | None = None
        self._waiting = False  # search asked for; waiting for the photo of the current canvas
        self._worker: Worker | None = None
        self._again = False
        self._inversion_available = True
        self.outcome: MatchOutcome | None = None
        self.stale = False  # the outcome is of another picture than the canvas shows
        self._searched_at = ""
        self._canvas: np.ndarray | None = None  # the picture on the canvas now

        title = QLabel("<b>Gallery matches</b>")
        self.button = QPushButton("Search gallery")
        self.button.setToolTip("Rank gallery faces against the synthesized photo (Ctrl+F)")
        self.button.clicked.connect(self.search)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.button)
        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        self.disclaimer.setStyleSheet("QLabel#disclaimer { background: #5a4a1e; color: #ffe9a8;"
                                      " padding: 6px; border-radius: 4px; }")
        self.status = QLabel("Draw a sketch, then search the gallery.")
        self.status.setWordWrap(True)
        self.stale_label = QLabel()
        self.stale_label.setObjectName("stale")
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet("QLabel#stale { background: #6b2d1e; color: #ffd9cc;"
                                       " padding: 6px; border-radius: 4px; }")
        self.stale_label.hide()
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Click a candidate to compare it side by side with the sketch")
        self.table.cellClicked.connect(self._on_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(head)
        lay.addWidget(self.disclaimer)
        lay.addWidget(self.stale_label)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)

    # --- inputs from the main window ------------------------------------------------
    def set_inversion_available(self, available: bool) -> None:
        self._inversion_available = available
        self.button.setEnabled(available)
        if not available:
            self.status.setText("Gallery search needs a sketch-inversion model "
                                "(none is loaded).")

    def set_query(self, result: InversionResult) -> None:
        self._query = result
        if self._waiting and self.is_current(result):
            self._waiting = False
            self.search()
        elif (self.stale and self.store.value.search_again and result.final
              and result.photo is not None and self.is_current(result)):
            self.search()

    def note_sketch(self, canvas: np.ndarray) -> None:
        """The canvas now shows `canvas`: mark the candidates out of date unless they are
        of this very picture."""
        self._canvas = canvas
        if self.outcome is not None:
            self._set_stale(not same_picture(canvas, self.outcome.query))

    def _set_stale(self, stale: bool) -> None:
        self.stale = stale
        self.stale_label.setText(
            f"Out of date: these candidates are for the sketch as searched at "
            f"{self._searched_at}, not the one on the canvas. Search again (Ctrl+F)"
            + (" — searching again when the new photo is ready." if
               self.store.value.search_again else "."))
        self.stale_label.setVisible(stale)
        self.table.setStyleSheet("QTableWidget { color: #8a8a8a; }" if stale else "")

    def apply_settings(self, s: AppSettings) -> None:
        self.gallery.set_url(s.gallery_url)
        if self.outcome is not None and self.outcome.gallery_url == self.gallery.display_url():
            self._show(self.outcome)  # re-mark candidates against the new threshold

    # --- searching --------------------------------------------------------------------
    def search(self) -> None:
        q = self._query
        if not self._inversion_available:
            return
        if q is None or not self.is_current(q):
            self._waiting = True
            self.status.setText("Waiting for the photo of the current sketch…")
            return
        if q.photo is None:
            self.status.setText("The canvas is empty: draw or import a sketch first.")
            return
        if self._worker is not None:
            self._again = True  # search again with the newest photo when this one ends
            return
        s = self.store.value
        self.button.setEnabled(False)
        self.status.setText("Searching the gallery…")
        self._worker = start_worker(run_search, self.gallery, q, s.top_k, s.threshold,
                                    connect={"returned": self._on_done,
                                             "errored": self._on_error,
                                             "finished": self._on_finished})

    def _on_finished(self) -> None:
        self._worker = None
        self.button.setEnabled(self._inversion_available)
        if self._again:
            self._again = False
            self.search()

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"Gallery search failed: {exc}\n\nCheck the gallery location in "
                            "Settings, or enrol photos with Gallery > Manage gallery.")

    def _on_done(self, outcome: MatchOutcome) -> None:
        self.outcome = outcome
        self._searched_at = time.strftime("%H:%M:%S")
        # The canvas may have changed while the search ran.
        self._set_stale(self._canvas is not None
                        and not same_picture(self._canvas, outcome.query))
        self._show(outcome)
        self.search_done.emit(outcome)

    def _show(self, outcome: MatchOutcome) -> None:
        thr = self.store.value.threshold
        cands = [dataclasses.replace(c, within_threshold=bool(c.distance <= thr),
                                     score=float(similarity(c.distance, thr)))
                 for c in outcome.candidates]
        self.candidates = cands
        self.table.setRowCount(len(cands))
        for row, c in enumerate(cands):
            mark = "✔ within" if c.within_threshold else "— above"
            cells = [str(c.rank), "", c.subject_name, f"{c.distance:.3f}", f"{c.score:.2f}",
                     mark]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (0, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 5:
                    item.setForeground(QColor(90, 200, 120) if c.within_threshold
                                       else QColor(160, 160, 160))
                item.setToolTip(f"{c.subject_name}\n{c.source_path}")
                self.table.setItem(row, col, item)
            self.table.item(row, 1).setIcon(QIcon(thumbnail_pixmap(c.thumbnail)))
        within = sum(c.within_threshold for c in cands)
        if outcome.gallery_size == 0:
            self.status.setText("The gallery is empty. Enrol photos with Gallery > Manage "
                                "gallery.")
        else:
            self.status.setText(f"Top {len(cands)} of {outcome.gallery_size} faces, "
                                f"{within} within the threshold {thr:.2f} · "
                                f"{outcome.search_ms:.0f} ms")

    def _on_clicked(self, row: int, _col: int) -> None:
        if self.outcome is None or not 0 <= row < len(self.candidates):
            return
        c = self.candidates[row]
        self.candidate_activated.emit(c)
        from sketchlab.ui.dialogs.compare_dialog import CompareDialog

        dlg = CompareDialog(self.outcome.query, c, self.store.value.threshold, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def shutdown(self) -> None:
        self._waiting = False
        self._again = False
        if self._worker is not None:
            self._worker.quit()
            self._worker.wait(30000)
        self.gallery.close()
