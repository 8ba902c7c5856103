"""The case panel: create, switch, record, verify, export, import (pytest-qt, offscreen)."""

import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sketchlab.cases import CaseStore
from sketchlab.ui.panels.case_panel import CasePanel
from sketchlab.ui.workers import running_jobs


@dataclass(frozen=True)
class Result:
    sketch: np.ndarray
    photo: np.ndarray
    ms: float
    model: str
    device_label: str = "CPU"
    final: bool = True
    colour: bool = False


def test_create_switch_and_record(panel, qtbot, tmp_path, face_sketch):
    assert panel.current is None and not panel.export_action.isEnabled()
    with qtbot.waitSignal(panel.case_changed):
        a = panel.create_case(title="First", artist="Ann")
    b = panel.create_case(title="Second")
    assert panel.current == b.uid and panel.combo.count() == 3
    panel.open_case(a.uid)
    assert panel.current == a.uid and panel.combo.currentData() == a.uid
    assert panel.export_action.isEnabled()
    png = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(png)
    with qtbot.waitSignal(panel.recorded):
        panel.on_sketch_saved(png)
    assert len(panel.store.get(a.uid).sketches) == 1
    assert len(panel.store.get(b.uid).sketches) == 0
    assert panel.log_view.topLevelItemCount() == 2
    assert "sketch version 1" in panel.log_view.topLevelItem(1).text(3)
    assert panel.verify()
    panel.open_case(None)
    panel.on_sketch_saved(png)  # no case open: nothing recorded, no error
    assert len(panel.store.get(a.uid).sketches) == 1


def test_recording_error_is_shown_not_raised(panel, qtbot, tmp_path):
    panel.create_case(title="x")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with qtbot.waitSignal(panel.error):
        panel.on_sketch_saved(bad)
    assert "recording it in the case failed" in panel.status.text()


def test_export_and_import(panel, qtbot, tmp_path, face_sketch):
    info = panel.create_case(title="Exported")
    png = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(png)
    panel.on_inversion(Result(face_sketch, face_sketch, 5.0, "no-such-model"))
    panel.on_sketch_saved(png)
    out = panel.export_to(tmp_path / "case.zip")
    assert out is not None and "report.pdf" in zipfile.ZipFile(out).namelist()
    other = CasePanel(CaseStore(tmp_path / "other"))
    qtbot.addWidget(other)
    assert other.import_from(out) == info.number
    assert other.current == info.uid and "Imported" in other.status.text()
    assert other.import_from(out) is None and "already" in other.last_error
    other.store.close()


def test_export_runs_off_the_ui_thread(panel, qtbot, tmp_path, face_sketch):
    panel.create_case(title="Threaded")
    png = tmp_path / "s.png"
    Image.fromarray(face_sketch).save(png)
    panel.on_sketch_saved(png)
    with qtbot.waitSignal(panel.export_finished, timeout=60000) as got:
        panel.start_export(tmp_path / "t.zip")
        assert not panel.export_action.isEnabled()  # one export at a time
    assert got.args[0] == tmp_path / "t.zip" and (tmp_path / "t.zip").is_file()
    qtbot.waitUntil(lambda: panel.export_action.isEnabled(), timeout=10000)
    with qtbot.waitSignal(panel.export_finished, timeout=60000) as got:
        panel.start_export(tmp_path / "t.zip")  # exists, no overwrite: a readable error
    assert got.args[0] is None and "already exists" in panel.last_error
    qtbot.waitUntil(lambda: panel.export_action.isEnabled() and not running_jobs(),
                    timeout=10000)


def test_audit_what_column_shows_every_entry_whole(panel, qtbot):
    """A long "what" wraps onto as many lines as it needs in the narrow dock (it was cut
    to one line, and a changed title to 40 characters), and says it all in a tooltip."""
    from PySide6.QtCore import QRect, Qt

    title = "Street robbery on Mill Lane, the corner shop by the bus station, 21:40"
    panel.resize(300, 600)
    panel.show()
    info = panel.create_case(number="2026-0001", title="first")
    panel.store.update_case(info.uid, title=title)
    panel.refresh()
    view = panel.log_view
    for width in (300, 420):
        panel.resize(width, 600)
        qtbot.wait(20)
        col = view.header().sectionSize(3)
        assert view.header().sectionViewportPosition(3) + col <= view.viewport().width()
        for i in range(view.topLevelItemCount()):
            item = view.topLevelItem(i)
            need = view.fontMetrics().boundingRect(QRect(0, 0, col - 8, 10000),
                                                   Qt.TextFlag.TextWordWrap, item.text(3))
            assert view.visualItemRect(item).height() >= need.height(), item.text(3)
    last = view.topLevelItem(view.topLevelItemCount() - 1)
    assert title in last.text(3) and title in last.toolTip(3) and title in last.toolTip(1)
