"""Drawing: tablet pressure, mouse strokes, eraser end, exact undo/redo, save/open."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from sketchlab.ui.brush import BrushParams
from sketchlab.ui.document import SketchDocument, sidecar_path
from sketchlab.ui.widgets.canvas import CanvasView
from tests.ui.helpers import tablet_stroke


@pytest.fixture
def view(qtbot):
    doc = SketchDocument()
    v = CanvasView(doc)
    v.resize(512 + 16, 640 + 16)  # fit() then gives zoom 1: widget px == canvas px
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    v.fit()
    assert v.zoom == pytest.approx(1.0)
    return v


def _ink_height(pixels: np.ndarray, col: int) -> int:
    """Rows of visible ink in one column crossing a horizontal stroke."""
    return int((pixels[:, col].min(axis=1) < 250).sum())


def _widget_pos(view: CanvasView, x: float, y: float) -> tuple[float, float]:
    off = view.to_canvas  # canvas = (widget - offset) / zoom; invert at zoom 1
    origin = off(view.rect().topLeft().toPointF())
    return x - origin.x(), y - origin.y()


def test_tablet_pressure_changes_width_and_darkness(view):
    doc = view.document
    view.brush = BrushParams(size=16, hardness=0.8)
    light = [_widget_pos(view, x, 200) for x in range(100, 400, 7)]
    heavy = [_widget_pos(view, x, 400) for x in range(100, 400, 7)]
    tablet_stroke(view, light, pressure=0.2)
    tablet_stroke(view, heavy, pressure=1.0)
    assert len(doc.strokes) == 2 and doc.strokes[0].points[0][2] == pytest.approx(0.2)
    thin = doc.pixels[150:250]
    thick = doc.pixels[350:450]
    w_light, w_heavy = _ink_height(thin, 250), _ink_height(thick, 250)
    assert 0 < w_light < w_heavy, (w_light, w_heavy)
    assert thin.min() > thick.min()  # light pressure is also lighter ink


def test_eraser_end_erases_and_tilt_is_recorded(view):
    doc = view.document
    view.brush = BrushParams(size=12)
    tablet_stroke(view, [_widget_pos(view, x, 300) for x in range(150, 350, 5)], 1.0,
                  tilt=(30.0, 0.0))
    assert doc.strokes[-1].points[1][3] == pytest.approx(30.0)
    assert doc.pixels[300, 250].max() < 100
    tablet_stroke(view, [_widget_pos(view, 250, y) for y in range(260, 340, 4)], 1.0,
                  kind="eraser")
    assert doc.strokes[-1].params.eraser
    assert doc.pixels[300, 250].min() == 255  # the eraser end erased, brush tool still on
    assert view.tool == "brush"


def test_mouse_stroke_draws(qtbot, view):
    doc = view.document
    start = QPoint(*map(int, _widget_pos(view, 100, 320)))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    for x in range(110, 400, 10):
        qtbot.mouseMove(view, QPoint(*map(int, _widget_pos(view, x, 320))))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton,
                       pos=QPoint(*map(int, _widget_pos(view, 400, 320))))
    assert len(doc.strokes) == 1
    assert doc.pixels[310:330, 200].min() < 60


def test_undo_restores_exactly_and_redo_reapplies(view):
    doc = view.document
    tablet_stroke(view, [_widget_pos(view, x, 250) for x in range(100, 400, 6)], 0.7)
    after_first = doc.snapshot()
    tablet_stroke(view, [_widget_pos(view, 250, y) for y in range(100, 500, 6)], 0.9)
    after_second = doc.snapshot()
    assert not np.array_equal(after_first, after_second)
    doc.undo_stack.undo()
    assert np.array_equal(doc.pixels, after_first)
    doc.undo_stack.redo()
    assert np.array_equal(doc.pixels, after_second)
    doc.clear()
    assert doc.is_blank
    doc.undo_stack.undo()
    assert np.array_equal(doc.pixels, after_second) and len(doc.strokes) == 2


def test_save_and_open_replays_strokes(tmp_path, view):
    doc = view.document
    view.brush = BrushParams(size=10, hardness=0.3, color=(180, 40, 30))
    tablet_stroke(view, [_widget_pos(view, x, 200 + x / 4) for x in range(100, 400, 6)], 0.6)
    drawn = doc.snapshot()
    png = tmp_path / "face.png"
    doc.save(png)
    side = json.loads(sidecar_path(png).read_text())
    assert side["strokes"][0]["color"] == "#b4281e"
    other = SketchDocument()
    assert other.open(png) is True
    assert np.array_equal(other.pixels, drawn)
    other.undo_stack.undo()  # replayed strokes are undoable
    assert other.is_blank
