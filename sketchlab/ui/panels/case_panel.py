"""The case panel: create, open and switch cases, see their audit trail, verify and export.

The main window connects its `sketch_saved`, `inversion_done` and `match_done` signals
to the slots here; what gets recorded, and when, is decided by the Qt-free
`sketchlab.cases.recorder.CaseRecorder`. A recording failure never interrupts drawing:
it is shown in the panel (and emitted as `error`) and logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from sketchlab.cases import CaseInfo, CaseStore
from sketchlab.cases.recorder import CaseRecorder
from sketchlab.cases.report_data import summarise
from sketchlab.ui.dialogs.new_case_dialog import CASE_ERRORS, NewCaseDialog
from sketchlab.ui.widgets.wrap_delegate import WrapDelegate
from sketchlab.ui.workers import Job

if TYPE_CHECKING:
    from sketchlab.ui.gallery_handle import GalleryHandle

log = logging.getLogger(__name__)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _export_dir() -> Path:
    """The user's documents folder (not the app's working directory) for case bundles."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs) if docs and Path(docs).is_dir() else Path.home()


class CasePanel(QWidget):
    """Pick the open case; everything the app does is then recorded in it."""

    case_changed = Signal(object)  # CaseInfo | None
    recorded = Signal(str)  # a one-line description of what was recorded
    error = Signal(str)
    export_finished = Signal(object)  # the bundle's Path, or None when it failed

    def __init__(self, store: CaseStore | None = None, parent: QWidget | None = None, *,
                 gallery: GalleryHandle | None = None) -> None:
        super().__init__(parent)
        self._owns_store = store is None
        self.store = store if store is not None else CaseStore()
        self.gallery = gallery  # to fingerprint the gallery a search ran against
        self.recorder = CaseRecorder(self.store)
        self.combo = QComboBox()
        self.combo.setToolTip("The open case: saved sketches, inversions and searches are "
                              "recorded in it")
        self.combo.activated.connect(lambda _i: self.open_case(self.combo.currentData()))
        self.new_button = QPushButton("&New…")
        self.new_button.clicked.connect(self.new_case_dialog)
        self.import_button = QPushButton("&Import…")
        self.import_button.clicked.connect(self.import_dialog)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_view = QTreeWidget()
        self.log_view.setHeaderLabels(["#", "time (UTC)", "who", "what"])
        self.log_view.setRootIsDecorated(False)
        self.log_view.setAlternatingRowColors(True)
        self.verify_button = QPushButton("&Verify")
        self.verify_button.clicked.connect(self.verify)
        self.export_button = QPushButton("&Export…")
        self.export_button.clicked.connect(self.export_dialog)
        self.note_button = QPushButton("N&ote…")
        self.note_button.setToolTip("Add a note to the open case's audit log")
        self.note_button.clicked.connect(self.note_dialog)
        self.last_match: int | None = None  # the open case's search now on screen
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.last_error = ""
        self._export_worker: Any = None
        self.export_action = QAction("E&xport case…", self)
        self.export_action.setStatusTip("Write the open case as a verifiable ZIP bundle with "
                                        "a PDF report")
        self.export_action.triggered.connect(self.export_dialog)

        # Narrow by design: it lives in a dock beside the canvas and photo.
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(14)
        for col in (0, 1, 2):  # whole values; the long "what" column wraps instead
            self.log_view.header().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents)
        self.log_view.header().setStretchLastSection(True)
        self.log_view.setUniformRowHeights(False)
        self._wrap = WrapDelegate(self.log_view, self.log_view.header(), (3,))
        buttons = QGridLayout()  # two by two: the dock stays narrow beside the candidates
        for i, b in enumerate((self.new_button, self.import_button, self.verify_button,
                               self.export_button, self.note_button)):
            buttons.addWidget(b, i // 2, i % 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.combo)
        lay.addLayout(buttons)
        lay.addWidget(self.info)
        lay.addWidget(self.log_view, 1)
        lay.addWidget(self.status)
        self.refresh()

    # ---- state ----------------------------------------------------------------------

    @property
    def current(self) -> str | None:
        """UID of the open case, or None."""
        return self.recorder.case

    def refresh(self) -> None:
        """Reload the case list and the open case's details and log."""
        try:
            cases = self.store.list_cases()
        except CASE_ERRORS as exc:
            self._fail(f"Cannot read the case store: {exc}")
            cases = []
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("No case (nothing is recorded)", None)
        for c in cases:
            self.combo.addItem(f"{c.number} — {c.title or 'untitled'} [{c.status}]", c.uid)
        idx = self.combo.findData(self.current) if self.current else 0
        self.combo.setCurrentIndex(max(idx, 0))
        self.combo.blockSignals(False)
        has_case = self.current is not None
        can_export = has_case and self._export_worker is None
        self.verify_button.setEnabled(has_case)
        self.note_button.setEnabled(has_case)
        self.export_button.setEnabled(can_export)
        self.export_action.setEnabled(can_export)
        self.log_view.clear()
        if not has_case:
            self.info.setText("Open or create a case to record saved sketches, inversions "
                              "and gallery searches with an audit trail.")
            return
        try:
            case = self.store.get(self.current)
            entries = self.store.entries(self.current)
        except CASE_ERRORS as exc:
            self._fail(f"Cannot read the case: {exc}")
            return
        i = case.info
        self.info.setText(
            f"<b>{i.number}</b> {i.title} — {i.status}<br>Artist: {i.artist or '–'}; "
            f"investigator: {i.investigator or '–'}<br>"
            f"{_count(len(case.sketches), 'sketch version')}, "
            f"{_count(len(case.inversions), 'inversion')}, "
            f"{_count(len(case.matches), 'search', 'searches')}")
        for e in entries:
            what = summarise(e.action, e.details)
            item = QTreeWidgetItem(self.log_view, [str(e.seq), e.time[5:16].replace("T", " "),
                                                   e.who, what])
            tip = f"{what}\n{e.time} by {e.who}\nentry hash {e.hash}"
            for col in range(4):
                item.setToolTip(col, tip)
        self.log_view.scrollToBottom()

    def open_case(self, ref: str | None) -> None:
        self.last_match = None
        try:
            self.recorder.open(ref)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return
        self.status.clear()
        self.refresh()
        info: CaseInfo | None = self.store.get(ref).info if ref else None
        self.case_changed.emit(info)

    def _fail(self, text: str) -> None:
        log.warning("case panel: %s", text)
        self.last_error = text
        self.status.setStyleSheet("color: #a40000")
        self.status.setText(text)
        self.error.emit(text)

    def _done(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.recorded.emit(text)
        self.refresh()

    # ---- recording (connect the main window's signals here) ---------------------------

    def on_sketch_saved(self, path: Path | str) -> None:
        if self.current is None:
            return
        try:
            version = self.recorder.on_sketch_saved(Path(path))
        except CASE_ERRORS as exc:
            self._fail(f"The sketch was saved, but recording it in the case failed: {exc}")
            return
        self._done(f"Recorded sketch version {version} in the case")

    def on_model_loaded(self, status: Any) -> None:
        """ModelStatus from the inversion service: remember the weights hash by name."""
        if status is not None:
            self.recorder.note_model(str(status.name), str(status.sha256))

    def on_inversion(self, result: object) -> None:
        self.recorder.on_inversion(result)

    def _fingerprint(self, outcome: Any) -> str:
        """The searched gallery's fingerprint; '' when it changed since the search (its
        size differs) or cannot be read, so a wrong fingerprint is never recorded."""
        if self.gallery is None:
            return ""
        from sketchlab.cases.gallery_link import gallery_identity

        try:
            ident = gallery_identity(self.gallery.get(), self.gallery.matcher())
        except Exception as exc:  # the record is still worth keeping without it
            log.warning("cannot fingerprint the gallery: %s", exc)
            return ""
        return ident.fingerprint if ident.size == int(outcome.gallery_size) else ""

    def on_match(self, outcome: Any) -> None:
        if self.current is None:
            return
        try:
            number = self.recorder.on_match(outcome, self._fingerprint(outcome))
        except CASE_ERRORS as exc:
            self.last_match = None
            self._fail(f"Recording the gallery search in the case failed: {exc}")
            return
        self.last_match = number
        self._done(f"Recorded search {number} in the case")

    def add_note(self, text: str) -> bool:
        if self.current is None:
            return False
        try:
            self.store.add_note(self.current, text)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return False
        self._done("Note added to the case")
        return True

    def note_dialog(self) -> QDialog | None:
        """A free-text note for the open case (kept in its audit log)."""
        if self.current is None:
            return None
        dlg = QDialog(self)
        dlg.setWindowTitle("Note on the case")
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        text = QPlainTextEdit()
        text.setObjectName("noteText")
        text.setPlaceholderText("What should be kept with the case (it cannot be edited "
                                "later; a correction is a new note)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(lambda: self.add_note(text.toPlainText()) and dlg.accept())
        buttons.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(text)
        lay.addWidget(buttons)
        dlg.open()
        return dlg

    def exclude_candidate(self, rank: int, reason: str) -> bool:
        """Rule out candidate `rank` of the search on screen (recorded in the open case)."""
        if self.current is None or self.last_match is None:
            self._fail("Open a case and search with it to record excluded candidates.")
            return False
        try:
            self.store.exclude_candidate(self.current, self.last_match, rank, reason)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return False
        self._done(f"Excluded candidate #{rank} of search {self.last_match}: {reason}")
        return True

    def on_photo_exported(self, result: Any, path: Path, factor: int = 1) -> None:
        """A synthesized photo left the app (File > Export photo): into the audit log."""
        if self.current is None:
            return
        try:
            self.recorder.on_photo_exported(result, path, factor)
        except CASE_ERRORS as exc:
            self._fail(f"The photo was exported, but recording the export in the case "
                       f"failed: {exc}")
            return
        self._done(f"Recorded the export of {Path(path).name} in the case")

    # ---- actions ----------------------------------------------------------------------

    def new_case_dialog(self) -> NewCaseDialog:
        """Open the New case form; a refused number keeps the form open (see the dialog)."""
        dlg = NewCaseDialog(self, create=self._create_or_raise)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        return dlg

    def _create_or_raise(self, **values: Any) -> CaseInfo:
        info = self.store.create_case(**values)
        self.open_case(info.uid)
        self._done(f"Opened new case {info.number}")
        return info

    def create_case(self, **values: Any) -> CaseInfo | None:
        try:
            return self._create_or_raise(**values)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return None

    def verify(self) -> bool:
        if self.current is None:
            return False
        try:
            result = self.store.verify(self.current)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return False
        if result.ok:
            self._done(f"Case {result.case_number} verified: {result.entries} entries and "
                       f"{result.artefacts} files intact")
        else:
            self._fail(f"Case {result.case_number} FAILED verification:\n"
                       + "\n".join(result.problems[:8]))
        return result.ok

    def export_dialog(self) -> None:
        if self.current is None:
            return
        number = self.store.get(self.current).info.number
        path, _ = QFileDialog.getSaveFileName(self, "Export case",
                                              str(_export_dir() / f"case-{number}.zip"),
                                              "Case bundle (*.zip)")
        if path:
            p = Path(path)
            # The dialog already asked about replacing an existing file.
            self.start_export(p if p.suffix.lower() == ".zip" else p.with_suffix(".zip"),
                              overwrite=True)

    def start_export(self, path: Path, overwrite: bool = False) -> None:
        """Export on a worker thread (verify + PDF take about a second); the result comes
        as `export_finished`. Drawing and recording carry on meanwhile."""
        from sketchlab.cases.bundle import export_bundle
        from sketchlab.report.pdf import render_report

        if self.current is None or self._export_worker is not None:
            return
        self.export_button.setEnabled(False)
        self.export_action.setEnabled(False)
        self.status.setStyleSheet("")
        self.status.setText(f"Exporting to {path.name}…")

        def failed(exc: Exception) -> None:
            self._fail(f"Export failed, nothing was written to {path.name}: {exc}")
            self.export_finished.emit(None)

        def done(r: Any) -> None:
            self._done(f"Exported to {r.path} ({r.size / 1024:.0f} KiB, "
                       f"sha256 {r.sha256[:12]}…)")
            self.export_finished.emit(r.path)

        def finished() -> None:
            self._export_worker = None
            self.refresh()

        self._export_worker = create_worker(
            export_bundle, self.store, self.current, path, render_pdf=render_report,
            overwrite=overwrite, _worker_class=Job,
            _connect={"returned": done, "errored": failed, "finished": finished})

    def export_to(self, path: Path, overwrite: bool = False) -> Path | None:
        """Export on this thread (scripts and tests); see `start_export`."""
        from sketchlab.cases.bundle import export_bundle
        from sketchlab.report.pdf import render_report

        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            r = export_bundle(self.store, self.current, path, render_pdf=render_report,
                              overwrite=overwrite)
        except CASE_ERRORS as exc:
            self._fail(f"Export failed, nothing was written to {path.name}: {exc}")
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self._done(f"Exported to {r.path} ({r.size / 1024:.0f} KiB, sha256 {r.sha256[:12]}…)")
        return r.path

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Let a running export finish (it is atomic either way) before the app exits."""
        if self._export_worker is not None:
            self._export_worker.wait(timeout_ms)
        if self._owns_store:
            self.store.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import case bundle", "",
                                              "Case bundle (*.zip)")
        if path and self.import_from(Path(path)) is None:
            QMessageBox.warning(self, "Import refused", self.last_error)

    def import_from(self, path: Path) -> str | None:
        from sketchlab.cases.bundle import import_bundle

        try:
            number, _ = import_bundle(self.store, path)
        except CASE_ERRORS as exc:
            self._fail(str(exc))
            return None
        self.open_case(number)
        self._done(f"Imported and verified case {number}")
        return number
