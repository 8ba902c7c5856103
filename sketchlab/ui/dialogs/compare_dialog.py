"""Side-by-side comparison: the sketch, its synthesized photo and one gallery candidate."""

from __future__ import annotations

import html
import logging
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


class CompareDialog(QDialog):
    def __init__(self, query: InversionResult, candidate, rule: ScoreRule,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        c = candidate
        self.setWindowTitle(f"Compare with candidate {c.rank}: {c.subject_name}")
        views = [ImageView("sketch"), ImageView("no photo"), ImageView("photo unavailable")]
        views[0].set_image(query.sketch)
        views[1].set_image(query.photo)
        views[2].set_image(self._candidate_image(c))
        grid = QGridLayout()
        for col, (view, title) in enumerate(zip(views, ("Sketch (as the network sees it)",
                                                         "Synthesized photo",
                                                         f"Candidate {c.rank}"), strict=True)):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
            grid.addWidget(view, 1, col)
            grid.setColumnStretch(col, 1)
        self.views = views
        mark = "within" if c.within_threshold else "above"
        stable = ("" if c.stability is None else
                  f" · in the top list of {c.stability} of {c.n_variants} sketch variants")
        facts = QLabel(
            f"<b>{html.escape(c.subject_name)}</b> · rank {c.rank} · distance "
            f"{c.distance:.3f} ({mark} the threshold {rule.threshold:.3f}) · "
            f"{html.escape(rule.phrase(c.distance))}{stable}"
            f"<br>{html.escape(rule.describe())}"
            f"<br>Photo: {html.escape(c.source_path)}<br>SHA-256 {c.photo_sha256[:16]}…")
        facts.setWordWrap(True)
        warn = disclaimer_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(grid, 1)
        lay.addWidget(facts)
        lay.addWidget(warn)
        lay.addWidget(buttons)
        self.resize(900, 520)

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
