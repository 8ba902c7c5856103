"""After a crash: offer the sketch the last session autosaved, and take it back as
unsaved work in the case it was recorded in. The autosaving itself is autosave.py's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from sketchlab.core.imageio import ImageLoadError
from sketchlab.ui.autosave import Recoverable
from sketchlab.ui.document import SketchFileError
from sketchlab.ui.error_box import show_error
from sketchlab.ui.file_commands import FileCommands


class CrashRecovery:
    def __init__(self, files: FileCommands, reopen_case: Callable[[str], object]) -> None:
        """`reopen_case(uid)` resumes recording in the case the crashed session had open."""
        self.files = files
        self.autosaver = files.autosaver
        self.reopen_case = reopen_case

    def offer(self) -> bool:
        """Ask (modally) whether to recover a crashed session's sketch; app start calls this."""
        found = self.autosaver.find_recoverable()
        if not found:
            return False
        rec = found[0]
        answer = QMessageBox.question(
            self.files.window, "Recover sketch?",
            f"SketchLab did not close properly last time. Recover {rec.describe()}?\n\n"
            "If you choose No, it is kept in the autosave folder's “declined” directory.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            return self.recover(rec, others=found[1:])
        for r in found:
            self.autosaver.set_aside(r)
        return False

    def recover(self, rec: Recoverable, others: list[Recoverable] | None = None) -> bool:
        files = self.files
        try:
            files.document.open(rec.sketch)
        except (ImageLoadError, SketchFileError, OSError) as exc:
            show_error(files.window, "Cannot recover sketch",
                       f"{exc}\n\nThe files stay in {rec.folder}.")
            return False
        files.set_current(Path(rec.source) if rec.source else None)
        if rec.case:
            self.reopen_case(rec.case)
        files.document.undo_stack.resetClean()  # recovered work is not saved yet
        for r in [rec, *(others or [])]:
            self.autosaver.set_aside(r)
        self.autosaver.save_now()
        files.update_title()
        files.refresh()
        files.window.statusBar().showMessage(f"Recovered {rec.describe()}", 8000)
        return True
