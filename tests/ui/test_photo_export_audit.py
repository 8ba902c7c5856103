"""A synthesized photo exported (Ctrl+E) while a case is open is in the case's audit
log: which photo, the file it went to, and that file's SHA-256."""

from __future__ import annotations

import hashlib

from sketchlab.cases import CaseStore
from tests.ui.helpers import draw_and_wait_for_photo, make_window

WAIT_MS = 30000


def _window_with_a_photo(qtbot, tiny_model, tmp_path, case_title: str | None = None):
    """A window with a model, a case open when `case_title` is given, and a drawn photo."""
    w = make_window(qtbot, tiny_model, tmp_path / "autosave")
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=WAIT_MS)
    info = w.case_dock.panel.create_case(title=case_title) if case_title else None
    draw_and_wait_for_photo(qtbot, w, WAIT_MS)
    return w, info


def test_photo_export_is_recorded_with_where_and_hash(qtbot, tiny_model, tmp_path):
    w, info = _window_with_a_photo(qtbot, tiny_model, tmp_path, "Export check")

    native = w.files.export_photo_to(tmp_path / "out" / "suspect.png")
    big = w.files.export_photo_to(tmp_path / "out" / "suspect.png", upscale=True)
    assert native is not None and big is not None and big != native

    store: CaseStore = w.case_dock.panel.store
    exports = [e for e in store.entries(info.uid) if e.action == "photo.export"]
    assert [e.details["file"] for e in exports] == [str(native.resolve()), str(big.resolve())]
    for e, f in zip(exports, (native, big), strict=True):
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        assert e.details["sha256"] == sha and [a.sha256 for a in e.artefacts] == [sha]
        assert store.artefacts.read(sha) == f.read_bytes()  # the file itself is kept
    assert exports[0].details["upscale_factor"] == 1
    assert exports[1].details["upscale_factor"] == 4
    # Both are the photo of one inversion, recorded (once) before its export.
    case = store.get(info.uid)
    assert len(case.inversions) == 1
    assert {e.details["inversion"] for e in exports} == {case.inversions[0].number}
    assert store.verify(info.uid).ok
    whats = [w.case_dock.panel.log_view.topLevelItem(i).text(3)
             for i in range(w.case_dock.panel.log_view.topLevelItemCount())]
    assert any("exported to" in t and "suspect-upscaled-4x.png" in t for t in whats)
    w.close()


def test_no_case_open_records_nothing(qtbot, tiny_model, tmp_path):
    w, _ = _window_with_a_photo(qtbot, tiny_model, tmp_path)
    assert w.files.export_photo_to(tmp_path / "p.png") is not None
    assert w.case_dock.panel.current is None and w.case_dock.panel.store.list_cases() == []
    w.close()
