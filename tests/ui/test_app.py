"""App-level safety nets: the error hook, settings persistence, live settings, drag-and-drop."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from sketchlab.ui.app import ErrorReporter, app_icon
from sketchlab.ui.settings import AppSettings, SettingsStore
from tests.ui.helpers import make_window


def test_error_hook_shows_one_readable_dialog_and_logs(qtbot, caplog):
    hook = ErrorReporter()
    with caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError("gallery file vanished")
        except RuntimeError as exc:
            hook(type(exc), exc, exc.__traceback__)
            hook(type(exc), exc, exc.__traceback__)  # a repeat while the box is up
    assert "gallery file vanished" in caplog.text
    assert hook.box is not None and hook.box.isVisible()
    assert "gallery file vanished" in hook.box.text()
    assert "RuntimeError" in hook.box.detailedText()
    boxes = [w for w in QApplication.topLevelWidgets() if w.isVisible()
             and w.windowTitle() == "SketchLab: unexpected error"]
    assert len(boxes) == 1
    hook.box.close()


def test_icon_set_is_bundled():
    icon = app_icon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= {16, 32, 256}


def test_settings_round_trip_and_validation(tmp_path):
    store = SettingsStore(tmp_path / "s.ini")
    new = store.value.replace(threshold=0.45, autosave_seconds=9, device="cpu", top_k=5)
    seen = []
    store.changed.connect(seen.append)
    store.update(new)
    store.update(new)  # unchanged: no second signal
    assert seen == [new]
    assert SettingsStore(tmp_path / "s.ini").value == new
    with pytest.raises(ValueError):
        AppSettings(device="tpu")
    (tmp_path / "bad.ini").write_text("[app]\nthreshold=banana\ntop_k=-3\n")
    assert SettingsStore(tmp_path / "bad.ini").value == AppSettings()


def test_settings_apply_live(qtbot, tiny_model, tmp_path):
    w = make_window(qtbot, tiny_model, tmp_path / "a", show=False)
    store = w.store
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=10000)
    store.update(store.value.replace(autosave_seconds=42, model="missing-model"))
    assert w.autosaver._timer.interval() == 42000
    assert w.photo_pane.status is None and "not installed" in w.photo_pane.view.text()
    store.update(store.value.replace(model=str(tiny_model)))
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=10000)


def test_dropping_an_image_opens_the_import_preview(qtbot, tiny_model, tmp_path, face_sketch):
    from sketchlab.core.imageio import save_image
    from sketchlab.ui.dialogs.import_dialog import ImportDialog

    path = tmp_path / "drawn.png"
    save_image(path, face_sketch)
    w = make_window(qtbot, tiny_model, tmp_path / "a")
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, md,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w.canvas, enter)  # Qt delivers a drop only after an enter
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, md,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w.canvas, drop)
    dlgs = w.findChildren(ImportDialog)
    assert len(dlgs) == 1
    qtbot.waitUntil(lambda: dlgs[0].analysis is not None, timeout=30000)
    dlgs[0].accept()
    assert not w.document.is_blank


def test_about_shows_model_card_data(tiny_model):
    from sketchlab.core.model_catalog import describe
    from sketchlab.ui.dialogs.help_dialog import about_markdown

    info = describe(tiny_model)
    text = about_markdown([info], loaded=info.name)
    assert "tiny (in use)" in text and info.sha256[:16] in text and "64x48" in text
    assert "No model is installed" in about_markdown([], None)
