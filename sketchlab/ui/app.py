"""Start the desktop app: QApplication, high-DPI, icon, error dialogs, recovery, main window."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from sketchlab import __version__
from sketchlab.core import paths

log = logging.getLogger(__name__)

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    icon = QIcon()
    folder = paths.resources_dir() / "icons"
    for size in ICON_SIZES:
        f = folder / f"sketchlab-{size}.png"
        if f.is_file():
            icon.addFile(str(f))
    return icon


class ErrorReporter:
    """sys.excepthook: log the traceback and show a readable dialog; the app keeps running.

    Qt calls Python slots from its event loop, so an exception there would otherwise only
    reach stderr. The dialog is non-blocking; while one is open, further errors are only
    logged, so a failure that repeats on every repaint cannot bury the user in dialogs.
    """

    def __init__(self) -> None:
        self.box: QMessageBox | None = None

    def __call__(self, etype: type[BaseException], value: BaseException,
                 tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unhandled error", exc_info=(etype, value, tb))
        if QApplication.instance() is None or (self.box is not None and self.box.isVisible()):
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "SketchLab: unexpected error",
                          f"Something went wrong: {value}\n\nYour sketch is autosaved; you "
                          "can carry on working. Details are in the log file "
                          f"({paths.user_log_dir() / 'sketchlab.log'}).",
                          QMessageBox.StandardButton.Ok, QApplication.activeWindow())
        box.setDetailedText("".join(traceback.format_exception(etype, value, tb)))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(self._forget)
        box.open()
        self.box = box

    def _forget(self) -> None:
        self.box = None


def run(argv: list[str]) -> int:
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("SketchLab")
    app.setOrganizationName("SketchLab")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("sketchlab")
    app.setWindowIcon(app_icon())
    sys.excepthook = ErrorReporter()

    from sketchlab.ui.main_window import MainWindow

    window = MainWindow(confirm_close=True)
    window.show()
    QTimer.singleShot(0, window.recovery.offer)
    quit_after = os.environ.get("SKETCHLAB_QUIT_AFTER_MS")
    if quit_after:  # smoke tests (tests/packaging): start for real, then leave unasked
        QTimer.singleShot(int(quit_after), lambda: app.exit(0))
    log.info("SketchLab %s started", __version__)
    code = app.exec()
    window.shutdown()
    return int(code)
