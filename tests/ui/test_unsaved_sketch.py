"""File > New (Ctrl+N) and Quit: drawing is never thrown away without asking, and a blank
new sketch is not "unsaved work" that Quit asks about."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from sketchlab.ui.main_window import MainWindow
from tests.ui.helpers import draw_line, make_window


def _window(qtbot, tmp_path, confirm_close: bool = False) -> MainWindow:
    return make_window(qtbot, "no-such-model", tmp_path / "autosave",
                       confirm_close=confirm_close)


def _answer(button: QMessageBox.StandardButton, asked: list[str]) -> None:
    """Click `button` in the save question when it shows (it is modal); note its text."""
    def click() -> None:
        boxes = [b for b in QApplication.topLevelWidgets()
                 if isinstance(b, QMessageBox) and b.objectName() == "saveSketchBox"
                 and b.isVisible()]
        if boxes:
            asked.append(boxes[0].text())
            boxes[0].button(button).click()
    QTimer.singleShot(100, click)


def test_ctrl_n_on_a_drawing_asks_and_cancel_keeps_it(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    assert w.commands.new.shortcut() == QKeySequence("Ctrl+N")
    draw_line(w)
    drawn = w.document.snapshot()
    asked: list[str] = []
    _answer(QMessageBox.StandardButton.Cancel, asked)
    w.commands.new.trigger()
    assert asked and "unsaved changes" in asked[0]
    assert (w.document.pixels == drawn).all() and len(w.document.strokes) == 1


def test_ctrl_n_discard_gives_a_blank_sketch_that_quit_does_not_ask_about(qtbot, tmp_path):
    w = _window(qtbot, tmp_path, confirm_close=True)
    draw_line(w)
    asked: list[str] = []
    _answer(QMessageBox.StandardButton.Discard, asked)
    w.commands.new.trigger()
    assert len(asked) == 1 and w.document.is_blank
    assert not w.files.has_unsaved_work() and "•" not in w.windowTitle()

    _answer(QMessageBox.StandardButton.Cancel, asked)  # would keep the window if asked
    w.commands.new.trigger()  # a second New on a blank sketch: nothing to ask either
    _answer(QMessageBox.StandardButton.Cancel, asked)
    assert w.close()
    assert len(asked) == 1, "Quit or New asked to save an empty sketch"
    qtbot.wait(150)  # let the pending answers run out while nothing is shown


def test_ctrl_n_save_writes_the_drawing_first(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    draw_line(w)
    target = tmp_path / "kept.png"
    w.files.current_path = target  # saved before: Save writes there without a file dialog
    asked: list[str] = []
    _answer(QMessageBox.StandardButton.Save, asked)
    w.commands.new.trigger()
    assert asked and target.is_file() and w.document.is_blank
    assert w.files.current_path is None and not w.files.has_unsaved_work()
