"""The Case dock: the case panel beside the canvas, recording the user's work in the
open case, and reopening that case after a restart or a crash.

The panel needs the case store, whose import (SQLAlchemy) is slow, so the window shows
first and the panel arrives from a background import; any earlier use of `panel` builds
it on the spot, so nothing goes unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMainWindow
from superqt.utils import create_worker

from sketchlab.ui.autosave import Autosaver
from sketchlab.ui.error_box import show_error
from sketchlab.ui.menus import MainMenus
from sketchlab.ui.settings import SettingsStore
from sketchlab.ui.workers import InversionService, Job

if TYPE_CHECKING:
    from sketchlab.ui.panels.case_panel import CasePanel
    from sketchlab.ui.panels.match_panel import MatchPanel


def _import_case_panel() -> None:
    """Import the case panel's modules off the UI thread."""
    import sketchlab.ui.panels.case_panel  # noqa: F401


class CaseDock(QDockWidget):
    def __init__(self, window: QMainWindow, *, store: SettingsStore, autosaver: Autosaver,
                 service: InversionService, match_panel: MatchPanel, menus: MainMenus,
                 export_anchor: QAction, closing: Callable[[], bool]) -> None:
        """`export_anchor`: File > Export case goes after it; `closing()`: the window is
        shutting down, and nothing more is recorded."""
        super().__init__("Case", window)
        self.setObjectName("case-dock")
        waiting = QLabel("Opening the case store…")
        waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(waiting)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        window.resizeDocks([self], [260], Qt.Orientation.Horizontal)
        menus.view.addAction(self.toggleViewAction())
        self._main = window
        self.store = store
        self.autosaver = autosaver
        self.service = service
        self.match_panel = match_panel
        self.menus = menus
        self.export_anchor = export_anchor
        self.closing = closing
        self._panel: CasePanel | None = None
        self._preload: Job | None = None

    def record(self, slot: str, *args: object) -> None:
        """Hand the window's work to the panel's `slot` (on_sketch_saved, on_match, ...);
        through `panel`, so work done before the background import still counts."""
        if not self.closing():
            getattr(self.panel, slot)(*args)

    @property
    def panel(self) -> CasePanel:
        """The case panel, built now if its background import has not finished (None
        once the window is closing)."""
        if self._panel is None:
            self._attach_panel()
        return self._panel  # type: ignore[return-value]

    def preload(self) -> None:
        """Start importing the panel's modules in the background (the window is shown)."""
        if self._panel is None and self._preload is None and not self.closing():
            self._preload = create_worker(
                _import_case_panel, _worker_class=Job,
                _connect={"returned": self._attach_panel, "errored": self._attach_panel})

    def _attach_panel(self, _imported: object = None) -> None:
        """Put the case panel in the dock; it records through the window's signals (the
        rules are in sketchlab.cases.recorder) and adds File > Export case. Then the case
        open last time is reopened."""
        if self._panel is not None or self.closing():
            return
        from sketchlab.ui.panels.case_panel import CasePanel

        panel = CasePanel(parent=self._main, gallery=self.match_panel.gallery)
        self._panel = panel
        self.setWidget(panel)
        self.service.model_changed.connect(panel.on_model_loaded)
        if self.service.status is not None:
            panel.on_model_loaded(self.service.status)
        panel.case_changed.connect(self._remember_case)
        bar = self._main.statusBar()
        panel.recorded.connect(lambda m: bar.showMessage(m, 5000))
        panel.error.connect(lambda m: bar.showMessage(m, 15000))
        self.menus.insert_after(self.menus.file, self.export_anchor, panel.export_action)
        self.restore_case()

    def exclude_candidate(self, rank: int, reason: str | None = None) -> bool:
        """Rule candidate `rank` out of the leads, with a reason, in the open case."""
        if reason is None:
            reason, ok = QInputDialog.getText(
                self._main, "Exclude candidate", f"Why is candidate #{rank} not a lead? "
                "(kept in the case's audit log)")
            if not ok:
                return False
        if not self.panel.exclude_candidate(rank, reason):
            show_error(self._main, "Candidate not excluded", self.panel.last_error)
            return False
        self.match_panel.mark_excluded(rank, reason.strip())
        return True

    def _remember_case(self, info: object) -> None:
        """The open case survives a restart (settings) and a crash (the autosave)."""
        uid = getattr(info, "uid", "") or ""
        self.store.set_ui_value("open_case", uid)
        self.autosaver.set_case(uid)

    def restore_case(self, uid: str | None = None) -> bool:
        """Reopen the case open last time (or `uid`), so work keeps being recorded in it;
        says so when it is gone from the case store."""
        uid = uid if uid is not None else str(self.store.ui_value("open_case", "") or "")
        if not uid or uid == self.panel.current:
            return bool(uid)
        self.panel.open_case(uid)
        if self.panel.current != uid:
            self.store.set_ui_value("open_case", "")
            show_error(self._main, "Case not reopened",
                       f"The case open last time ({uid}) is not in the case store any more, "
                       "so nothing is being recorded. Open or import it in the Case panel.")
            return False
        info = self.panel.store.get(uid).info
        self._main.statusBar().showMessage(f"Case {info.number} is open: your work is "
                                           "recorded in it", 8000)
        return True

    def shutdown(self) -> None:
        if self._preload is not None:
            self._preload.quit()  # its result finds the window closing, and is dropped
        if self._panel is not None:
            self._panel.shutdown()
