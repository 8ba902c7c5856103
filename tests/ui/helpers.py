"""Input simulation shared by the UI tests (pytest-qt has no tablet helper)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication, QWidget

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


def open_searchable_window(qtbot, model, gallery_url: str, autosave_root, top_k: int = 3,
                           wait_ms: int = 30000):
    """A shown main window on `model` (CPU) and a gallery, once its photo pane is ready."""
    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    store = SettingsStore()
    store.update(store.value.replace(model=str(model), device="cpu", gallery_url=gallery_url,
                                     top_k=top_k))
    w = MainWindow(store, autosave_root=autosave_root)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=wait_ms)
    return w
