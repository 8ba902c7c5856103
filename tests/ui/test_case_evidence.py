"""Issue 11 in the app: records tied to the exact image searched, stale results, and the
open case coming back after a restart or a crash (pytest-qt, offscreen, real workers)."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import unicodedata
import zipfile

import numpy as np
from PIL import Image

from sketchlab.cases.artefacts import rgb_sha256
from sketchlab.ui.main_window import MainWindow
from tests.ui.helpers import (
    draw_line,
    make_window,
    open_searchable_window,
    pen_stroke,
    search_and_wait,
    visible_message_boxes,
    wait_for_current_photo,
)

WAIT_MS = 30000


def draw_cartoon(w: MainWindow) -> None:
    """A smiley: a round head, two eyes and a mouth."""
    h, wd = w.document.size
    cx, cy, r = wd / 2, h / 2, min(h, wd) * 0.3
    turn = 2 * math.pi / 40
    pen_stroke(w, [(cx + r * math.cos(a * turn), cy + r * math.sin(a * turn))
                   for a in range(41)])
    for ex in (cx - r * 0.4, cx + r * 0.4):
        pen_stroke(w, [(ex, cy - r * 0.35 + d) for d in range(0, 12, 2)])
    pen_stroke(w, [(cx + r * 0.5 * math.cos(a / 12 * math.pi), cy + r * 0.3
                    + r * 0.3 * math.sin(a / 12 * math.pi)) for a in range(13)])


def test_misattribution_sequence_in_the_app(qtbot, tiny_model, gallery_url, shared_data,
                                            tmp_path):
    """Issue 11's sequence: save v1, import another image (unsaved), search -> not v1;
    clear, draw a cartoon, search, export -> the PDF shows the cartoon under its own hash.
    Meanwhile the candidate list says when it belongs to an earlier sketch."""
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    info = w.case_dock.panel.create_case(title="Misattribution")
    store = w.case_dock.panel.store
    shown, done = [], []
    w.inversion_done.connect(shown.append)
    w.match_done.connect(done.append)

    draw_line(w, pressure=0.9)
    wait_for_current_photo(qtbot, w, shown, WAIT_MS)
    assert w.files.save_to(tmp_path / "v1.png")
    assert [v.version for v in store.get(info.uid).sketches] == [1]

    cufs = shared_data / "cufs_cuhk" / "test" / "sketches" / "f1-001-01-sz1.jpg"
    dlg = w.files.import_file(cufs)
    qtbot.waitUntil(lambda: dlg.analysis is not None or dlg.error is not None,
                    timeout=WAIT_MS)
    dlg.accept()
    imported = w.document.snapshot()
    wait_for_current_photo(qtbot, w, shown, WAIT_MS)
    first = search_and_wait(qtbot, w, done, WAIT_MS)
    case = store.get(info.uid)
    assert len(case.sketches) == 1  # the import was never saved, and no version is invented
    inv = case.inversion(case.matches[-1].inversion)
    assert inv.sketch_version is None, "the search is attributed to a sketch it never used"
    source = np.asarray(Image.open(io.BytesIO(store.artefacts.read(inv.source_sha256))))
    assert rgb_sha256(source) == rgb_sha256(imported) == rgb_sha256(first.query.canvas)
    assert not w.match_panel.stale

    # A new stroke makes the list out of date; undoing it makes it current again.
    pen_stroke(w, [(x, 500) for x in range(150, 350, 8)])
    qtbot.waitUntil(lambda: w.match_panel.stale, timeout=WAIT_MS)
    assert w.match_panel.stale_label.isVisibleTo(w.match_panel)
    assert "Out of date" in w.match_panel.stale_label.text()
    w.commands.undo.trigger()
    assert not w.match_panel.stale and not w.match_panel.stale_label.isVisibleTo(w)

    w.commands.clear.trigger()
    assert w.match_panel.stale
    draw_cartoon(w)
    drawn = w.document.snapshot()
    wait_for_current_photo(qtbot, w, shown, WAIT_MS)
    search_and_wait(qtbot, w, done, WAIT_MS)
    assert not w.match_panel.stale
    case = store.get(info.uid)
    inv = case.inversion(case.matches[-1].inversion)
    assert inv.sketch_version is None
    source = np.asarray(Image.open(io.BytesIO(store.artefacts.read(inv.source_sha256))))
    assert rgb_sha256(source) == rgb_sha256(drawn)
    assert store.verify(info.uid).ok

    with qtbot.waitSignal(w.case_dock.panel.export_finished, timeout=WAIT_MS) as got:
        w.case_dock.panel.start_export(tmp_path / "case.zip")
    if shutil.which("pdftotext"):
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(zipfile.ZipFile(got.args[0]).read("report.pdf"))
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        flat = "".join(unicodedata.normalize("NFKC", text).split())
        assert inv.source_sha256 in flat and "neversavedasasketchversion" in flat
        assert case.sketches[0].image_sha256 not in flat
    w.close()


def test_search_again_setting_reruns_a_stale_search(qtbot, tiny_model, gallery_url,
                                                    tmp_path):
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    w.store.update(w.store.value.replace(search_again=True))
    info = w.case_dock.panel.create_case(title="Re-run")
    shown, done = [], []
    w.inversion_done.connect(shown.append)
    w.match_done.connect(done.append)
    draw_line(w, pressure=0.9)
    wait_for_current_photo(qtbot, w, shown, WAIT_MS)
    search_and_wait(qtbot, w, done, WAIT_MS)
    pen_stroke(w, [(x, 420) for x in range(150, 350, 8)])
    qtbot.waitUntil(lambda: len(done) == 2 and not w.match_panel.stale, timeout=WAIT_MS)
    assert rgb_sha256(done[-1].query.canvas) == rgb_sha256(w.document.snapshot())
    case = w.case_dock.panel.store.get(info.uid)
    assert len(case.matches) == 2 and case.matches[0].inversion != case.matches[1].inversion
    w.close()


def test_open_case_comes_back_after_a_restart(qtbot, tiny_model, tmp_path):
    first = make_window(qtbot, tiny_model, tmp_path / "autosave")
    info = first.case_dock.panel.create_case(title="Kept open")
    first.close()  # a clean exit
    second = make_window(qtbot, tiny_model, tmp_path / "autosave")
    assert second.case_dock.panel.current == info.uid
    assert second.case_dock.panel.combo.currentData() == info.uid
    second.case_dock.panel.open_case(None)  # closing the case is remembered too
    second.close()
    third = make_window(qtbot, tiny_model, tmp_path / "autosave")
    assert third.case_dock.panel.current is None
    third.close()


def test_open_case_comes_back_with_a_crash_recovery(qtbot, tiny_model, tmp_path):
    root = tmp_path / "autosave"
    crashed = make_window(qtbot, tiny_model, root)
    info = crashed.case_dock.panel.create_case(title="Crashed in")
    draw_line(crashed, pressure=0.9)
    assert crashed.autosaver.save_now()
    crashed.autosaver.stop()  # the process dies here: no shutdown, the autosave stays
    # Another window later closed with no case open, so only the autosave knows the case.
    crashed.store.set_ui_value("open_case", "")

    fresh = make_window(qtbot, tiny_model, root)
    assert fresh.case_dock.panel.current is None
    found = fresh.autosaver.find_recoverable()
    assert [r.case for r in found] == [info.uid]
    assert fresh.recovery.recover(found[0])
    assert fresh.case_dock.panel.current == info.uid  # recording resumes in the same case
    crashed.shutdown()
    fresh.shutdown()


def test_a_case_gone_from_the_store_is_reported_not_silently_dropped(qtbot, tiny_model,
                                                                     tmp_path):
    w = make_window(qtbot, tiny_model, tmp_path / "autosave")
    assert not w.case_dock.restore_case("0f0f0f0f-dead-4bad-8bad-0f0f0f0f0f0f")
    boxes = visible_message_boxes()
    assert boxes and "nothing is being recorded" in boxes[0].text()
    boxes[0].close()
    w.close()

