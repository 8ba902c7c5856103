"""The main window: canvas on the left, live photo and gallery matches on the right.

Wiring only; the parts live in widgets/ (the brush controls among them), dialogs/,
menus.py (the commands and the menu bar), workers.py, autosave.py and settings.py. The
signals at the top of the class (sketch_saved, inversion_done, match_done,
photo_exported) are the hooks other features (case recording) connect to without
editing this file.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QActionGroup, QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from sketchlab.core.imageio import ImageLoadError, name_patterns
from sketchlab.core.model_catalog import ModelInfo, list_models
from sketchlab.ui.autosave import Autosaver, Recoverable
from sketchlab.ui.dialogs.help_dialog import TextDialog, about_dialog, shortcuts_html
from sketchlab.ui.dialogs.import_dialog import ImportDialog
from sketchlab.ui.document import SketchDocument, SketchFileError
from sketchlab.ui.menus import MainMenus, MenuItems, command
from sketchlab.ui.settings import STYLES, AppSettings, SettingsStore
from sketchlab.ui.widgets.brush_bar import BrushControls
from sketchlab.ui.widgets.canvas import CanvasView
from sketchlab.ui.widgets.photo_pane import PhotoPane
from sketchlab.ui.workers import (
    InversionResult,
    InversionService,
    Job,
    ModelStatus,
    wait_for_all,
)

log = logging.getLogger(__name__)

THROTTLE_MS = 60  # live requests while drawing: at most one per 60 ms (a 16 Hz preview)
MAX_THROTTLE_MS = 250  # ... and at least one per 250 ms however slow the machine
IMAGE_FILTER = f"Images ({name_patterns()})"


def _import_case_panel() -> None:
    """Import the case panel's modules off the UI thread (see MainWindow._build_case_dock)."""
    import sketchlab.ui.widgets.case_panel  # noqa: F401


def show_error(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """A non-blocking, readable error box; the app keeps running."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("errorBox")
    box.open()
    log.warning("%s: %s", title, " ".join(text.split()))  # one line in the log
    return box


def _add(tb: QToolBar, items: MenuItems) -> None:
    for a in items:
        if a is None:
            tb.addSeparator()
        else:
            tb.addAction(a)


class MainWindow(QMainWindow):
    # Hooks for other features (case recording, tests); all carry plain data.
    sketch_saved = Signal(Path)
    inversion_done = Signal(object)  # InversionResult, once on screen
    match_done = Signal(object)  # sketchlab.core.pipeline.MatchResult
    photo_exported = Signal(object, Path, int)  # InversionResult, file written, upscale

    def __init__(self, store: SettingsStore | None = None, *, autosave_root: Path | None = None,
                 confirm_close: bool = False) -> None:
        super().__init__()
        self.store = store or SettingsStore(parent=self)
        self.confirm_close = confirm_close
        self.current_path: Path | None = None
        self.models: list[ModelInfo] = []
        self._closing = False
        self.setWindowTitle("SketchLab")
        self.setAcceptDrops(True)
        self.setWindowIcon(QIcon.fromTheme("sketchlab"))  # app.py sets the real icon

        self.document = SketchDocument(parent=self)
        self.canvas = CanvasView(self.document)
        self.photo_pane = PhotoPane()
        self.service = InversionService(self)
        self._throttle = QTimer(self)
        self._throttle.setObjectName("inversion-throttle")
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._work_ms: list[float] = []  # recent preprocess + network times (ms)
        self._throttle.timeout.connect(lambda: self.request_inversion(final=False))
        self.autosaver = Autosaver(self.document, self.store.value.autosave_seconds,
                                   root=autosave_root, parent=self)

        self._build_right_panel()
        self.match_panel.is_current = lambda r: r.request_id == self.service.latest_id
        self._build_status_bar()
        self.brush = BrushControls(self.canvas, self)
        self.brush.summary_changed.connect(self.tool_label.setText)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.brush.sync()
        self._build_case_dock()
        # Canvas | photo | candidates side by side: the candidate list gets the window's
        # whole height (ten or more rows at 1280x820), the photo its native size or so.
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
        self.splitter = splitter
        self.setCentralWidget(splitter)

        self.canvas.stroke_moved.connect(self._on_stroke_moved)
        self.canvas.files_dropped.connect(lambda paths: self.import_file(paths[0]))
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.document.undo_stack.indexChanged.connect(self._on_history_changed)
        self.document.undo_stack.cleanChanged.connect(self._update_title)
        self.service.result.connect(self._on_inversion)
        self.service.model_changed.connect(self._on_model_changed)
        self.service.measuring.connect(lambda name: self.statusBar().showMessage(
            f"Timing the inference engines for {name} on this computer (once, a few "
            "seconds); the live photo starts on the fastest. You can draw meanwhile."))
        self.service.error.connect(self._on_service_error)
        self.photo_pane.photo_shown.connect(self.inversion_done)
        self.autosaver.saved.connect(
            lambda p: self.autosave_label.setText(f"autosaved {time.strftime('%H:%M:%S')}"))
        self.autosaver.failed.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        self.store.changed.connect(self.apply_settings)

        self._loaded_device = (self.store.value.device, self.store.value.precision,
                               self.store.value.engine)
        self.refresh_models()
        self._load_model()
        self.autosaver.start()
        self._update_title()
        self.restore_layout()

    def restore_layout(self) -> None:
        """The window's size, docks and splitter as the user left them (or the defaults)."""
        state = self.store.ui_value("window_state")
        if isinstance(state, QByteArray):  # docks first: a hidden one frees its width
            self.restoreState(state)
        geometry = self.store.ui_value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        split = self.store.ui_value("splitter")
        if isinstance(split, QByteArray):
            self.splitter.restoreState(split)

    def save_layout(self) -> None:
        self.store.set_ui_value("geometry", self.saveGeometry())
        self.store.set_ui_value("window_state", self.saveState())
        self.store.set_ui_value("splitter", self.splitter.saveState())

    # --- construction ---------------------------------------------------------------
    def _build_right_panel(self) -> None:
        from sketchlab.ui.widgets.match_panel import MatchPanel

        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Sketch-inversion model (installed models)")
        self.model_combo.activated.connect(
            lambda _i: self._set_setting(model=self.model_combo.currentData()))
        self.style_combo = QComboBox()
        self.style_combo.setToolTip("What kind of sketch this is; Auto decides from the "
                                    "strokes (colour strokes make it a colour sketch)")
        for st in STYLES:
            self.style_combo.addItem(st.capitalize(), st)
        self.style_combo.activated.connect(
            lambda _i: self._set_setting(style=self.style_combo.currentData()))
        for combo in (self.model_combo, self.style_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        selectors = QFormLayout()
        selectors.setContentsMargins(0, 0, 0, 0)
        selectors.addRow("Model", self.model_combo)
        selectors.addRow("Style", self.style_combo)
        column = QWidget()
        column.setObjectName("photo-column")
        tl = QVBoxLayout(column)
        tl.setContentsMargins(6, 6, 6, 6)
        tl.addLayout(selectors)
        tl.addWidget(self.photo_pane, 1)
        column.setMinimumWidth(170)
        self.photo_column = column
        self.match_panel = MatchPanel(self.store, self)
        self.match_panel.search_done.connect(self.match_done)
        self.match_panel.exclude_requested.connect(self.exclude_candidate)

    def _build_case_dock(self) -> None:
        """The Case dock. Its panel needs the case store (SQLAlchemy, ~0.5-1 s to import),
        so the window shows first and the panel arrives from a background import; any
        earlier use of `case_panel` builds it on the spot."""
        dock = QDockWidget("Case", self)
        dock.setObjectName("case-dock")
        waiting = QLabel("Opening the case store…")
        waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        dock.setWidget(waiting)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [260], Qt.Orientation.Horizontal)
        self.case_dock = dock
        self._case_panel = None
        self._preload: Job | None = None
        self.menus.view.addAction(dock.toggleViewAction())
        # Through the property: a save, inversion or search before the background import
        # has finished builds the panel on the spot (and reopens the case), so nothing
        # goes unrecorded.
        self.sketch_saved.connect(lambda p: self._to_case("on_sketch_saved", p))
        self.inversion_done.connect(lambda r: self._to_case("on_inversion", r))
        self.match_done.connect(lambda o: self._to_case("on_match", o))
        self.photo_exported.connect(
            lambda r, p, f: self._to_case("on_photo_exported", r, p, f))

    def _to_case(self, slot: str, *args: object) -> None:
        if not self._closing:
            getattr(self.case_panel, slot)(*args)

    @property
    def case_panel(self):  # -> CasePanel (imported lazily, see _build_case_dock)
        if self._case_panel is None:
            self._attach_case_panel()
        return self._case_panel

    def _attach_case_panel(self, _imported: object = None) -> None:
        """Put the case panel in its dock; it records through the signals above (the
        rules are in sketchlab.cases.recorder) and adds File > Export case. Then the case
        open last time is reopened."""
        if self._case_panel is not None or self._closing:
            return
        from sketchlab.ui.widgets.case_panel import CasePanel

        panel = CasePanel(parent=self, gallery=self.match_panel.gallery)
        self._case_panel = panel
        self.case_dock.setWidget(panel)
        self.service.model_changed.connect(panel.on_model_loaded)
        if self.service.status is not None:
            panel.on_model_loaded(self.service.status)
        panel.case_changed.connect(self._remember_case)
        panel.recorded.connect(lambda m: self.statusBar().showMessage(m, 5000))
        panel.error.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self.menus.insert_after(self.menus.file, self.act_export, panel.export_action)
        self.restore_case()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._case_panel is None and self._preload is None and not self._closing:
            self._preload = create_worker(
                _import_case_panel, _worker_class=Job,
                _connect={"returned": self._attach_case_panel,
                          "errored": self._attach_case_panel})

    def exclude_candidate(self, rank: int, reason: str | None = None) -> bool:
        """Rule candidate `rank` out of the leads, with a reason, in the open case."""
        if reason is None:
            reason, ok = QInputDialog.getText(
                self, "Exclude candidate", f"Why is candidate #{rank} not a lead? (kept in "
                "the case's audit log)")
            if not ok:
                return False
        if not self.case_panel.exclude_candidate(rank, reason):
            show_error(self, "Candidate not excluded", self.case_panel.last_error)
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
        if not uid or uid == self.case_panel.current:
            return bool(uid)
        self.case_panel.open_case(uid)
        if self.case_panel.current != uid:
            self.store.set_ui_value("open_case", "")
            show_error(self, "Case not reopened",
                       f"The case open last time ({uid}) is not in the case store any more, "
                       "so nothing is being recorded. Open or import it in the Case panel.")
            return False
        info = self.case_panel.store.get(uid).info
        self.statusBar().showMessage(f"Case {info.number} is open: your work is recorded "
                                     "in it", 8000)
        return True

    def _build_actions(self) -> None:
        A = functools.partial(command, self)
        self.act_new = A("&New sketch", self.new_sketch, "Ctrl+N", "Start a blank canvas",
                         short="New")
        self.act_open = A("&Open sketch…", self.open_dialog, "Ctrl+O",
                          "Open a SketchLab sketch (PNG + strokes)", short="Open")
        self.act_import = A("&Import sketch or photo of one…", self.import_dialog, "Ctrl+I",
                            "Align a scanned or photographed sketch onto the canvas",
                            short="Import")
        self.act_save = A("&Save", self.save, "Ctrl+S", "Save the sketch")
        self.act_save_as = A("Save &as…", self.save_as, "Ctrl+Shift+S")
        self.act_export = A("&Export synthesized photo…", self.export_photo, "Ctrl+E",
                            "Save the synthesized photo as an image")
        self.act_quit = A("&Quit", self.close, "Ctrl+Q")
        stack = self.document.undo_stack
        self.act_undo = A("&Undo", stack.undo, "Ctrl+Z", "Undo the last stroke")
        self.act_redo = A("&Redo", stack.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo")
        stack.canUndoChanged.connect(self.act_undo.setEnabled)
        stack.canRedoChanged.connect(self.act_redo.setEnabled)
        self.act_undo.setEnabled(False)
        self.act_redo.setEnabled(False)
        self.act_clear = A("&Clear canvas", self.document.clear, "Delete",
                           "Clear the canvas (undoable)", short="Clear")
        brush = self.brush
        self.act_brush = A("&Brush", lambda: self.set_tool("brush"), "B",
                           "Draw; pressure sets width and darkness", checkable=True)
        self.act_eraser = A("&Eraser", lambda: self.set_tool("eraser"), "E", "Erase to paper",
                            checkable=True)
        group = QActionGroup(self)
        group.addAction(self.act_brush)
        group.addAction(self.act_eraser)
        self.act_brush.setChecked(True)
        self.act_smaller = A("Smaller brush", lambda: brush.scale_size(1 / 1.2), "[")
        self.act_bigger = A("Bigger brush", lambda: brush.scale_size(1.2), "]")
        self.act_softer = A("Softer brush", lambda: brush.step_hardness(-0.1), ",")
        self.act_harder = A("Harder brush", lambda: brush.step_hardness(0.1), ".")
        self.act_colour = A("Brush &colour…", brush.pick_colour, "C",
                            "Colour strokes are hints for the colour-sketch model")
        self.act_black = A("Reset colour to pencil grey", brush.reset_colour, "D")
        self.act_zoom_in = A("Zoom &in", self.canvas.zoom_in, ["Ctrl++", "Ctrl+="])
        self.act_zoom_out = A("Zoom &out", self.canvas.zoom_out, "Ctrl+-")
        self.act_fit = A("&Fit canvas", self.canvas.fit, "Ctrl+0", short="Fit")
        self.act_actual = A("Actual &pixels", self.canvas.actual_size, "Ctrl+1")
        self.act_guide = A("Face &guide", self.canvas.set_guide_visible, "G",
                           "Show the network's canonical face frame", checkable=True,
                           short="Guide")
        self.act_guide.setChecked(True)
        self.act_search = A("&Search gallery", self.match_panel.search, "Ctrl+F",
                            "Rank gallery faces against the synthesized photo")
        self.act_gallery = A("&Manage gallery…", self.manage_gallery, "Ctrl+G")
        self.act_settings = A("&Settings…", self.settings_dialog, "Ctrl+,")
        self.act_help = A("&Shortcuts and help", self.help_dialog, "F1")
        self.act_about = A("&About SketchLab", self.about_dialog)

    def _build_menus(self) -> None:
        self.menus = MainMenus(
            self.menuBar(),
            file=[self.act_new, self.act_open, self.act_import, None, self.act_save,
                  self.act_save_as, self.act_export, None, self.act_quit],
            edit=[self.act_undo, self.act_redo, None, self.act_clear],
            tools=[self.act_brush, self.act_eraser, None, self.act_smaller, self.act_bigger,
                   self.act_softer, self.act_harder, self.act_colour, self.act_black],
            view=[self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_actual, None,
                  self.act_guide],
            gallery=[self.act_search, self.act_gallery],
            settings=[self.act_settings],
            help=[self.act_help, self.act_about])

    def _build_toolbar(self) -> None:
        tb = QToolBar("Tools")
        tb.setObjectName("tools")
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        _add(tb, [self.act_new, self.act_open, self.act_import, self.act_save, None,
                  self.act_undo, self.act_redo, self.act_clear, None, self.act_brush,
                  self.act_eraser])
        self.brush.add_to(tb)
        _add(tb, [None, self.act_guide, self.act_fit, None, self.act_search])
        self.addToolBar(tb)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.tool_label = QLabel()
        self.zoom_label = QLabel("100%")
        self.latency_label = QLabel()
        self.latency_label.setToolTip("Median time from the end of a stroke to the new photo "
                                      "on screen, this session")
        self.autosave_label = QLabel()
        for w in (self.tool_label, self.zoom_label, self.latency_label, self.autosave_label):
            sb.addPermanentWidget(w)

    # --- brush ------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.brush.set_tool(tool)
        (self.act_eraser if tool == "eraser" else self.act_brush).setChecked(True)

    # --- inversion --------------------------------------------------------------------
    def refresh_models(self) -> None:
        try:
            self.models = list_models()
        except OSError as exc:
            log.error("cannot list models: %s", exc)
            self.models = []
        self.model_combo.clear()
        for m in self.models:
            self.model_combo.addItem(m.name, m.name)
        s = self.store.value
        if self.model_combo.findData(s.model) < 0:
            path = Path(s.model)
            label = f"{path.stem} (file)" if path.is_file() else f"{s.model} (not installed)"
            self.model_combo.addItem(label, s.model)
        self.model_combo.setCurrentIndex(self.model_combo.findData(s.model))
        self.style_combo.setCurrentIndex(self.style_combo.findData(s.style))

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
            self._throttle.stop()
        image = self.document.snapshot()
        self.match_panel.note_sketch(image)  # results of another picture: out of date
        self.service.submit(image, self.store.value.style, final=final)

    def _live_interval_ms(self) -> int:
        """Gap between live previews: 60 ms, or twice the recent inversion time if longer.

        The inversion thread then works at most half the time while the pen moves, which
        leaves a core to the pen, and a pen-up usually finds it idle instead of waiting
        for a preview of an older canvas (that wait was the largest part of stroke ->
        photo after the network itself: 36 ms median at load ~2).
        """
        recent = sorted(self._work_ms[-5:])
        busy = recent[len(recent) // 2] if recent else 0.0
        return int(min(MAX_THROTTLE_MS, max(THROTTLE_MS, 2.0 * busy)))

    def _on_stroke_moved(self) -> None:
        if self.store.value.live_preview and not self._throttle.isActive():
            self._throttle.setInterval(self._live_interval_ms())
            self._throttle.start()

    def _on_history_changed(self, _index: int) -> None:
        if self._closing:
            return
        self._update_title()  # a blank canvas never saved is not unsaved work (no dot)
        self.request_inversion(final=True)

    def _on_inversion(self, result: InversionResult) -> None:
        if self._closing:
            return
        if result.photo is not None and result.stages:
            self._work_ms = [*self._work_ms[-9:], result.stages.get("preprocess", 0.0)
                             + result.stages.get("network", result.ms)]
        self.photo_pane.show_result(result)
        self.match_panel.set_query(result)
        med = self.photo_pane.median_latency_ms()
        if med is not None:
            self.latency_label.setText(f"stroke→photo {med:.0f} ms (median)")

    # --- files ------------------------------------------------------------------------
    def _update_title(self) -> None:
        name = self.current_path.name if self.current_path else "Untitled sketch"
        dirty = " •" if self.has_unsaved_work() else ""
        self.setWindowTitle(f"{name}{dirty} — SketchLab")

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
                          | QMessageBox.StandardButton.Cancel, self)
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
        self.current_path = None
        self.autosaver.source = ""
        self._update_title()
        return True

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open sketch", self._start_dir(),
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
            show_error(self, "Cannot open sketch", f"{exc}\n\nThe current sketch is unchanged.")
            return False
        self.current_path = path
        self.autosaver.source = str(path)
        self.autosaver.mark_saved()
        self._remember_dir(path)
        self._update_title()
        self.statusBar().showMessage(
            f"Opened {path.name}" + (" with its strokes" if replayed else ""), 5000)
        self.request_inversion(final=True)
        return True

    def save(self) -> bool:
        if self.current_path is None:
            return self.save_as()
        return self._save_to(self.current_path)

    def save_as(self) -> bool:
        start = str(self.current_path or Path(self._start_dir()) / "sketch.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save sketch", start,
                                              "SketchLab sketch (*.png)")
        if not path:
            return False
        p = Path(path)
        return self._save_to(p if p.suffix.lower() == ".png" else p.with_suffix(".png"))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as exc:
            show_error(self, "Cannot save sketch",
                       f"Saving to {path} failed: {exc}\n\nNothing was lost: the sketch is "
                       "still open and autosaved. Try another folder.")
            return False
        self.current_path = path
        self.autosaver.source = str(path)
        self._remember_dir(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        self.sketch_saved.emit(path)
        return True

    def export_photo(self) -> Path | None:
        """Save the photo at the network's native size, or a labelled upscaled copy."""
        from sketchlab.core.photo_export import UPSCALE_FACTOR

        last = self.photo_pane.last
        if last is None or last.photo is None:
            show_error(self, "No photo yet", "Draw or import a sketch first; the synthesized "
                       "photo appears once a model is loaded.")
            return None
        h, w = last.photo.shape[:2]
        f = UPSCALE_FACTOR
        native = f"PNG, native {w}x{h} px, exactly as the network made it (*.png)"
        bigger = (f"PNG, upscaled {f}x to {w * f}x{h * f} px, labelled as upscaled in its "
                  "name and metadata (*.png)")
        start = str(Path(self._start_dir("last_export_dir")) / "synthesized.png")
        path, chosen = QFileDialog.getSaveFileName(self, "Export synthesized photo", start,
                                                   f"{native};;{bigger}")
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
            show_error(self, "Cannot export photo", f"{exc}\n\nNothing was written; try "
                       "another folder.")
            return None
        self._remember_dir(out, "last_export_dir")
        self.statusBar().showMessage(f"Exported {out}", 8000)
        self.photo_exported.emit(last, out, factor)  # the open case records it
        return out

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import sketch",
                                              self._start_dir("last_import_dir"), IMAGE_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path, *, modal: bool = True) -> ImportDialog:
        """Open the alignment preview; accepting it puts the sketch on the canvas."""
        dlg = ImportDialog(path, self.document.size, self)
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
            show_error(self, "Cannot import image",
                       f"{dlg.error}\n\nThe current sketch is unchanged.")

    def _accept_import(self, dlg: ImportDialog, path: Path) -> None:
        if dlg.result_image is None:
            return
        self.document.set_image(dlg.result_image, f"Import {path.name}")
        self.statusBar().showMessage(f"Imported {path.name}", 5000)

    def dragEnterEvent(self, event) -> None:
        self.canvas.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        self.canvas.dropEvent(event)

    # --- recovery ---------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """Ask (modally) whether to recover a crashed session's sketch; app start calls this."""
        found = self.autosaver.find_recoverable()
        if not found:
            return False
        rec = found[0]
        answer = QMessageBox.question(
            self, "Recover sketch?",
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
        try:
            self.document.open(rec.sketch)
        except (ImageLoadError, SketchFileError, OSError) as exc:
            show_error(self, "Cannot recover sketch", f"{exc}\n\nThe files stay in {rec.folder}.")
            return False
        self.current_path = Path(rec.source) if rec.source else None
        self.autosaver.source = rec.source
        if rec.case:
            self.restore_case(rec.case)  # the case the crashed session was recording in
        self.document.undo_stack.resetClean()  # recovered work is not saved yet
        for r in [rec, *(others or [])]:
            self.autosaver.set_aside(r)
        self.autosaver.save_now()
        self._update_title()
        self.request_inversion(final=True)
        self.statusBar().showMessage(f"Recovered {rec.describe()}", 8000)
        return True

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

    # --- shutdown ---------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.confirm_close and not self.keep_or_discard("quitting"):
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
        self.save_layout()
        self._throttle.stop()
        self.statusBar().clearMessage()  # stops its message timer
        self.autosaver.discard()
        self.match_panel.shutdown()
        if self._preload is not None:
            self._preload.quit()  # its result finds the window closing, and is dropped
        if self._case_panel is not None:
            self._case_panel.shutdown()
        self.service.shutdown()
        wait_for_all()

