"""Every candidate at once as a grid of faces, and two candidates compared side by side
with the sketch: the grid and the table are one list with one selection."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QPoint, Qt

from sketchlab.ui.dialogs.compare_dialog import CompareDialog
from sketchlab.ui.widgets.candidate_grid import CAPTION_ROLE
from sketchlab.ui.workers import InversionResult
from tests.ui.test_candidate_layout import _outcome, _store, _window


def _searched(face_sketch):
    """A 12-candidate result of a real query (the sketch and a photo-sized image)."""
    photo = np.full_like(face_sketch, 150)
    query = InversionResult(request_id=1, sketch=face_sketch, photo=photo, ms=1.0,
                            model="test", device_label="cpu", submitted=0.0, final=True,
                            colour=False)
    return dataclasses.replace(_outcome(12), query=query)


def _click(view, pos: QPoint, ctrl: bool = False) -> None:
    from pytestqt.qtbot import QtBot

    mods = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    QtBot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, mods, pos)
    if ctrl:  # let go of Ctrl: the application remembers the last modifiers it saw
        QtBot.keyRelease(view.viewport(), Qt.Key.Key_Control)


def _dialogs(panel) -> list[CompareDialog]:
    return [d for d in panel.findChildren(CompareDialog) if d.isVisible()]


def test_the_grid_shows_every_candidate_at_1280x820(qtbot, face_sketch):
    store = _store()
    w = _window(qtbot, store)
    panel = w.match_panel
    panel._on_done(_searched(face_sketch))
    panel.grid_button.click()
    qtbot.wait(50)
    grid = panel.grid
    assert grid.isVisible() and not panel.table.isVisible()
    model = grid.model()
    vp = grid.viewport().rect()
    for row in range(12):
        index = model.index(row, 1)
        assert vp.contains(grid.visualRect(index)), f"candidate {row + 1} is off screen"
        assert not index.data(Qt.ItemDataRole.DecorationRole).isNull()
    assert model.index(0, 1).data(CAPTION_ROLE) == "m1-000-01\u2028#1 · 0.300 ✔"
    assert model.index(11, 1).data(CAPTION_ROLE) == "m1-011-01\u2028#12 · 0.520"
    # one list, one selection: a click in the grid compares that face, and selects its row
    _click(grid, grid.visualRect(model.index(7, 1)).center())
    (dlg,) = _dialogs(panel)
    assert [c.rank for c in dlg.candidates] == [8] and panel.table.currentRow() == 7
    dlg.close()
    # Ctrl+click a second face: the two side by side
    _click(grid, grid.visualRect(model.index(2, 1)).center(), ctrl=True)
    (dlg,) = _dialogs(panel)
    assert [c.rank for c in dlg.candidates] == [3, 8]
    dlg.close()
    w.close()
    assert _window(qtbot, store).match_panel.grid.isVisible()  # the view comes back


def test_two_candidates_side_by_side_with_the_sketch(qtbot, face_sketch):
    w = _window(qtbot, _store())
    panel = w.match_panel
    panel._on_done(_searched(face_sketch))
    qtbot.wait(50)
    table = panel.table
    assert not panel.compare_action.isEnabled()  # nothing selected yet
    table.selectRow(0)
    assert panel.compare_action.isEnabled()
    row3 = QPoint(table.columnViewportPosition(2) + 5, table.rowViewportPosition(3) + 10)
    _click(table, row3, ctrl=True)
    (dlg,) = _dialogs(panel)
    assert [c.rank for c in dlg.candidates] == [1, 4]
    assert len(dlg.views) == 4 and all(v.image() is not None for v in dlg.views)
    assert "Distance <b>0.300</b>" in dlg.facts[0].text()
    assert "Distance <b>0.360</b>" in dlg.facts[1].text()
    assert "candidate 1 (m1-000-01) and candidate 4 (m1-003-01)" in dlg.windowTitle()
    dlg.close()
    # the same two from the context menu's action
    assert panel.compare_action.text() == "Compare the two side by side with the sketch"
    panel.compare_action.trigger()
    (dlg,) = _dialogs(panel)
    assert [c.rank for c in dlg.candidates] == [1, 4]
    dlg.close()
    # a third: two at most, so Ctrl+click only selects
    _click(table, QPoint(row3.x(), table.rowViewportPosition(5) + 10), ctrl=True)
    assert len(panel.selected_candidates()) == 3 and _dialogs(panel) == []
    assert not panel.compare_action.isEnabled()
