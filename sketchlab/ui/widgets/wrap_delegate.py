"""Word-wrapped cells whose rows grow to fit them, in a tree or table view.

`setWordWrap(True)` alone does not do it: the views ask the delegate for a row's height
without telling it the column's width, so a long entry keeps one line and is cut off
("changed title -> A much lon…"). This delegate measures the text at the column's
current width, and the view lays its rows out again whenever a column is resized.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

_PAD = 8  # the cell's text margins (both sides) in the common styles


class WrapDelegate(QStyledItemDelegate):
    """Wraps the text of `columns` of `view` (a QTreeView or QTableView)."""

    def __init__(self, view: QAbstractItemView, header: QHeaderView,
                 columns: tuple[int, ...]) -> None:
        super().__init__(view)
        self._header = header
        self._columns = columns
        view.setWordWrap(True)
        view.setTextElideMode(Qt.TextElideMode.ElideNone)
        for c in columns:
            view.setItemDelegateForColumn(c, self)
        header.sectionResized.connect(lambda *_a: view.doItemsLayout())

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        width = max(20, self._header.sectionSize(index.column()) - _PAD)
        box = option.fontMetrics.boundingRect(QRect(0, 0, width, 1 << 20),
                                              Qt.TextFlag.TextWordWrap, text)
        return QSize(base.width(), max(base.height(), box.height() + 4))
