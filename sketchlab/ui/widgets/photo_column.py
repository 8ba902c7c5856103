"""The live photo under the two choices that shape it: the model and the sketch style."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QVBoxLayout, QWidget

from sketchlab.core.model_catalog import ModelInfo
from sketchlab.ui.settings import STYLES
from sketchlab.ui.widgets.photo_pane import PhotoPane


class PhotoColumn(QWidget):
    """Model and Style lists above the photo pane; a choice is emitted, not applied, so
    the settings stay the one place that says which model and style are in use."""

    model_chosen = Signal(str)
    style_chosen = Signal(str)

    def __init__(self, photo_pane: PhotoPane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("photo-column")
        self.photo_pane = photo_pane
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Sketch-inversion model (installed models)")
        self.model_combo.activated.connect(
            lambda _i: self.model_chosen.emit(self.model_combo.currentData()))
        self.style_combo = QComboBox()
        self.style_combo.setToolTip("What kind of sketch this is; Auto decides from the "
                                    "strokes (colour strokes make it a colour sketch)")
        for st in STYLES:
            self.style_combo.addItem(st.capitalize(), st)
        self.style_combo.activated.connect(
            lambda _i: self.style_chosen.emit(self.style_combo.currentData()))
        for combo in (self.model_combo, self.style_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        selectors = QFormLayout()
        selectors.setContentsMargins(0, 0, 0, 0)
        selectors.addRow("Model", self.model_combo)
        selectors.addRow("Style", self.style_combo)
        tl = QVBoxLayout(self)
        tl.setContentsMargins(6, 6, 6, 6)
        tl.addLayout(selectors)
        tl.addWidget(photo_pane, 1)
        self.setMinimumWidth(170)

    def show_choices(self, models: list[ModelInfo], model: str, style: str) -> None:
        """List the installed models, plus `model` when it is a file or missing, and
        select `model` and `style`."""
        self.model_combo.clear()
        for m in models:
            self.model_combo.addItem(m.name, m.name)
        if self.model_combo.findData(model) < 0:
            path = Path(model)
            label = f"{path.stem} (file)" if path.is_file() else f"{model} (not installed)"
            self.model_combo.addItem(label, model)
        self.model_combo.setCurrentIndex(self.model_combo.findData(model))
        self.style_combo.setCurrentIndex(self.style_combo.findData(style))
