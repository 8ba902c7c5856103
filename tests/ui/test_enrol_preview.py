"""Enrolling a folder from the GUI: subjects previewed, named by rule or manifest, and a
cancelled run's partial set kept or removed as the user says."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from sketchlab.enrol.inputs import subject_from_filename
from sketchlab.ui.dialogs.enrol_dialog import EnrolPreviewDialog

WAIT_MS = 60000


def _rows(dlg: EnrolPreviewDialog) -> list[tuple[str, int]]:
    t = dlg.table
    return [(t.topLevelItem(i).text(0), int(t.topLevelItem(i).text(1)))
            for i in range(t.topLevelItemCount())]


@pytest.fixture
def flat_folder(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    img = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    for name in ("George_Bush_0002", "Adrien_Brody_0001", "Adrien_Brody_0002",
                 "Adrien_Brody_0011", "George_Bush_0001"):
        img.save(folder / f"{name}.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_file_name_rule():
    assert subject_from_filename("Adrien_Brody_0011") == "Adrien_Brody"
    assert subject_from_filename("jane doe (2)") == "jane doe"
    assert subject_from_filename("f-039-01") == "f-039-01"  # no name part left: kept whole
    assert subject_from_filename("Alice") == "Alice"


def test_preview_of_a_flat_folder(qtbot, flat_folder, tmp_path):
    dlg = EnrolPreviewDialog(flat_folder)
    qtbot.addWidget(dlg)
    # numbered names group into fewer subjects than photos: that rule is chosen
    assert dlg.rule == "filename"
    assert _rows(dlg) == [("Adrien_Brody", 3), ("George_Bush", 2)]
    assert "5 photo(s) → 2 subject(s)" in dlg.summary.text()
    assert "1 file(s) will be skipped" in dlg.summary.text()
    assert dlg.warning.text() == "" and dlg.ok.isEnabled()

    dlg.rule_combo.setCurrentIndex(dlg.rule_combo.findData("folder"))
    assert len(_rows(dlg)) == 5
    assert "Every photo will become its own subject" in dlg.warning.text()

    manifest = tmp_path / "people.csv"
    manifest.write_text("photo,identity\n"
                        f"{flat_folder}/Adrien_Brody_0001.jpg,Brody A\n"
                        f"{flat_folder}/Adrien_Brody_0002.jpg,Brody A\n"
                        f"{flat_folder}/George_Bush_0001.jpg,Bush G\n")
    dlg.set_manifest(manifest)
    assert dlg.rule == "manifest" and dlg.enrol_paths() == [manifest]
    assert _rows(dlg) == [("Brody A", 2), ("Bush G", 1)]


def test_folder_with_a_manifest_starts_on_it(qtbot, flat_folder):
    (flat_folder / "manifest.csv").write_text(
        "path,subject\nAdrien_Brody_0001.jpg,AB\nGeorge_Bush_0001.jpg,GB\n")
    dlg = EnrolPreviewDialog(flat_folder)
    qtbot.addWidget(dlg)
    assert dlg.rule == "manifest" and _rows(dlg) == [("AB", 1), ("GB", 1)]


@pytest.fixture
def lfw_flat(shared_data, tmp_path):
    """Real LFW photos of two people, in one flat folder as LFW ships them."""
    src = shared_data / "lfw" / "images"
    folder = tmp_path / "lfw_flat"
    folder.mkdir()
    names = [f"Adrien_Brody_{i:04d}.jpg" for i in range(1, 7)] + \
            [f"Abdullah_Gul_{i:04d}.jpg" for i in range(1, 5)]
    for n in names:
        (folder / n).symlink_to(src / n)
    return folder


def test_enrol_through_the_preview_makes_one_subject_per_person(qtbot, gallery_dialog,
                                                                  lfw_flat):
    dlg = gallery_dialog
    preview = dlg.preview(lfw_flat)
    assert preview.rule == "filename"
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as got:
        preview.accept()
    assert got.args[0].enrolled >= 8 and not got.args[0].cancelled
    qtbot.waitUntil(lambda: dlg.listing is not None and dlg.listing.stats.photos >= 8,
                    timeout=WAIT_MS)
    names = sorted(s.name for s in dlg.listing.subjects)
    assert names == ["Abdullah_Gul", "Adrien_Brody"]
    # the list is sorted by name
    assert dlg.tree.topLevelItem(0).text(0) == "Abdullah_Gul"


def _cancel_after_two(worker):
    """Press Cancel once two photos are done (their face chips cut; the descriptors are
    computed in batches, and a cancel still embeds and commits what was cut). Run on the
    enrolment thread (direct connection) as the progress dialog's Cancel does: the
    photos take ~0.1 s each, so a queued call would arrive after the run had ended."""
    def on_progress(p) -> None:
        if p.done >= 2:
            worker.quit()
    return on_progress


@pytest.mark.parametrize("answer", ["Remove them", "Keep them"])
def test_cancelled_enrolment_asks_whether_to_keep_the_partial_set(qtbot, gallery_dialog,
                                                                   lfw_flat, answer):
    dlg = gallery_dialog
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as got:
        worker = dlg.enrol(lfw_flat, rule="filename")
        worker.yielded.connect(_cancel_after_two(worker), Qt.ConnectionType.DirectConnection)
    summary = got.args[0]
    assert summary.cancelled and 2 <= len(summary.committed_sha256) < 10
    box = dlg.partial_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    # the counts the progress showed: files dealt with, then the photos enrolled
    assert f"after {summary.done} of 10 files" in box.text()
    assert f"{len(summary.committed_sha256)} photo(s)" in box.text()
    qtbot.waitUntil(lambda: dlg._enrol is None, timeout=WAIT_MS)
    dlg.listing = None
    next(b for b in box.buttons() if b.text() == answer).click()
    if answer == "Remove them":
        qtbot.waitUntil(lambda: dlg.listing is not None and dlg.listing.stats.photos == 0,
                        timeout=WAIT_MS)
        assert dlg.listing.subjects == [] and "0 subjects, 0 photos" in dlg.summary.text()
    else:
        assert "Kept the" in dlg.last_run.text()
        dlg.refresh()
        qtbot.waitUntil(lambda: dlg.listing is not None, timeout=WAIT_MS)
        assert dlg.listing.stats.photos == len(summary.committed_sha256)
