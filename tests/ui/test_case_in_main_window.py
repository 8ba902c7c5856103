"""The case panel inside the main window: saving, inverting and searching are recorded."""

from __future__ import annotations

import zipfile

from sketchlab.cases.bundle import verify_bundle
from sketchlab.cases.gallery_link import gallery_identity
from sketchlab.core.checkpoint import load_generator
from sketchlab.db.gallery import open_gallery
from sketchlab.db.search import Matcher
from tests.ui.helpers import draw_and_wait_for_photo, open_searchable_window, search_and_wait

WAIT_MS = 30000


def test_saving_and_searching_are_recorded_in_the_open_case(qtbot, tiny_model, gallery_url,
                                                            tmp_path):
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    file_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&File")
    assert w.case_dock.panel.export_action in file_menu.actions()
    assert not w.case_dock.panel.export_action.isEnabled()  # no case open yet

    info = w.case_dock.panel.create_case(title="From the app", artist="tester")
    draw_and_wait_for_photo(qtbot, w, WAIT_MS)
    assert w.files.save_to(tmp_path / "suspect.png")
    done: list = []
    w.match_done.connect(done.append)
    search_and_wait(qtbot, w, done, WAIT_MS)

    case = w.case_dock.panel.store.get(info.uid)
    assert len(case.sketches) == 1 and case.sketches[0].strokes_sha256  # PNG + strokes
    assert len(case.inversions) == 1
    assert case.inversions[0].model_sha256 == load_generator(tiny_model).sha256
    run = case.matches[0]
    assert run.inversion == 1 and len(run.candidates) == 3 and run.gallery.size == 4
    with open_gallery(gallery_url) as g:
        assert run.gallery.fingerprint == gallery_identity(g, Matcher(g)).fingerprint
    assert w.case_dock.panel.store.verify(info.uid).ok
    assert "Recorded search 1" in w.case_dock.panel.status.text()

    with qtbot.waitSignal(w.case_dock.panel.export_finished, timeout=WAIT_MS) as got:
        w.case_dock.panel.start_export(tmp_path / "case.zip")
    assert got.args[0] is not None and verify_bundle(got.args[0]).ok
    assert "report.pdf" in zipfile.ZipFile(got.args[0]).namelist()
    w.close()
