"""The main window end to end (offscreen): live photo, no-model state, import, autosave."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.ui.main_window import MainWindow
from tests.ui.helpers import draw_line, make_window, visible_message_boxes

WAIT_MS = 10000  # generous for a loaded 2-core CI machine; typical is well under 1 s


def _make_window(qtbot, model, autosave_root) -> MainWindow:
    return make_window(qtbot, model, autosave_root, size=(1100, 760))


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    w = _make_window(qtbot, tiny_model, tmp_path / "autosave")
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=WAIT_MS)
    return w


def test_photo_pane_updates_after_a_stroke(qtbot, window):
    shown = []
    window.inversion_done.connect(shown.append)
    draw_line(window)
    qtbot.waitUntil(lambda: any(r.final and r.photo is not None for r in shown),
                    timeout=WAIT_MS)
    res = [r for r in shown if r.final][-1]
    assert res.photo.shape == (64, 48, 3)  # the tiny model's frame
    assert res.request_id == window.service.latest_id
    assert window.photo_pane.view.pixmap() is not None
    assert "CPU" in window.photo_pane.info.text() and "ms" in window.photo_pane.info.text()
    assert window.photo_pane.median_latency_ms() is not None


def test_no_model_installed_keeps_canvas_usable(qtbot, tmp_path):
    w = _make_window(qtbot, "no-such-model", tmp_path / "autosave")
    assert w.photo_pane.status is None
    assert "not installed" in w.photo_pane.view.text()
    draw_line(w)
    assert len(w.document.strokes) == 1
    assert not w.match_panel.button.isEnabled()


def test_open_bad_file_shows_error_and_keeps_sketch(qtbot, window, tmp_path):
    draw_line(window)
    before = window.document.snapshot()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert window.files.open_file(bad) is False
    boxes = visible_message_boxes()
    assert boxes and "not a recognised image" in boxes[0].text()
    assert np.array_equal(window.document.pixels, before)
    boxes[0].close()


def test_autosave_and_recovery_after_crash(qtbot, tiny_model, tmp_path):
    root = tmp_path / "autosave"
    crashed = _make_window(qtbot, tiny_model, root)
    draw_line(crashed)
    draw_line(crashed, y=420, pressure=0.4)
    drawn = crashed.document.snapshot()
    assert crashed.autosaver.save_now()
    # A crash: the process dies without shutdown(); its autosave folder stays behind.
    crashed.autosaver.stop()
    folder = crashed.autosaver.folder
    assert (folder / "sketch.png").is_file()

    fresh = _make_window(qtbot, tiny_model, root)
    found = fresh.autosaver.find_recoverable()
    assert [r.folder for r in found] == [folder]
    assert fresh.recovery.recover(found[0])
    assert np.array_equal(fresh.document.pixels, drawn)
    assert len(fresh.document.strokes) == 2  # strokes came back, undoable
    assert not fresh.document.undo_stack.isClean()
    assert fresh.autosaver.find_recoverable() == []  # set aside, not offered twice
    assert (root / "declined").is_dir() or not folder.exists()
    crashed.shutdown()
    fresh.shutdown()
    assert not fresh.autosaver.folder.exists()  # a clean exit leaves no autosave


def test_help_lists_every_tool_shortcut(window):
    from sketchlab.ui.dialogs.help_dialog import shortcut_rows

    rows = {t: k for _m, t, k in shortcut_rows(window.actions())}
    for name in ("Brush", "Eraser", "Undo", "Redo", "Clear canvas", "Bigger brush",
                 "Smaller brush", "Face guide", "Fit canvas", "Search gallery",
                 "Import sketch or photo of one…", "Brush colour…"):
        assert name in rows, name
    keys = [k.toString() for a in window.actions() for k in a.shortcuts()]
    assert len(keys) == len(set(keys)), "ambiguous shortcut"


def test_import_cufs_sketch_fills_canvas(qtbot, window, shared_data):
    sketch = shared_data / "cufs_cuhk" / "test" / "sketches" / "f1-001-01-sz1.jpg"
    dlg = window.files.import_file(sketch)
    qtbot.waitUntil(lambda: dlg.analysis is not None or dlg.error is not None, timeout=30000)
    assert dlg.error is None
    assert dlg.analysis.method == "landmarks"
    assert window.document.is_blank  # nothing happens before the user accepts
    dlg.dx.setValue(4.0)  # a correction in the preview reaches the canvas
    dlg.accept()
    px = window.document.pixels
    ink = px.min(axis=2) < 160
    h, w = px.shape[:2]
    assert ink.mean() > 0.05  # a real pencil sketch, not a few specks
    ys, xs = np.nonzero(ink)
    # The face fills the frame the way CUFS does: ink spans most of both axes.
    assert xs.max() - xs.min() > 0.6 * w and ys.max() - ys.min() > 0.6 * h
    assert window.document.undo_stack.undoText().startswith("Import")
    window.document.undo_stack.undo()
    assert window.document.is_blank


def test_import_of_a_bad_file_says_why(qtbot, window, tmp_path):
    bad = tmp_path / "scan.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    dlg = window.files.import_file(bad)
    qtbot.waitUntil(lambda: dlg.error is not None, timeout=10000)
    boxes = visible_message_boxes()
    assert boxes and "scan.jpg" in boxes[0].text()
    assert window.document.is_blank
    boxes[0].close()


def test_colour_strokes_make_a_colour_sketch(qtbot, window):
    from sketchlab.ui.brush import BrushParams

    shown = []
    window.inversion_done.connect(shown.append)
    draw_line(window, y=250)
    qtbot.waitUntil(lambda: any(r.final and r.request_id == window.service.latest_id
                                for r in shown), timeout=WAIT_MS)
    assert not shown[-1].colour  # pencil grey
    window.canvas.brush = BrushParams(size=24, color=(200, 40, 40))
    for y in (300, 330, 360):
        draw_line(window, y=y)
    qtbot.waitUntil(lambda: shown[-1].request_id == window.service.latest_id, timeout=WAIT_MS)
    assert shown[-1].colour
    assert shown[-1].sketch[..., 0].mean() > shown[-1].sketch[..., 2].mean()  # red kept


def test_brush_commands_keep_the_toolbar_and_status_bar_in_step(qtbot, tmp_path):
    """[ ] , . change the tool in use (brush and eraser keep their own sizes), and the
    sliders and the status bar always show what the pen will draw."""
    w = _make_window(qtbot, "no-such-model", tmp_path / "autosave")
    c, b = w.canvas, w.brush
    size = c.brush.size
    w.commands.bigger.trigger()
    assert c.brush.size == pytest.approx(size * 1.2)
    assert b.size_slider.value() == round(c.brush.size)
    assert w.status_labels.tool.text().startswith(f"brush {c.brush.size:.0f} px")
    w.commands.eraser.trigger()
    eraser = c.eraser_size
    w.commands.smaller.trigger()
    assert c.eraser_size == pytest.approx(eraser / 1.2)
    assert c.brush.size == pytest.approx(size * 1.2)  # the brush kept its own size
    assert b.size_slider.value() == round(c.eraser_size)
    assert w.status_labels.tool.text().startswith(f"eraser {c.eraser_size:.0f} px")
    b.size_slider.setValue(400)  # the slider stops at 120; ] goes on to 400
    assert c.eraser_size == 120
    for _ in range(30):
        w.commands.bigger.trigger()
    assert c.eraser_size == 400 and b.size_slider.value() == 120
    hardness = c.brush.hardness
    w.commands.softer.trigger()
    assert c.brush.hardness == pytest.approx(hardness - 0.1)
    assert b.hard_slider.value() == round(c.brush.hardness * 100)
    w.commands.brush_tool.trigger()
    assert w.commands.brush_tool.isChecked() and c.tool == "brush"
    assert b.size_slider.value() == round(c.brush.size)


def test_case_dock_and_export_case_sit_in_their_menus(qtbot, tmp_path):
    w = _make_window(qtbot, "no-such-model", tmp_path / "autosave")
    assert w.case_dock.toggleViewAction() in w.menus.view.actions()
    panel = w.case_dock.panel  # built now if its background import has not finished
    file_actions = w.menus.file.actions()
    i = file_actions.index(w.commands.export)
    assert file_actions[i + 1] is panel.export_action
    assert {a.property("menu") for a in w.menus.file.actions() if not a.isSeparator()} == {
        "File"}
