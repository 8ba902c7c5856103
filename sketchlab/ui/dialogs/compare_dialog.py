"""Side-by-side comparison: the sketch, its synthesized photo and one or two gallery
candidates, each with its distance under it, so two close leads can be told apart
against the same sketch."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from sketchlab.core.calibration import ScoreRule
from sketchlab.core.imageio import ImageLoadError, load_image
from sketchlab.ui.widgets.disclaimer import disclaimer_label
from sketchlab.ui.widgets.image_view import ImageView
from sketchlab.ui.workers import InversionResult

log = logging.getLogger(__name__)

MAX_CANDIDATES = 2


def candidate_facts(c, rule: ScoreRule) -> str:
    """What is known of one candidate, for under its photo (rich text)."""
    mark = "within" if c.within_threshold else "above"
    stable = ("" if c.stability is None else
              f"<br>In the top list of {c.stability} of {c.n_variants} sketch variants")
    return (f"<b>{html.escape(c.subject_name)}</b> · rank {c.rank}"
            f"<br>Distance <b>{c.distance:.3f}</b> ({mark} the threshold "
            f"{rule.threshold:.3f})<br>{html.escape(rule.phrase(c.distance))}{stable}"
            f"<br><small>{html.escape(c.source_path)}<br>SHA-256 {c.photo_sha256[:16]}…"
            "</small>")


class CompareDialog(QDialog):
    def __init__(self, query: InversionResult, candidates: Sequence, rule: ScoreRule,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        cands = list(candidates)[:MAX_CANDIDATES]
        if not cands:
            raise ValueError("nothing to compare: no candidate given")
        self.candidates = cands
        names = " and ".join(f"candidate {c.rank} ({c.subject_name})" for c in cands)
        self.setWindowTitle(f"Compare the sketch with {names}")
        views = [ImageView("sketch"), ImageView("no photo")]
        views[0].set_image(query.sketch)
        views[1].set_image(query.photo)
        titles = ["Sketch (as the network sees it)", "Synthesized photo"]
        for c in cands:
            view = ImageView("photo unavailable")
            view.set_image(self._candidate_image(c))
            views.append(view)
            titles.append(f"Candidate {c.rank}")
        grid = QGridLayout()
        for col, (view, title) in enumerate(zip(views, titles, strict=True)):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
            grid.addWidget(view, 1, col)
            grid.setColumnStretch(col, 1)
        self.facts: list[QLabel] = []
        for i, c in enumerate(cands):
            facts = QLabel(candidate_facts(c, rule))
            facts.setWordWrap(True)
            grid.addWidget(facts, 2, 2 + i)
            self.facts.append(facts)
        grid.setRowStretch(1, 1)
        self.views = views
        how = QLabel(html.escape(rule.describe()))
        how.setWordWrap(True)
        warn = disclaimer_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(grid, 1)
        lay.addWidget(how)
        lay.addWidget(warn)
        lay.addWidget(buttons)
        self.resize(900 if len(cands) == 1 else 1160, 600)

    @staticmethod
    def _candidate_image(c):
        """The enrolled photo file when it is still there, else the stored face thumbnail."""
        if c.source_path and Path(c.source_path).is_file():
            try:
                return load_image(c.source_path)
            except ImageLoadError as exc:
                log.warning("candidate photo unreadable: %s", exc)
        img = QImage.fromData(c.thumbnail) if c.thumbnail else QImage()
        return None if img.isNull() else img
