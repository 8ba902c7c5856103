"""The main window's size, docks and splitter, kept in the settings between runs."""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

from sketchlab.ui.settings import SettingsStore

DEFAULT_SIZE = (1280, 820)


def restore_layout(window: QMainWindow, splitter: QSplitter, store: SettingsStore) -> None:
    """The layout as the user left it, or the defaults."""
    state = store.ui_value("window_state")
    if isinstance(state, QByteArray):  # docks first: a hidden one frees its width
        window.restoreState(state)
    geometry = store.ui_value("geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    else:
        window.resize(*DEFAULT_SIZE)
    split = store.ui_value("splitter")
    if isinstance(split, QByteArray):
        splitter.restoreState(split)


def save_layout(window: QMainWindow, splitter: QSplitter, store: SettingsStore) -> None:
    store.set_ui_value("geometry", window.saveGeometry())
    store.set_ui_value("window_state", window.saveState())
    store.set_ui_value("splitter", splitter.saveState())
