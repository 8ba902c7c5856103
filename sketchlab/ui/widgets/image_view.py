"""A label that shows an image scaled to fit, keeping its aspect, and rescales on resize."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from sketchlab.ui.qtimage import pixmap_fit, qimage_from_rgb


class ImageView(QLabel):
    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(96, 120)
        self.setStyleSheet("ImageView { background: #2b2d31; color: #c8c8c8; "
                           "border-radius: 4px; padding: 6px; }")
        self.setText(placeholder)

    def sizeHint(self) -> QSize:
        return QSize(256, 320)

    def set_image(self, image: np.ndarray | QImage | None, message: str | None = None) -> None:
        if image is None:
            self._image = None
            self.clear()
            self.setText(message if message is not None else self._placeholder)
            return
        self._image = image if isinstance(image, QImage) else qimage_from_rgb(image)
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def _rescale(self) -> None:
        if self._image is not None:
            self.setPixmap(pixmap_fit(self._image, self.width() - 12, self.height() - 12))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()
