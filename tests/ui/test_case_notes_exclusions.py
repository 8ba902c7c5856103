"""From the Case dock: notes on the open case, and candidates ruled out with a reason,
both in the case's audit log (the search's own record is left as it was)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtWidgets import QDialogButtonBox, QPlainTextEdit

from tests.ui.test_case_panel import Result


def candidates(n: int) -> list[dict]:
    """Ranked candidates as a search returns them (no thumbnails)."""
    return [{"rank": i, "subject": f"subject-{i:03d}", "photo_sha256": f"{i:064x}",
             "distance": 0.35 + 0.06 * i, "score": 0.5, "within_threshold": i == 1}
            for i in range(1, n + 1)]


@dataclass(frozen=True)
class Outcome:
    """What the match panel hands the case panel after a search."""

    query: Result
    candidates: list = field(default_factory=lambda: candidates(4))
    gallery_url: str = "sqlite:///gallery.sqlite"
    gallery_size: int = 16
    threshold: float = 0.6
    k: int = 4


def _searched(panel, face_sketch) -> str:
    info = panel.create_case(title="Leads")
    photo = np.full((64, 48, 3), 128, np.uint8)
    panel.recorder.note_model("tiny", "0" * 64)  # as the app does when the model loads
    panel.on_match(Outcome(Result(sketch=face_sketch, photo=photo, ms=5.0, model="tiny")))
    assert panel.last_match == 1
    return info.uid


def test_exclude_a_candidate_with_its_reason(panel, face_sketch):
    uid = _searched(panel, face_sketch)
    assert not panel.exclude_candidate(2, "   ")  # a reason is required
    assert "say why" in panel.status.text()
    assert panel.exclude_candidate(2, "in custody on the day of the robbery")
    e = panel.store.entries(uid)[-1]
    assert e.action == "candidate.exclude"
    assert e.details == {"match": 1, "rank": 2, "subject": "subject-002",
                         "photo_sha256": f"{2:064x}",
                         "reason": "in custody on the day of the robbery"}
    last = panel.log_view.topLevelItem(panel.log_view.topLevelItemCount() - 1).text(3)
    assert "excluded candidate #2 subject-002" in last and "in custody" in last
    assert len(panel.store.get(uid).matches[0].candidates) == 4  # the search is unchanged
    assert panel.store.verify(uid).ok


def test_exclusion_needs_a_recorded_search(panel):
    panel.create_case(title="No search yet")
    assert not panel.exclude_candidate(1, "alibi")
    assert "search" in panel.last_error


def test_note_from_the_dock(panel, qtbot, face_sketch):
    uid = _searched(panel, face_sketch)
    assert panel.note_button.isEnabled()
    dlg = panel.note_dialog()
    dlg.findChild(QPlainTextEdit).setPlainText("Witness re-interviewed: the scar is on the "
                                               "right eyebrow, not the left.")
    dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dlg.isVisible())
    e = panel.store.entries(uid)[-1]
    assert e.action == "note.add" and "right eyebrow" in e.details["text"]
    assert panel.store.verify(uid).ok
    panel.open_case(None)
    assert not panel.note_button.isEnabled()
