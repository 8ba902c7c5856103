"""The enrolment window on a small real folder: a count before the first file is read,
a window that keeps its size (Cancel does not move), a summary that stays, every skipped
file with its reason, the largest-face retry, and the gallery's Source column."""

from __future__ import annotations

WAIT_MS = 60000


def _rows(table) -> dict[str, tuple[str, str]]:
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def test_enrolment_summary_skipped_files_and_retry(qtbot, gallery_dialog, enrol_folder):
    dlg = gallery_dialog
    preview = dlg.preview(enrol_folder)
    preview.rule_combo.setCurrentIndex(preview.rule_combo.findData("filename"))
    reports = []
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as got:
        preview.accept()
        run = dlg.run_dialog
        # the count is there before the job has reported anything
        assert run.isVisible() and run.counts.text().startswith("0 of 6 files")
        qtbot.waitExposed(run)
        size, cancel_at = run.size(), run.close_button.geometry()
        dlg._enrol.yielded.connect(reports.append)
    summary = got.args[0]
    assert (summary.enrolled, len(summary.skipped), len(summary.failed)) == (2, 4, 1)

    # the summary stays, and a refresh of the totals does not replace it
    qtbot.waitUntil(lambda: dlg._enrol is None and dlg.listing is not None
                    and dlg.listing.stats.photos == 2, timeout=WAIT_MS)
    assert run.isVisible() and run.heading.text() == "Done: to_enrol"
    assert run.summary.text() == summary.line()
    assert summary.line() in dlg.last_run.text() and dlg.last_run.isVisible()
    assert "2 subjects, 2 photos" in dlg.summary.text()
    # progress and final line give the same counts
    last = reports[-1]
    assert (last.done, last.enrolled, last.skipped) == (6, 2, 4)
    assert run.counts.text() == ("6 of 6 files · 2 enrolled · 0 already in the gallery · "
                                 "3 skipped · 1 failed")
    # every skipped file, with its reason
    rows = _rows(run.skipped)
    assert {k: v[0] for k, v in rows.items()} == {
        "notes.txt": "skipped: not an image", "Dan_0001.png": "skipped: no face found",
        "Carol_0001.png": "skipped: several faces", "Eve_0001.jpg": "failed: unreadable"}
    assert rows["Carol_0001.png"][1].startswith("2 faces found")
    # nothing grew or moved
    assert run.size() == size and run.close_button.geometry() == cancel_at
    assert run.close_button.text() == "Close"

    # the multi-face photo, enrolled again with its largest face, under its subject
    assert run.retry_button.isVisible()
    assert run.retry_button.text() == "Enrol the largest face of the photo with several faces"
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as again:
        run.retry_button.click()
    assert (again.args[0].enrolled, again.args[0].skipped) == (1, [])
    assert run.skipped.rowCount() == 0 and not run.retry_button.isVisible()
    qtbot.waitUntil(lambda: dlg._enrol is None and dlg.listing is not None
                    and dlg.listing.stats.photos == 3, timeout=WAIT_MS)
    assert sorted(s.name for s in dlg.listing.subjects) == ["Ann", "Bob", "Carol"]
    # the Source column names where each subject's photos came from
    sources = {dlg.tree.topLevelItem(i).text(2) for i in range(dlg.tree.topLevelItemCount())}
    assert sources == {str(enrol_folder)}
    child = dlg.tree.topLevelItem(0).child(0)
    assert child.text(2).startswith(str(enrol_folder) + "/")
    run.close_button.click()
    assert not run.isVisible()


def test_a_model_that_draws_with_a_network_shows_the_drawing(qtbot, gallery_dialog,
                                                             enrol_folder, tiny_model,
                                                             monkeypatch):
    """After the files, the new faces are drawn by the model's network: the window says
    so and its bar follows the faces, rather than sitting full and silent."""
    import sketchlab.ui.dialogs.gallery_dialog as gd
    from sketchlab.core.drawn import Drawing

    monkeypatch.setattr(gd, "model_drawing", lambda: Drawing.by_network(tiny_model))
    dlg = gallery_dialog
    preview = dlg.preview(enrol_folder)
    preview.rule_combo.setCurrentIndex(preview.rule_combo.findData("filename"))
    reports, shown = [], []
    with qtbot.waitSignal(dlg.enrolment_finished, timeout=WAIT_MS) as got:
        preview.accept()
        run = dlg.run_dialog
        dlg._enrol.yielded.connect(reports.append)
        dlg._enrol.yielded.connect(
            lambda p: shown.append((run.heading.text(), run.bar.maximum(), run.bar.value(),
                                    run.bar.text())))
    assert got.args[0].drawings.drawn == 2
    drawing = [(r, s) for r, s in zip(reports, shown, strict=True) if r.phase == "drawing"]
    assert drawing and drawing[-1][0].checked == drawing[-1][0].to_draw == 2
    heading, maximum, value, text = drawing[-1][1]
    assert heading.startswith("Drawing the new faces") and "2 of 2" in heading
    assert (maximum, value, text) == (2, 2, "2 of 2 faces")
