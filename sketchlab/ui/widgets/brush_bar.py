"""The brush part of the toolbar: size, hardness and colour of the canvas's brush or eraser.

The canvas owns the brush; these controls show it and change it, and every change goes
through `sync()` so the sliders, the colour swatch and the status-bar summary never
disagree with what the pen draws.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QLabel, QSlider, QToolBar, QToolButton

from sketchlab.ui.brush import BrushParams
from sketchlab.ui.widgets.canvas import CanvasView

MAX_SIZE = 400.0  # canvas pixels; [ and ] stop here (the slider itself goes to 120)


class BrushControls(QObject):
    """Size and hardness sliders and a colour button bound to a canvas's brush."""

    summary_changed = Signal(str)  # "brush 6 px, hardness 0.8", for the status bar

    def __init__(self, canvas: CanvasView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.size_slider = _slider(1, 120, 110, "Brush size in canvas pixels ([ and ])")
        self.size_slider.valueChanged.connect(self._on_size)
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(34)
        self.hard_slider = _slider(0, 100, 80, "Brush hardness (, and .)")
        self.hard_slider.valueChanged.connect(lambda v: self._set_brush(hardness=v / 100.0))
        self.colour_button = QToolButton()
        self.colour_button.setToolTip("Brush colour (C); colour strokes are hints for the "
                                      "colour-sketch model")
        self.colour_button.clicked.connect(self.pick_colour)

    def add_to(self, tb: QToolBar) -> None:
        for w in (QLabel(" Size "), self.size_slider, self.size_label, QLabel(" Hardness "),
                  self.hard_slider, self.colour_button):
            tb.addWidget(w)

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.sync()

    def sync(self) -> None:
        """Show the canvas's current tool on the controls and in the summary."""
        b = self.canvas.brush
        size = self.canvas.active_size()
        for w, v in ((self.size_slider, round(size)), (self.hard_slider, round(b.hardness * 100))):
            w.blockSignals(True)
            w.setValue(int(v))
            w.blockSignals(False)
        self.size_label.setText(f"{size:.0f} px")
        pm = QPixmap(16, 16)
        pm.fill(QColor(*b.color))
        self.colour_button.setIcon(QIcon(pm))
        self.summary_changed.emit(f"{self.canvas.tool} {size:.0f} px, hardness {b.hardness:.1f}")
        self.canvas.update()

    def scale_size(self, factor: float) -> None:
        self._set_size(min(MAX_SIZE, max(1.0, self.canvas.active_size() * factor)))

    def step_hardness(self, delta: float) -> None:
        self._set_brush(hardness=min(1.0, max(0.0, self.canvas.brush.hardness + delta)))

    def pick_colour(self) -> None:
        c = QColorDialog.getColor(QColor(*self.canvas.brush.color), self.canvas.window(),
                                  "Brush colour")
        if c.isValid():
            self._set_brush(color=(c.red(), c.green(), c.blue()))

    def reset_colour(self) -> None:
        self._set_brush(color=BrushParams().color)

    def _set_size(self, size: float) -> None:
        if self.canvas.tool == "eraser":
            self.canvas.eraser_size = size
            self.sync()
        else:
            self._set_brush(size=size)

    def _on_size(self, value: int) -> None:
        self._set_size(float(value))

    def _set_brush(self, **changes: object) -> None:
        self.canvas.brush = dataclasses.replace(self.canvas.brush, **changes)
        self.sync()


def _slider(lo: int, hi: int, width: int, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setFixedWidth(width)
    s.setToolTip(tip)
    return s
