"""Match panel and gallery manager against a real temp gallery of CUFS photos."""

from __future__ import annotations

import pytest

from sketchlab.ui.dialogs.gallery_dialog import GalleryDialog
from sketchlab.ui.gallery_handle import GalleryHandle
from tests.ui.conftest import N_GALLERY_PHOTOS as N_PHOTOS
from tests.ui.helpers import draw_line, open_searchable_window, search_and_wait

WAIT_MS = 30000


def test_match_panel_lists_candidates(qtbot, tiny_model, gallery_url, tmp_path):
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    draw_line(w)
    done: list = []
    w.match_done.connect(done.append)
    outcome = search_and_wait(qtbot, w, done, WAIT_MS)
    assert outcome.gallery_size == N_PHOTOS
    assert outcome.query.request_id == w.service.latest_id  # searched the current sketch
    table = w.match_panel.table
    assert table.rowCount() == 3
    dists = [float(table.item(r, 3).text()) for r in range(3)]
    assert dists == sorted(dists)
    names = [table.item(r, 2).text() for r in range(3)]
    assert all(names) and len(set(names)) == 3
    assert not table.item(0, 1).icon().isNull()  # the face thumbnail
    assert "leads, not identifications" in w.match_panel.disclaimer.text()
    # A stricter threshold is applied live: nothing is within 0.05 of an untrained photo.
    w.store.update(w.store.value.replace(threshold=0.21))
    assert all("above" in table.item(r, 5).text() for r in range(3))
    # Click -> side-by-side comparison.
    from sketchlab.ui.dialogs.compare_dialog import CompareDialog

    w.match_panel._on_clicked(0, 2)
    dlgs = w.match_panel.findChildren(CompareDialog)
    assert dlgs and dlgs[0].views[2].image() is not None
    dlgs[0].close()


def test_match_panel_shows_variants_stability_and_rates(qtbot, calibrated_tiny_model,
                                                        shared_data, tmp_path):
    """A calibrated model: the search inverts 8 variants, shows them, and says for each
    candidate how many variant searches kept it and how many non-mates come as close."""
    from sketchlab.core.calibration import MIN_GALLERY
    from sketchlab.db.gallery import open_gallery

    model, kinds = calibrated_tiny_model
    photos = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))
    url = f"sqlite:///{tmp_path / 'gallery12.sqlite'}"
    with open_gallery(url) as g:  # big enough to read distances against
        assert g.enroll(photos[:MIN_GALLERY], workers=1).enrolled == MIN_GALLERY
    w = open_searchable_window(qtbot, model, url, tmp_path / "autosave", wait_ms=WAIT_MS)
    draw_line(w)
    done: list = []
    w.match_done.connect(done.append)
    outcome, panel = search_and_wait(qtbot, w, done, WAIT_MS), w.match_panel
    assert len(outcome.variant_photos) == 8 and outcome.variant_names[0] == "as drawn"
    assert panel.variant_box.isVisible() and panel.variants.count() == 9  # 8 + stretch
    norm = outcome.rule.norm
    assert norm is not None and norm.n == MIN_GALLERY
    assert outcome.rule.threshold == pytest.approx(
        norm.distance(kinds["variants"].threshold_at(0.01)))
    table = panel.table
    for r in range(table.rowCount()):
        assert table.item(r, 6).text().endswith("/8")
        assert "1 in" in table.item(r, 4).text() or "%" in table.item(r, 4).text()
        assert "non-mates" in table.item(r, 4).toolTip()  # the column's header says it
    assert "non-mates" in table.horizontalHeaderItem(4).text().replace("\n", " ").lower()
    assert "1 in 100 non-mates come this close" in panel.rule_label.text()
    # Changing the rate in Settings re-marks the same candidates.
    w.store.update(w.store.value.replace(match_fmr=0.1))
    assert "1 in 10 non-mates" in panel.rule_label.text()


def test_gallery_manager_lists_enrols_and_removes(qtbot, gallery_url, cufs_photos, tmp_path,
                                                   shared_data):
    handle = GalleryHandle(gallery_url)
    dlg = GalleryDialog(handle)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
    assert dlg.tree.topLevelItemCount() == N_PHOTOS
    assert f"{N_PHOTOS} photos" in dlg.summary.text()

    folder = tmp_path / "new"
    folder.mkdir()
    extra = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[N_PHOTOS]
    (folder / extra.name).symlink_to(extra)
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as got:
        dlg.enrol(folder)
    assert got.args[0].enrolled == 1
    qtbot.waitUntil(lambda: dlg.tree.topLevelItemCount() == N_PHOTOS + 1, timeout=WAIT_MS)

    first = dlg.listing.subjects[0]
    dlg.listing = None
    dlg.remove([first.id], [])
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
    assert dlg.tree.topLevelItemCount() == N_PHOTOS
    assert first.name not in [s.name for s in dlg.listing.subjects]
    dlg.close()
    handle.close()


def _search_with_the_bundled_model(qtbot, gallery_url, tmp_path):
    """(window, outcome): a stroke drawn in the app's window with the shipped model, and
    the search of the gallery it ran."""
    from sketchlab.core.model_catalog import resolve_model

    w = open_searchable_window(qtbot, resolve_model(None), gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    draw_line(w)
    done: list = []
    w.match_done.connect(done.append)
    return w, search_and_wait(qtbot, w, done, WAIT_MS)


def test_the_bundled_model_searches_a_drawn_gallery_two_ways(qtbot, gallery_url, tmp_path):
    """The shipped model carries two-way tables and a freshly enrolled gallery has every
    face's drawing: the panel's search goes two ways and says so."""
    from sketchlab.core.pipeline import TWO_WAY_WORDS

    w, outcome = _search_with_the_bundled_model(qtbot, gallery_url, tmp_path)
    assert outcome.two_way and outcome.kind == "adapted+drawn"
    assert "searched two ways" in w.match_panel.status.text()
    assert TWO_WAY_WORDS in outcome.calibration and "two-way" in outcome.rule.describe()


def test_a_search_says_when_undrawn_faces_kept_it_one_way(qtbot, gallery_url, tmp_path):
    """Faces without the model's drawing (a gallery enrolled before it drew this way)
    keep the search one way: the panel and `match --json` say how many, and where to
    draw them."""
    from sqlalchemy import delete

    from sketchlab.core.matching import EMBEDDING_MODEL
    from sketchlab.db.gallery import open_gallery
    from sketchlab.db.tables import Embedding

    with open_gallery(gallery_url) as g, g.session() as s:  # the faces stay, undrawn
        s.execute(delete(Embedding).where(Embedding.model != EMBEDDING_MODEL))
    w, outcome = _search_with_the_bundled_model(qtbot, gallery_url, tmp_path)
    assert not outcome.two_way and outcome.undrawn == N_PHOTOS
    assert outcome.as_json()["undrawn_faces"] == N_PHOTOS
    status = w.match_panel.status.text()
    assert f"searched one way: {N_PHOTOS} faces are not drawn yet" in status
    assert "Draw missing faces" in status


def test_gallery_window_says_how_many_faces_are_searched_one_way(qtbot, gallery_url):
    """A gallery enrolled before drawings (here: its drawings deleted) is searched one way,
    the gallery window says how many faces lack one, and its button draws them: the
    progress is shown, and after it the gallery is searched two ways again."""
    from sqlalchemy import delete

    from sketchlab.core.model_catalog import model_drawing
    from sketchlab.db.gallery import open_gallery
    from sketchlab.db.tables import Embedding

    drawing = model_drawing().model  # as the bundled model draws them
    with open_gallery(gallery_url) as g:
        assert g.stats().drawn_by(drawing) == N_PHOTOS  # enrolled now: every face drawn
        with g.session() as s:
            s.execute(delete(Embedding).where(Embedding.model == drawing))
    handle = GalleryHandle(gallery_url)
    dlg = GalleryDialog(handle)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
    text = dlg.summary.text()
    assert f"{N_PHOTOS} without a drawing, so searched one way" in text
    assert "sketchlab gallery draw" in text
    assert dlg.draw_button.isVisible()
    assert dlg.draw_button.text() == f"Draw {N_PHOTOS} missing face(s)"
    seen: list[str] = []
    show = dlg._show_drawing
    dlg._show_drawing = lambda p: (show(p), seen.append(dlg.summary.text()))
    dlg.draw_missing()
    assert dlg.draw_button.text() == "Stop drawing" and not dlg.enrol_button.isEnabled()
    qtbot.waitUntil(lambda: dlg._drawing is None and not dlg.draw_button.isVisible(),
                    timeout=WAIT_MS)  # the listing read after the drawing has none to draw
    assert any(f"of {N_PHOTOS}…" in t for t in seen)
    assert f"Drew {N_PHOTOS} faces" in dlg.last_run.text()
    assert "searched two ways" in dlg.last_run.text()
    assert "without a drawing" not in dlg.summary.text() and dlg.enrol_button.isEnabled()
    with open_gallery(gallery_url) as g:
        assert g.stats().drawn_by(drawing) == N_PHOTOS
    dlg.close()
    handle.close()


def test_enrolment_cancel_says_at_once_that_it_stops(qtbot, shared_data, tmp_path):
    handle = GalleryHandle(f"sqlite:///{tmp_path / 'g.sqlite'}")
    dlg = GalleryDialog(handle)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
    folder = shared_data / "cufs_cuhk" / "test" / "photos"
    said = []

    def cancel_once(p) -> None:
        run = dlg.run_dialog
        if p.done >= 1 and run.close_button.isEnabled():
            run.close_button.click()
            # before the job has seen the cancel, the window says it is stopping
            said.append((run.isVisible(), run.heading.text(), run.close_button.text()))

    with qtbot.waitSignal(dlg.enrolment_finished, timeout=60000) as got:
        worker = dlg.enrol(folder)
        worker.yielded.connect(cancel_once)
    summary = got.args[0]
    assert summary.cancelled and summary.enrolled < 100
    assert said[0] == (True, "Stopping: finishing the photos already being read…",
                       "Stopping…")
    run = dlg.run_dialog
    assert run.isVisible() and run.heading.text().startswith("Cancelled")
    assert run.close_button.text() == "Close" and run.close_button.isEnabled()
    if dlg.partial_box is not None:
        dlg.partial_box.close()
    qtbot.waitUntil(lambda: dlg._enrol is None, timeout=WAIT_MS)
    dlg.close()
    handle.close()


def test_a_listing_read_that_ends_late_does_not_undo_a_newer_one(qtbot, gallery_dialog,
                                                                 monkeypatch):
    """Two refreshes in flight (an enrolment's end, then a removal's): the older read may
    end last, and its stale rows must not replace the newer listing."""
    import threading

    from sketchlab.ui.dialogs import gallery_dialog as module

    dlg = gallery_dialog
    real = module.load_listing
    release = threading.Event()
    stale = module.GalleryListing(stats=object(), subjects=["stale"], photos={})

    def slow_stale(handle):
        release.wait(30)
        return stale

    monkeypatch.setattr(module, "load_listing", slow_stale)
    dlg.refresh()  # the older read: blocks until released
    monkeypatch.setattr(module, "load_listing", real)
    dlg.listing = None
    dlg.refresh()  # the newer read
    qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
    fresh = dlg.listing
    release.set()
    qtbot.waitUntil(lambda: not dlg._workers, timeout=WAIT_MS)  # the stale read has ended
    assert dlg.listing is fresh and fresh.subjects == []
