"""Importing a file that is not an image: one clear message, no traceback anywhere; the
Import dialog offers every format the loader opens."""

from __future__ import annotations

import logging

from sketchlab.core.imageio import IMAGE_SUFFIXES
from sketchlab.ui.file_commands import IMAGE_FILTER
from tests.ui.helpers import make_window, visible_message_boxes


def test_renamed_text_file_gets_a_message_and_no_traceback(qtbot, tmp_path, caplog, capfd):
    w = make_window(qtbot, "no-such-model", tmp_path / "autosave", show=False)
    notes = tmp_path / "notes.jpg"
    notes.write_text("Witness: tall, dark hair, glasses.\nSeen at 21:40 on Mill Lane.\n")
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    dlg = w.files.import_file(notes)
    qtbot.waitUntil(lambda: dlg.error is not None, timeout=20000)
    boxes = visible_message_boxes()
    assert boxes and "notes.jpg: not a recognised image file" in boxes[0].text()
    assert "GIF" in boxes[0].text() and w.document.is_blank
    boxes[0].close()

    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) <= 1 and all("\n" not in r.getMessage() for r in loud)
    assert all(r.levelno < logging.ERROR for r in caplog.records)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_import_filter_offers_every_format_the_loader_opens():
    offered = set(IMAGE_FILTER[IMAGE_FILTER.index("(") + 1:-1].split())
    assert offered == {f"*{s}" for s in IMAGE_SUFFIXES} and "*.gif" in offered
