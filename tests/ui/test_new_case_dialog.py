"""New case form: a refused case number keeps everything typed and marks the number."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox


def _fill(dlg, number: str) -> None:
    dlg.number.setText(number)
    dlg.title_edit.setText("Street robbery, Mill Lane")
    dlg.artist.setText("A. Artist")
    dlg.investigator.setText("DI Smith")
    dlg.witness.setPlainText("male, 30s, round glasses, scar over the left eyebrow")


def _submit_over(panel, qtbot, existing: str, number: str):
    """Case `existing` is in the store; the form is filled with `number` and OK clicked."""
    panel.create_case(number=existing, title="earlier case")
    dlg = panel.new_case_dialog()
    _fill(dlg, number)
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    return dlg


def test_duplicate_number_keeps_the_form_and_marks_the_number(panel, qtbot):
    dlg = _submit_over(panel, qtbot, "2026-0042", "2026-0042")

    assert dlg.isVisible(), "the form was thrown away"
    assert dlg.title_edit.text() == "Street robbery, Mill Lane"
    assert dlg.artist.text() == "A. Artist" and dlg.investigator.text() == "DI Smith"
    assert "scar over the left eyebrow" in dlg.witness.toPlainText()
    assert "already exists" in dlg.problem.text() and dlg.problem.isVisible()
    assert "#c00000" in dlg.number.styleSheet() and dlg.focusWidget() is dlg.number
    assert dlg.title_edit.styleSheet() == ""
    assert [c.number for c in panel.store.list_cases()] == ["2026-0042"]

    dlg.number.setText("2026-0043")  # typing clears the mark; then it goes through
    assert dlg.number.styleSheet() == ""
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())
    info = panel.store.get(panel.current).info
    assert (info.number, info.title, info.witness_description) == (
        "2026-0043", "Street robbery, Mill Lane",
        "male, 30s, round glasses, scar over the left eyebrow")


def test_cancel_creates_nothing(panel, qtbot):
    dlg = panel.new_case_dialog()
    _fill(dlg, "")
    dlg.reject()
    assert panel.store.list_cases() == [] and panel.current is None


def test_number_differing_only_in_letter_case_is_refused_in_the_form(panel, qtbot):
    dlg = _submit_over(panel, qtbot, "ROB-17", "rob-17")

    assert dlg.isVisible() and dlg.problem.isVisible()
    assert "'ROB-17' already exists" in dlg.problem.text()
    assert "capital letters" in dlg.problem.text()
    assert "#c00000" in dlg.number.styleSheet()
    assert [c.number for c in panel.store.list_cases()] == ["ROB-17"]
    dlg.reject()
