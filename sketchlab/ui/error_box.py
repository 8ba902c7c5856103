"""The window's error box: it says what went wrong without stopping the app."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """A non-blocking, readable error box; the app keeps running."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("errorBox")
    box.open()
    log.warning("%s: %s", title, " ".join(text.split()))  # one line in the log
    return box
