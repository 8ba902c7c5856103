"""numpy <-> Qt image conversion in one place."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> an independent QImage (the array may be freed afterwards)."""
    a = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pixmap_fit(rgb: np.ndarray | QImage, width: int, height: int) -> QPixmap:
    """A pixmap scaled to fit (width, height), smooth, keeping the aspect ratio."""
    img = rgb if isinstance(rgb, QImage) else qimage_from_rgb(rgb)
    return QPixmap.fromImage(img).scaled(max(1, width), max(1, height),
                                         Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
