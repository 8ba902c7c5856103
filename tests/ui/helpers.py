"""What the UI tests share: tablet input (pytest-qt has no tablet helper), a main window
made the one way, drawing on it, and waiting for its photo and its search."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

_DEVICES: dict[str, QPointingDevice] = {}


def stylus(kind: str = "pen") -> QPointingDevice:
    """A stylus device (pen tip or eraser end) with pressure and tilt, like a Wacom pen."""
    if kind not in _DEVICES:
        ptype = (QPointingDevice.PointerType.Eraser if kind == "eraser"
                 else QPointingDevice.PointerType.Pen)
        caps = (QInputDevice.Capability.Position | QInputDevice.Capability.Pressure
                | QInputDevice.Capability.XTilt | QInputDevice.Capability.YTilt)
        _DEVICES[kind] = QPointingDevice(f"test stylus {kind}", 1000 + len(_DEVICES),
                                         QInputDevice.DeviceType.Stylus, ptype, caps, 1, 3,
                                         parent=QApplication.instance())
    return _DEVICES[kind]


def tablet_stroke(widget: QWidget, points: list[tuple[float, float]], pressure: float,
                  kind: str = "pen", tilt: tuple[float, float] = (0.0, 0.0)) -> None:
    """Press, move through `points`, release: real QTabletEvents sent to the widget."""
    dev = stylus(kind)
    n = len(points)
    for i, (x, y) in enumerate(points):
        etype = (QTabletEvent.Type.TabletPress if i == 0 else
                 QTabletEvent.Type.TabletRelease if i == n - 1 else QTabletEvent.Type.TabletMove)
        pos = QPointF(x, y)
        button = Qt.MouseButton.LeftButton
        buttons = Qt.MouseButton.NoButton if i == n - 1 else Qt.MouseButton.LeftButton
        ev = QTabletEvent(etype, dev, pos, QPointF(widget.mapToGlobal(pos)), pressure,
                          tilt[0], tilt[1], 0.0, 0.0, 0.0, Qt.KeyboardModifier.NoModifier,
                          button, buttons)
        QApplication.sendEvent(widget, ev)


def make_window(qtbot, model, autosave_root, *, show: bool = True,
                confirm_close: bool = False, size: tuple[int, int] | None = None,
                **settings: object):
    """A main window on `model` (a path or a name; "no-such-model" for none) on the CPU,
    autosaving under `autosave_root`; `settings` override the defaults."""
    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    store = SettingsStore()
    store.update(store.value.replace(model=str(model), device="cpu", **settings))
    w = MainWindow(store, autosave_root=autosave_root, confirm_close=confirm_close)
    qtbot.addWidget(w)
    if size is not None:
        w.resize(*size)
    if show:
        w.show()
        qtbot.waitExposed(w)
    return w


def open_searchable_window(qtbot, model, gallery_url: str, autosave_root, top_k: int = 3,
                           wait_ms: int = 30000):
    """A shown main window on `model` (CPU) and a gallery, once its photo pane is ready."""
    w = make_window(qtbot, model, autosave_root, gallery_url=gallery_url, top_k=top_k)
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=wait_ms)
    return w


def pen_stroke(w, points: list[tuple[float, float]], pressure: float = 0.9) -> None:
    """A pen stroke on the window's canvas through document (sketch pixel) coordinates."""
    t = w.canvas._transform()
    mapped = [t.map(QPointF(x, y)) for x, y in points]
    tablet_stroke(w.canvas, [(p.x(), p.y()) for p in mapped], pressure)


def draw_line(w, y: float = 300.0, pressure: float = 0.8) -> None:
    """One horizontal stroke across the face frame at document row `y`."""
    pen_stroke(w, [(x, y) for x in range(120, 400, 8)], pressure)


def wait_for_current_photo(qtbot, w, shown: list, timeout: int = 30000) -> None:
    """Until `shown` (connected to `inversion_done`) holds the photo of the canvas now."""
    qtbot.waitUntil(lambda: any(r.final and r.photo is not None
                                and r.request_id == w.service.latest_id for r in shown),
                    timeout=timeout)


def draw_and_wait_for_photo(qtbot, w, timeout: int = 30000) -> list:
    """Draw a line and wait for its photo; returns every InversionResult shown meanwhile."""
    shown: list = []
    w.inversion_done.connect(shown.append)
    draw_line(w)
    wait_for_current_photo(qtbot, w, shown, timeout)
    return shown


def search_and_wait(qtbot, w, done: list, timeout: int = 30000):
    """Gallery > Search; `done` is connected to `match_done`. Returns the new MatchResult."""
    n = len(done)
    w.commands.search.trigger()  # may wait for the photo of the current canvas first
    qtbot.waitUntil(lambda: len(done) > n, timeout=timeout)
    return done[-1]


def visible_message_boxes() -> list[QMessageBox]:
    return [b for b in QApplication.topLevelWidgets()
            if isinstance(b, QMessageBox) and b.isVisible()]
