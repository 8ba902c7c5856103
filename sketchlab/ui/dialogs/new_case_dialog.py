"""New case: number (optional), title, people and the witness description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from sketchlab.cases import CaseError, CaseStoreError

# What a case store may raise for a user's request; shown to the user, never a traceback.
CASE_ERRORS = (CaseError, CaseStoreError, OSError, ValueError)


class NewCaseDialog(QDialog):
    """Case number (optional), title, people and the witness description.

    With `create` given, OK calls it with `values()`; when it refuses (a duplicate case
    number, say), the dialog stays open with everything typed kept, marks the field at
    fault and says why, so nothing the user typed is lost.
    """

    BAD_FIELD_STYLE = "border: 2px solid #c00000;"

    def __init__(self, parent: QWidget | None = None,
                 create: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New case")
        self._create = create
        self.created: Any = None
        self.number = QLineEdit()
        self.number.setPlaceholderText("automatic (YYYY-NNNN)")
        self.title_edit = QLineEdit()
        self.artist = QLineEdit()
        self.investigator = QLineEdit()
        self.witness = QPlainTextEdit()
        self.witness.setPlaceholderText("What the witness said, in their words")
        self.problem = QLabel()
        self.problem.setObjectName("newCaseProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #a40000")
        self.problem.hide()
        self._fields: dict[str, QWidget] = {
            "number": self.number, "title": self.title_edit, "artist": self.artist,
            "investigator": self.investigator, "witness_description": self.witness}
        form = QFormLayout(self)
        form.addRow("Case &number", self.number)
        form.addRow("&Title", self.title_edit)
        form.addRow("&Artist", self.artist)
        form.addRow("&Investigator", self.investigator)
        form.addRow("&Witness description", self.witness)
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        for w in self._fields.values():
            signal = getattr(w, "textChanged", None)
            if signal is not None:
                signal.connect(lambda *_a, w=w: self._clear_mark(w))

    def values(self) -> dict[str, Any]:
        return {"number": self.number.text().strip() or None,
                "title": self.title_edit.text().strip(), "artist": self.artist.text().strip(),
                "investigator": self.investigator.text().strip(),
                "witness_description": self.witness.toPlainText().strip()}

    def mark_problem(self, text: str, field: str | None = None) -> None:
        """Say what is wrong; outline and focus the field at fault (typed text stays)."""
        self.problem.setText(text)
        self.problem.show()
        w = self._fields.get(field or "")
        if w is not None:
            w.setStyleSheet(self.BAD_FIELD_STYLE)
            w.setToolTip(text)
            w.setFocus()
            if isinstance(w, QLineEdit):
                w.selectAll()

    def _clear_mark(self, w: QWidget) -> None:
        if w.styleSheet():
            w.setStyleSheet("")
            w.setToolTip("")

    def accept(self) -> None:
        if self._create is None:
            super().accept()
            return
        try:
            self.created = self._create(**self.values())
        except CASE_ERRORS as exc:
            self.mark_problem(str(exc), getattr(exc, "field", None))
            return
        super().accept()
