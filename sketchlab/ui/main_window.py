"""The main window: canvas on the left, live photo and gallery matches on the right.

Wiring only. The parts live in their own modules: file_commands.py (new, open, save,
import, export), crash_recovery.py, case_dock.py, window_commands.py (actions, menus,
toolbar), window_layout.py, live_pacing.py, widgets/, dialogs/, workers.py, autosave.py
and settings.py.
The signals at the top of the class are the hooks other features (case recording)
connect to without editing this file.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import QDialog, QMainWindow, QSplitter

from sketchlab.core.model_catalog import ModelInfo, list_models
from sketchlab.ui.autosave import Autosaver
from sketchlab.ui.case_dock import CaseDock
from sketchlab.ui.crash_recovery import CrashRecovery
from sketchlab.ui.dialogs.help_dialog import TextDialog, about_dialog, shortcuts_html
from sketchlab.ui.document import SketchDocument
from sketchlab.ui.error_box import show_error
from sketchlab.ui.file_commands import FileCommands
from sketchlab.ui.live_pacing import LivePacer
from sketchlab.ui.settings import AppSettings, SettingsStore
from sketchlab.ui.widgets.brush_bar import BrushControls
from sketchlab.ui.widgets.canvas import CanvasView
from sketchlab.ui.widgets.photo_column import PhotoColumn
from sketchlab.ui.widgets.photo_pane import PhotoPane
from sketchlab.ui.widgets.status_labels import StatusLabels
from sketchlab.ui.window_commands import WindowCommands
from sketchlab.ui.window_layout import restore_layout, save_layout
from sketchlab.ui.workers import InversionResult, InversionService, ModelStatus, wait_for_all

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    # Hooks for other features (case recording, tests); all carry plain data.
    sketch_saved = Signal(Path)
    inversion_done = Signal(object)  # InversionResult, once on screen
    match_done = Signal(object)  # sketchlab.core.pipeline.MatchResult
    photo_exported = Signal(object, Path, int)  # InversionResult, file written, upscale

    def __init__(self, store: SettingsStore | None = None, *, autosave_root: Path | None = None,
                 confirm_close: bool = False) -> None:
        from sketchlab.ui.panels.match_panel import MatchPanel

        super().__init__()
        self.store = store or SettingsStore(parent=self)
        self.confirm_close = confirm_close
        self.models: list[ModelInfo] = []
        self._closing = False
        self.setWindowTitle("SketchLab")
        self.setAcceptDrops(True)
        self.setWindowIcon(QIcon.fromTheme("sketchlab"))  # app.py sets the real icon

        self.document = SketchDocument(parent=self)
        self.canvas = CanvasView(self.document)
        self.photo_pane = PhotoPane()
        self.service = InversionService(self)
        self.pacer = LivePacer(lambda: self.request_inversion(final=False), self)
        self.autosaver = Autosaver(self.document, self.store.value.autosave_seconds,
                                   root=autosave_root, parent=self)
        self.files = FileCommands(self, self.document, self.autosaver, self.store,
                                  self.photo_pane, self.service, self.request_inversion)
        self.photo_column = PhotoColumn(self.photo_pane)
        self.photo_column.model_chosen.connect(lambda m: self._set_setting(model=m))
        self.photo_column.style_chosen.connect(lambda st: self._set_setting(style=st))
        self.match_panel = MatchPanel(self.store, self)
        self.match_panel.search_done.connect(self.match_done)
        self.match_panel.is_current = lambda r: r.request_id == self.service.latest_id
        self.status_labels = StatusLabels(self.statusBar())
        self.brush = BrushControls(self.canvas, self)
        self.brush.summary_changed.connect(self.status_labels.tool.setText)
        self.commands = WindowCommands(
            self, self.files, self.document, self.canvas, self.brush,
            search=self.match_panel.search, gallery=self.manage_gallery,
            settings=self.settings_dialog, help=self.help_dialog, about=self.about_dialog)
        self.menus = self.commands.menus
        self.brush.sync()
        self.case_dock = CaseDock(self, store=self.store, autosaver=self.autosaver,
                                  service=self.service, match_panel=self.match_panel,
                                  menus=self.menus, export_anchor=self.commands.export,
                                  closing=lambda: self._closing)
        self.match_panel.exclude_requested.connect(self.case_dock.exclude_candidate)
        for hook, slot in ((self.sketch_saved, "on_sketch_saved"),
                           (self.inversion_done, "on_inversion"), (self.match_done, "on_match"),
                           (self.photo_exported, "on_photo_exported")):
            hook.connect(functools.partial(self.case_dock.record, slot))
        self.recovery = CrashRecovery(self.files, self.case_dock.restore_case)
        self.splitter = self._build_splitter()
        self.setCentralWidget(self.splitter)

        self.canvas.stroke_moved.connect(self._on_stroke_moved)
        self.canvas.files_dropped.connect(lambda paths: self.files.import_file(paths[0]))
        self.canvas.zoom_changed.connect(self.status_labels.show_zoom)
        self.document.undo_stack.indexChanged.connect(self._on_history_changed)
        # Through the window: a stack deleted with the window then updates no title.
        self.document.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.files.saved.connect(self.sketch_saved)
        self.files.photo_exported.connect(self.photo_exported)
        self.service.result.connect(self._on_inversion)
        self.service.model_changed.connect(self._on_model_changed)
        self.service.measuring.connect(lambda name: self.statusBar().showMessage(
            f"Timing the inference engines for {name} on this computer (once, a few "
            "seconds); the live photo starts on the fastest. You can draw meanwhile."))
        self.service.error.connect(self._on_service_error)
        self.photo_pane.photo_shown.connect(self.inversion_done)
        self.autosaver.saved.connect(self.status_labels.show_autosaved)
        self.autosaver.failed.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        self.store.changed.connect(self.apply_settings)

        self._loaded_device = (self.store.value.device, self.store.value.precision,
                               self.store.value.engine)
        self.refresh_models()
        self._load_model()
        self.autosaver.start()
        self.files.update_title()
        restore_layout(self, self.splitter, self.store)

    # --- construction ---------------------------------------------------------------
    def _build_splitter(self) -> QSplitter:
        """Canvas | photo | candidates side by side: the candidate list gets the window's
        whole height (ten or more rows at 1280x820), the photo its native size or so."""
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("main-splitter")
        splitter.setHandleWidth(6)  # easy to find and grab, not a dotted line
        splitter.setStyleSheet("QSplitter#main-splitter::handle { background: palette(mid); }")
        for i, w in enumerate((self.canvas, self.photo_column, self.match_panel)):
            splitter.addWidget(w)
            splitter.setCollapsible(i, False)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 3)
        splitter.setSizes([400, 180, 440])
        return splitter

    # --- inversion --------------------------------------------------------------------
    def refresh_models(self) -> None:
        try:
            self.models = list_models()
        except OSError as exc:
            log.error("cannot list models: %s", exc)
            self.models = []
        s = self.store.value
        self.photo_column.show_choices(self.models, s.model, s.style)

    def _load_model(self) -> None:
        s = self.store.value
        if not any(m.name == s.model for m in self.models) and not Path(s.model).is_file():
            names = ", ".join(m.name for m in self.models)
            hint = (f"Installed: {names}. Pick one in the Model list or in Settings."
                    if names else "No model is installed.")
            self.photo_pane.set_model_status(
                None, f"The model “{s.model}” is not installed.\n\n{hint}\n\n"
                      "You can keep drawing meanwhile.")
            self.match_panel.set_inversion_available(False)
            return
        self.photo_pane.show_loading(s.model)
        self.statusBar().showMessage(f"Loading the model {s.model}… You can draw meanwhile; "
                                     "the live photo starts when it is ready.")
        self.service.load_model(s.model, s.device, s.precision, s.engine)

    def _on_model_changed(self, status: ModelStatus | None) -> None:
        if self._closing:
            return
        self.match_panel.set_model(status)
        if status is None:
            return  # the error handler shows why
        self.photo_pane.set_model_status(status)
        self.statusBar().showMessage(f"Live photo ready: {status.name} on "
                                     f"{status.device_label}", 10000)
        self.request_inversion(final=True)

    def _on_service_error(self, exc: Exception) -> None:
        if self._closing:
            return
        if self.service.status is None:
            self.statusBar().showMessage("The model could not be loaded; see the photo pane.",
                                         15000)
            self.photo_pane.set_model_status(
                None, f"The model could not be loaded:\n{exc}\n\nPick another model or "
                      "device in Settings. You can keep drawing meanwhile.")
        else:
            self.statusBar().showMessage(f"Inversion failed: {exc}", 10000)

    def request_inversion(self, final: bool = True) -> None:
        if self._closing:
            return
        if final:
            self.pacer.stop()
        image = self.document.snapshot()
        self.match_panel.note_sketch(image)  # results of another picture: out of date
        self.service.submit(image, self.store.value.style, final=final)

    def _on_stroke_moved(self) -> None:
        if self.store.value.live_preview:
            self.pacer.stroke_moved()

    def _on_history_changed(self, _index: int) -> None:
        if self._closing:
            return
        self.files.update_title()  # a blank canvas never saved is not unsaved work (no dot)
        self.request_inversion(final=True)

    def _on_clean_changed(self, _clean: bool) -> None:
        self.files.update_title()

    def _on_inversion(self, result: InversionResult) -> None:
        if self._closing:
            return
        self.pacer.note(result)
        self.photo_pane.show_result(result)
        self.match_panel.set_query(result)
        self.status_labels.show_latency(self.photo_pane.median_latency_ms())

    # --- dialogs ----------------------------------------------------------------------
    def _set_setting(self, **changes: object) -> None:
        try:
            self.store.update(self.store.value.replace(**changes))
        except ValueError as exc:
            show_error(self, "Invalid setting", str(exc))

    def apply_settings(self, s: AppSettings) -> None:
        """Apply a settings change live (the store emits `changed` after saving it)."""
        self.autosaver.set_interval(s.autosave_seconds)
        self.refresh_models()
        status = self.service.status
        if (status is None or status.name != s.model
                or self._loaded_device != (s.device, s.precision, s.engine)):
            self._load_model()
        else:
            self.request_inversion(final=True)
        self._loaded_device = (s.device, s.precision, s.engine)
        self.match_panel.apply_settings(s)

    def settings_dialog(self) -> None:
        from sketchlab.core.inference import available_devices
        from sketchlab.ui.dialogs.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.store, list_models(), "cuda" in available_devices(), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def help_dialog(self) -> None:
        TextDialog("SketchLab help", shortcuts_html(self.actions()), self).open()

    def about_dialog(self) -> None:
        loaded = self.service.status.name if self.service.status else None
        dlg = about_dialog(list_models(), loaded, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def manage_gallery(self) -> None:
        from sketchlab.ui.dialogs.gallery_dialog import GalleryDialog

        dlg = GalleryDialog(self.match_panel.gallery, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    # --- window events and shutdown ---------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        self.canvas.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        self.canvas.dropEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.case_dock.preload()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.confirm_close and not self.files.keep_or_discard("quitting"):
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop every timer and thread; a clean exit removes this session's autosave."""
        if self._closing:
            return
        self._closing = True
        for dlg in self.findChildren(QDialog):  # their done() stops their workers
            if dlg.isVisible():
                dlg.reject()
        save_layout(self, self.splitter, self.store)
        self.pacer.stop()
        self.statusBar().clearMessage()  # stops its message timer
        self.autosaver.discard()
        self.match_panel.shutdown()
        self.case_dock.shutdown()
        self.service.shutdown()
        wait_for_all()
