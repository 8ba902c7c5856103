"""The File menu's commands: new, open, save, import a scan, export the photo.

They keep which file the sketch belongs to (`current_path`) and the folder last used for
each purpose, and they title the window with the file's name and a dot for unsaved work.
A failure says why in an error box and leaves the sketch as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from sketchlab.core.imageio import ImageLoadError, name_patterns
from sketchlab.ui.autosave import Autosaver
from sketchlab.ui.dialogs.import_dialog import ImportDialog
from sketchlab.ui.document import SketchDocument, SketchFileError
from sketchlab.ui.error_box import show_error
from sketchlab.ui.settings import SettingsStore
from sketchlab.ui.widgets.photo_pane import PhotoPane
from sketchlab.ui.workers import InversionService

log = logging.getLogger(__name__)

IMAGE_FILTER = f"Images ({name_patterns()})"


class FileCommands(QObject):
    """Reads and writes the window's sketch; `saved` and `photo_exported` carry what was
    written, for the open case to record."""

    saved = Signal(Path)
    photo_exported = Signal(object, Path, int)  # InversionResult, file written, upscale

    def __init__(self, window: QMainWindow, document: SketchDocument, autosaver: Autosaver,
                 store: SettingsStore, photo_pane: PhotoPane, service: InversionService,
                 refresh: Callable[[], None]) -> None:
        """`refresh` asks for a new photo of the canvas (after open and recovery)."""
        super().__init__(window)
        self.window = window
        self.document = document
        self.autosaver = autosaver
        self.store = store
        self.photo_pane = photo_pane
        self.service = service
        self.refresh = refresh
        self.current_path: Path | None = None

    def set_current(self, path: Path | None) -> None:
        """The file the sketch is saved to from now on; a crash recovers it as that file."""
        self.current_path = path
        self.autosaver.source = str(path) if path is not None else ""

    def update_title(self) -> None:
        name = self.current_path.name if self.current_path else "Untitled sketch"
        dirty = " •" if self.has_unsaved_work() else ""
        self.window.setWindowTitle(f"{name}{dirty} — SketchLab")

    def _status(self, text: str, ms: int) -> None:
        self.window.statusBar().showMessage(text, ms)

    def _start_dir(self, key: str = "last_dir") -> str:
        """Where a file dialog opens: the folder last used for the same purpose (sketches
        and saves, imported scans, exports), so saving does not land in a scan folder."""
        d = self.store.ui_value(key, "") or self.store.ui_value("last_dir", "")
        return str(d) if d else str(Path.home())

    def _remember_dir(self, path: Path, key: str = "last_dir") -> None:
        self.store.set_ui_value(key, str(path.parent))

    def has_unsaved_work(self) -> bool:
        """Changes since the last save, unless nothing would be kept by saving them: a
        blank canvas never saved anywhere (a fresh start, or File > New) is not work."""
        if self.document.undo_stack.isClean():
            return False
        return not (self.current_path is None and self.document.is_blank)

    def keep_or_discard(self, doing: str) -> bool:
        """Before `doing` throws the sketch away: Save / Discard / Cancel when it has
        unsaved work. True when it may go ahead (saved, discarded, or nothing to lose)."""
        if not self.has_unsaved_work():
            return True
        box = QMessageBox(QMessageBox.Icon.Question, "Save sketch?",
                          f"The sketch has unsaved changes. Save them before {doing}?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.window)
        box.setObjectName("saveSketchBox")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        box.deleteLater()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_sketch(self) -> bool:
        """A blank canvas with no file, which counts as saved (there is nothing in it to
        lose); unsaved drawing is offered for saving first. False when the user cancels."""
        if not self.keep_or_discard("starting a new sketch"):
            return False
        self.document.clear()
        self.document.undo_stack.setClean()
        self.set_current(None)
        self.update_title()
        return True

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open sketch", self._start_dir(),
                                              "SketchLab sketch (*.png);;" + IMAGE_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> bool:
        try:
            replayed = self.document.open(path)
        except SketchFileError as exc:
            # Not a canvas-shaped PNG: it is an image to import and align instead.
            log.info("%s", exc)
            self.import_file(path)
            return False
        except (ImageLoadError, OSError) as exc:
            show_error(self.window, "Cannot open sketch",
                       f"{exc}\n\nThe current sketch is unchanged.")
            return False
        self.set_current(path)
        self.autosaver.mark_saved()
        self._remember_dir(path)
        self.update_title()
        self._status(f"Opened {path.name}" + (" with its strokes" if replayed else ""), 5000)
        self.refresh()
        return True

    def save(self) -> bool:
        if self.current_path is None:
            return self.save_as()
        return self.save_to(self.current_path)

    def save_as(self) -> bool:
        start = str(self.current_path or Path(self._start_dir()) / "sketch.png")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save sketch", start,
                                              "SketchLab sketch (*.png)")
        if not path:
            return False
        p = Path(path)
        return self.save_to(p if p.suffix.lower() == ".png" else p.with_suffix(".png"))

    def save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as exc:
            show_error(self.window, "Cannot save sketch",
                       f"Saving to {path} failed: {exc}\n\nNothing was lost: the sketch is "
                       "still open and autosaved. Try another folder.")
            return False
        self.set_current(path)
        self._remember_dir(path)
        self.update_title()
        self._status(f"Saved {path}", 5000)
        self.saved.emit(path)
        return True

    def export_photo(self) -> Path | None:
        """Save the photo at the network's native size, or a labelled upscaled copy."""
        from sketchlab.core.photo_export import UPSCALE_FACTOR

        last = self.photo_pane.last
        if last is None or last.photo is None:
            show_error(self.window, "No photo yet", "Draw or import a sketch first; the "
                       "synthesized photo appears once a model is loaded.")
            return None
        h, w = last.photo.shape[:2]
        f = UPSCALE_FACTOR
        native = f"PNG, native {w}x{h} px, exactly as the network made it (*.png)"
        bigger = (f"PNG, upscaled {f}x to {w * f}x{h * f} px, labelled as upscaled in its "
                  "name and metadata (*.png)")
        start = str(Path(self._start_dir("last_export_dir")) / "synthesized.png")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export synthesized photo",
                                                   start, f"{native};;{bigger}")
        if not path:
            return None
        return self.export_photo_to(Path(path), upscale=chosen == bigger)

    def export_photo_to(self, path: Path, upscale: bool = False) -> Path | None:
        from sketchlab.core.photo_export import UPSCALE_FACTOR, export_photo

        last = self.photo_pane.last
        if last is None or last.photo is None:
            return None
        status = self.service.status
        factor = UPSCALE_FACTOR if upscale else 1
        try:
            out = export_photo(path, last.photo, factor=factor,
                               model=last.model, sha256=status.sha256 if status else "")
        except OSError as exc:
            show_error(self.window, "Cannot export photo", f"{exc}\n\nNothing was written; "
                       "try another folder.")
            return None
        self._remember_dir(out, "last_export_dir")
        self._status(f"Exported {out}", 8000)
        self.photo_exported.emit(last, out, factor)
        return out

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import sketch",
                                              self._start_dir("last_import_dir"), IMAGE_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path, *, modal: bool = True) -> ImportDialog:
        """Open the alignment preview; accepting it puts the sketch on the canvas."""
        dlg = ImportDialog(path, self.document.size, self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._accept_import(dlg, path))
        dlg.analysed.connect(lambda: self._on_import_analysed(dlg))
        self._remember_dir(path, "last_import_dir")
        if modal:
            dlg.open()
        return dlg

    def _on_import_analysed(self, dlg: ImportDialog) -> None:
        if dlg.error is not None:
            dlg.reject()
            show_error(self.window, "Cannot import image",
                       f"{dlg.error}\n\nThe current sketch is unchanged.")

    def _accept_import(self, dlg: ImportDialog, path: Path) -> None:
        if dlg.result_image is None:
            return
        self.document.set_image(dlg.result_image, f"Import {path.name}")
        self._status(f"Imported {path.name}", 5000)
