"""Gallery manager: list subjects and photos, enrol a folder (with progress and Cancel),
draw the faces the two-way search still lacks, remove.

All database work runs on worker threads; enrolment reports progress per file in an
EnrolRunDialog and stops cooperatively at Cancel (what was already committed stays
enrolled). The last enrolment's summary stays under the gallery's totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from sketchlab.core.drawn import DRAWN_MODEL
from sketchlab.core.model_catalog import model_drawing
from sketchlab.enrol.inputs import EnrollItem
from sketchlab.ui.dialogs.enrol_dialog import EnrolPreviewDialog
from sketchlab.ui.dialogs.enrol_run_dialog import EnrolRunDialog
from sketchlab.ui.gallery_handle import GalleryHandle
from sketchlab.ui.workers import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GalleryListing:
    stats: object  # GalleryStats
    subjects: list  # list[SubjectInfo]
    photos: dict  # subject id -> list[PhotoInfo]
    drawing: str = DRAWN_MODEL  # how the model's two-way search draws the faces


def load_listing(handle: GalleryHandle) -> GalleryListing:
    g = handle.get()
    by_subject: dict[int, list] = {}
    for p in g.photos():
        by_subject.setdefault(p.subject_id, []).append(p)
    return GalleryListing(g.stats(), g.subjects(), by_subject, model_drawing().model)


BACKGROUND_NICE = 10  # enrolment processes yield the cores to the pen and the live photo


def enrol_paths(handle: GalleryHandle, paths: list[Path], rule: str, progress, cancel):
    return handle.get().enroll(paths, rule=rule, progress=progress, cancel=cancel,
                               nice=BACKGROUND_NICE, drawing=model_drawing())


def enrol_largest_face(handle: GalleryHandle, items: list[EnrollItem], progress, cancel):
    return handle.get().enroll_items(items, largest_face=True, progress=progress,
                                     cancel=cancel, nice=BACKGROUND_NICE,
                                     drawing=model_drawing())


def draw_missing(handle: GalleryHandle, progress, cancel):
    """Draw every face that lacks the model's drawing (`Gallery.add_drawings`), so the
    gallery is searched two ways; progress reports (done, total) faces."""
    return handle.get().add_drawings(progress=lambda done, total: progress((done, total)),
                                     drawing=model_drawing(), cancel=cancel)


def photo_source(paths: list[str]) -> str:
    """Where a subject's photos came from, in a column: their folder, or how many."""
    folders = sorted({str(Path(p).parent) for p in paths})
    if len(folders) == 1:
        return folders[0]
    return f"{len(folders)} folders" if folders else ""


def undo_enrolment(handle: GalleryHandle, shas: list[str]) -> int:
    return handle.get().remove_enrolled(shas)


def remove_items(handle: GalleryHandle, subject_ids: list[int], photo_shas: list[str]) -> int:
    g = handle.get()
    n = 0
    for sid in subject_ids:
        n += max(0, g.remove_subject(sid))  # -1: already gone
    for sha in photo_shas:
        n += int(g.remove_photo(sha))
    return n


class GalleryDialog(QDialog):
    enrolment_finished = Signal(object)  # EnrollSummary

    def __init__(self, handle: GalleryHandle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.handle = handle
        self.listing: GalleryListing | None = None
        self._workers: list[Job] = []
        self.run_dialog: EnrolRunDialog | None = None
        self._enrol: Job | None = None
        self._drawing: Job | None = None
        self.partial_box: QMessageBox | None = None
        self._closed = False
        self._listing_asked = 0  # the newest listing asked for; an older one is stale
        self.setWindowTitle("Gallery")
        self.where = QLabel(f"Database: {handle.display_url()}")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel("Loading…")
        self.last_run = QLabel()  # the last enrolment's outcome; a refresh leaves it
        self.last_run.setWordWrap(True)
        self.last_run.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.last_run.hide()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Subject / photo", "Photos", "Source", "Added"])
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setColumnWidth(0, 220)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.enrol_button = QPushButton("Enrol folder…")
        self.enrol_button.setToolTip("Add every face photo in a folder; a preview shows the "
                                     "subjects first (by sub-folder, numbered file names or "
                                     "a manifest.csv)")
        self.enrol_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self.remove_selected)
        self.draw_button = QPushButton("Draw missing faces")
        self.draw_button.setToolTip("Draw the faces that have no drawing yet, as the model "
                                    "draws them, so the gallery is searched two ways "
                                    "(photo and drawing)")
        self.draw_button.clicked.connect(self._draw_clicked)
        self.draw_button.hide()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (self.enrol_button, self.remove_button, self.draw_button, refresh):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.where)
        lay.addWidget(self.summary)
        lay.addWidget(self.last_run)
        lay.addWidget(self.tree, 1)
        lay.addLayout(buttons)
        self.resize(760, 560)
        self.refresh()

    def _run(self, fn, *args, **connect) -> Job:
        """Start `fn` on a job; every slot is connected before it starts (a quick job
        could otherwise finish before a late `connect`)."""
        job = create_worker(fn, *args, _worker_class=Job, _start_thread=False,
                            _connect=connect)
        job.finished.connect(lambda: job in self._workers and self._workers.remove(job))
        self._workers.append(job)
        job.start()
        return job

    def _error(self, what: str, exc: Exception) -> None:
        self.summary.setText(f"{what} failed: {exc}")
        box = QMessageBox(QMessageBox.Icon.Warning, "Gallery", f"{what} failed:\n{exc}",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # --- listing ----------------------------------------------------------------------
    def refresh(self) -> None:
        if self._closed:  # a job that ends after the dialog closed must not start another
            return
        self.summary.setText("Loading…")
        self._listing_asked += 1
        asked = self._listing_asked
        self._run(load_listing, self.handle,
                  returned=lambda listing: self._show(listing, asked),
                  errored=lambda e: self._error("Reading the gallery", e))

    def _show(self, listing: GalleryListing, asked: int) -> None:
        """Show a listing unless a newer one was asked for: reads run on their own
        threads and can end out of order, and a read that began before a removal must
        not bring the removed photos back on screen."""
        if asked != self._listing_asked:
            return
        self.listing = listing
        st = listing.stats
        drawn = st.drawn_by(listing.drawing)
        missing = max(st.embeddings - drawn, 0)
        self.summary.setText(f"{st.subjects} subjects, {st.photos} photos, "
                             f"{st.embeddings} face descriptors" + (
                                 f"; {missing} without a drawing, so searched one way "
                                 "(Draw missing faces, or sketchlab gallery draw)"
                                 if missing else ""))
        # a server gallery is searched one way by its index: its faces are never drawn
        self.draw_button.setVisible(self._drawing is not None or (
            bool(missing) and st.db_bytes is not None))
        if self._drawing is None:
            self.draw_button.setText(f"Draw {missing} missing face(s)" if missing
                                     else "Draw missing faces")
        self.tree.setSortingEnabled(False)  # sorting while inserting costs O(n^2)
        self.tree.clear()
        for subj in listing.subjects:
            photos = listing.photos.get(subj.id, [])
            # A subject has no source of its own: its row shows its photos' folder (it
            # showed only the external reference, which folder enrolment never sets).
            source = photo_source([p.source_path for p in photos])
            if subj.external_ref:
                source = f"ref {subj.external_ref} · {source}"
            top = QTreeWidgetItem([subj.name, "", source,
                                   subj.created_at.strftime("%Y-%m-%d")])
            top.setToolTip(2, "\n".join(p.source_path for p in photos[:20]))
            top.setData(1, Qt.ItemDataRole.DisplayRole, subj.n_photos)  # sorts as a number
            top.setData(0, Qt.ItemDataRole.UserRole, ("subject", subj.id))
            for p in photos:
                child = QTreeWidgetItem([f"{p.width}x{p.height} · {p.sha256[:10]}", "",
                                         p.source_path, p.added_at.strftime("%Y-%m-%d")])
                child.setData(0, Qt.ItemDataRole.UserRole, ("photo", p.sha256))
                child.setToolTip(2, p.source_path)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
        self.tree.setSortingEnabled(True)

    # --- enrolment --------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Enrol a folder of face photos")
        if folder:
            self.preview(Path(folder))

    def preview(self, folder: Path) -> EnrolPreviewDialog:
        """Show the subjects the folder would make; Enrol there starts the enrolment."""
        dlg = EnrolPreviewDialog(folder, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.enrol(
            dlg.enrol_paths(), rule=dlg.enrol_rule(),
            total=dlg.plan.photos + len(dlg.plan.skipped) if dlg.plan else None))
        dlg.open()
        return dlg

    def enrol(self, what: Path | list[Path], rule: str = "folder",
              total: int | None = None) -> Job:
        """Enrol folders, files or a manifest; `total` (from the preview) puts the count
        on screen before the first file is read."""
        paths = [what] if isinstance(what, Path) else list(what)
        label = paths[0].name if len(paths) == 1 else f"{len(paths)} folders"
        return self._start_enrolment(label, total, enrol_paths, self.handle, paths, rule)

    def enrol_largest_face(self, items: list[EnrollItem]) -> Job:
        """Enrol again the photos skipped for several faces, each with its largest face."""
        return self._start_enrolment(f"the largest face of {len(items)} photo(s)",
                                     len(items), enrol_largest_face, self.handle, items)

    def _start_enrolment(self, label: str, total: int | None, fn, *args) -> Job:
        if self.run_dialog is None:
            self.run_dialog = EnrolRunDialog(self)
            self.run_dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.run_dialog.cancel_requested.connect(self._cancel_enrolment)
            self.run_dialog.retry_requested.connect(self.enrol_largest_face)
        run = self.run_dialog
        run.start(label, total)
        self.enrol_button.setEnabled(False)
        self.draw_button.setEnabled(False)  # enrolment draws its own new faces
        self._enrol = self._run(fn, *args, yielded=run.show_progress,
                                returned=self._on_enrolled,
                                errored=lambda e: self._enrol_error(label, e),
                                finished=self._enrol_finished)
        run.show()
        run.raise_()
        return self._enrol

    def _cancel_enrolment(self) -> None:
        if self._enrol is not None:
            self._enrol.quit()

    def _enrol_error(self, label: str, exc: Exception) -> None:
        if self.run_dialog is not None:
            self.run_dialog.show_error(f"{exc}\nNothing after the last saved batch was kept; "
                                       "enrol the folder again to continue.")
        self._error(f"Enrolling {label}", exc)

    def _on_enrolled(self, summary) -> None:
        self.last_run.setText(f"Last enrolment: {summary.line()}")
        self.last_run.show()
        if self.run_dialog is not None:
            self.run_dialog.show_summary(summary)
        if summary.cancelled and summary.committed_sha256 and not self._closed:
            self.ask_keep_partial(summary)
        self.enrolment_finished.emit(summary)

    def ask_keep_partial(self, summary) -> QMessageBox:
        """A cancelled run has enrolled part of the set: keep it or take it out again."""
        n = len(summary.committed_sha256)
        box = QMessageBox(QMessageBox.Icon.Question, "Enrolment cancelled",
                          f"Enrolment was cancelled after {summary.done} of {summary.total} "
                          f"files. {n} photo(s) ({summary.new_subjects} new subject(s)) were "
                          "enrolled before it stopped. Keep this partial set, or remove it "
                          "again?", QMessageBox.StandardButton.NoButton,
                          self.run_dialog or self)
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.AcceptRole)
        remove = box.addButton("Remove them", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(keep)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        shas = list(summary.committed_sha256)

        def answered(button) -> None:
            self.partial_box = None
            if button is remove:
                self._run(undo_enrolment, self.handle, shas,
                          returned=lambda k: self.last_run.setText(
                              f"Removed the {k} photo(s) of the cancelled enrolment."),
                          errored=lambda e: self._error("Removing the partial set", e),
                          finished=self.refresh)
            else:
                self.last_run.setText(f"Last enrolment: {summary.line()} Kept the {n} "
                                      "photo(s) enrolled before Cancel.")

        box.buttonClicked.connect(answered)
        self.partial_box = box
        box.open()
        return box

    def _enrol_finished(self) -> None:
        self._enrol = None
        self.enrol_button.setEnabled(self._drawing is None)
        self.draw_button.setEnabled(True)
        self.refresh()

    # --- drawing ----------------------------------------------------------------------
    def _draw_clicked(self) -> None:
        if self._drawing is not None:
            self._drawing.quit()  # stops after the batch being drawn; what is drawn stays
            self.draw_button.setEnabled(False)
            self.draw_button.setText("Stopping…")
            return
        self.draw_missing()

    def draw_missing(self) -> Job:
        """Draw the faces without the model's drawing on a worker; the button stops it."""
        self.draw_button.setText("Stop drawing")
        self.enrol_button.setEnabled(False)  # one writer at a time
        self.summary.setText("Drawing the faces as sketches…")
        self._drawing = self._run(
            draw_missing, self.handle,
            yielded=self._show_drawing,
            returned=self._on_drawn,
            errored=lambda e: self._error("Drawing the faces", e),
            finished=self._drawing_finished)
        return self._drawing

    def _show_drawing(self, progress: tuple[int, int]) -> None:
        done, total = progress
        self.summary.setText(f"Drawing the faces as sketches: {done} of {total}…")

    def _on_drawn(self, summary) -> None:
        self.last_run.setText(summary.line())
        self.last_run.show()

    def _drawing_finished(self) -> None:
        self._drawing = None
        self.draw_button.setEnabled(True)
        self.enrol_button.setEnabled(self._enrol is None)
        self.refresh()

    # --- removal ----------------------------------------------------------------------
    def remove_selected(self) -> None:
        subjects, photos = [], []
        for item in self.tree.selectedItems():
            kind, key = item.data(0, Qt.ItemDataRole.UserRole)
            (subjects if kind == "subject" else photos).append(key)
        if not subjects and not photos:
            return
        answer = QMessageBox.question(
            self, "Remove from gallery",
            f"Remove {len(subjects)} subject(s) and {len(photos)} photo(s) from the gallery? "
            "The image files on disk are not touched.")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(subjects, photos)

    def remove(self, subject_ids: list[int], photo_shas: list[str]) -> Job:
        return self._run(remove_items, self.handle, subject_ids, photo_shas,
                         returned=lambda n: self.summary.setText(f"Removed {n} entries."),
                         errored=lambda e: self._error("Removing", e),
                         finished=self.refresh)

    def done(self, r: int) -> None:
        self._closed = True
        for w in list(self._workers):
            w.quit()
        for w in list(self._workers):
            w.wait(60000)
        super().done(r)
