"""The leads-not-identifications warning, worded and styled once for every view of candidates."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

DISCLAIMER = ("Results are investigative leads, not identifications. A sketch-derived "
              "likeness can resemble many people; every lead needs independent confirmation.")


def disclaimer_label(parent: QWidget | None = None) -> QLabel:
    """DISCLAIMER in its warning colours, word-wrapped."""
    label = QLabel(DISCLAIMER, parent)
    label.setObjectName("disclaimer")
    label.setWordWrap(True)
    label.setStyleSheet("QLabel#disclaimer { background: #5a4a1e; color: #ffe9a8;"
                        " padding: 6px; border-radius: 4px; }")
    return label
