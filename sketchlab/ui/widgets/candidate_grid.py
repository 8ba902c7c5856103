"""Every candidate at once as a grid of faces: the candidate table's own rows, shown as
thumbnails with rank, name and distance under each.

The grid is a second view on the table's model and shares its selection, so a candidate
picked (or excluded, or greyed as out of date) in one view is the same in the other, and
one "compare" reads one selection. The table's Face column holds the icon (a small and a
large pixmap) and, under CAPTION_ROLE, the caption the grid prints.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QWidget,
)

GRID_THUMB = 72  # five faces a row in the panel's default width
CAPTION_ROLE = Qt.ItemDataRole.UserRole + 7
FACE_COLUMN = 1


def face_pixmap(data: bytes | None, size: int) -> QPixmap:
    """A stored face thumbnail scaled to `size`, or a grey square when there is none."""
    img = QImage.fromData(data) if data else QImage()
    if img.isNull():
        pm = QPixmap(size, size)
        pm.fill(QColor(80, 80, 80))
        return pm
    return QPixmap.fromImage(img).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)


def face_icon(data: bytes | None, small: int) -> QIcon:
    """One icon for both views: sharp at the table's row height and in the grid."""
    icon = QIcon(face_pixmap(data, small))
    icon.addPixmap(face_pixmap(data, GRID_THUMB))
    return icon


def caption(rank: int, name: str, distance: float, within: bool) -> str:
    """Name, then rank and distance (a tick: within the threshold), on two lines: Qt's
    wrapping item text breaks at U+2028, where it would run a "\n" into the next word."""
    return f"{name}\u2028#{rank} · {distance:.3f}{' ✔' if within else ''}"


class _CaptionDelegate(QStyledItemDelegate):
    """Draws the Face cell with its caption under the face (the table shows no text)."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.text = str(index.data(CAPTION_ROLE) or "")
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
        option.features |= QStyleOptionViewItem.ViewItemFeature.WrapText
        option.decorationPosition = QStyleOptionViewItem.Position.Top
        option.decorationAlignment = Qt.AlignmentFlag.AlignHCenter
        option.displayAlignment = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
        option.decorationSize = QSize(GRID_THUMB, GRID_THUMB)


class CandidateGrid(QListView):
    def __init__(self, table: QTableWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setModel(table.model())
        self.setModelColumn(FACE_COLUMN)
        self.setSelectionModel(table.selectionModel())
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(table.selectionMode())
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setItemDelegate(_CaptionDelegate(self))
        self.setIconSize(QSize(GRID_THUMB, GRID_THUMB))
        line = self.fontMetrics().lineSpacing()
        self.setGridSize(QSize(GRID_THUMB + 6, GRID_THUMB + 2 * line + 10))
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setToolTip("Click a face to compare it with the sketch; Ctrl+click a second "
                        "face to compare the two")
