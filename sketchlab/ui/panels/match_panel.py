"""Gallery search: rank enrolled faces against the sketch on screen, off the UI thread.

The search runs the same pipeline as `sketchlab match` (`core.pipeline.match_sketch`) on
the sketch the on-screen photo was made from: its plausible variants are inverted together,
shown in a strip, and each candidate gets a stability figure and the false-match rate of
its distance from the model's calibration. If the canvas changed since that photo, the
search waits for the fresh one first.

Results say what they belong to: once the canvas shows another picture than the one
searched (a stroke, undo, import, clear), the list is marked out of date, or searched
again when the `search_again` setting is on. Undoing back to the searched picture
makes it current again.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from sketchlab.core.model_catalog import read_calibration, resolve_model
from sketchlab.core.model_file import CheckpointError
from sketchlab.core.pipeline import (
    NOTHING_PASSES,
    RATE_COLUMNS,
    Calibration,
    MatchResult,
    match_sketch,
)
from sketchlab.core.preprocess import as_prepared
from sketchlab.core.query import NOTHING_TO_SEARCH
from sketchlab.core.search_rates import LONGER_LIST, longer_list_offer
from sketchlab.core.variants import VARIANT_KINDS, variant_record
from sketchlab.ui.dialogs.compare_dialog import MAX_CANDIDATES, CompareDialog
from sketchlab.ui.gallery_handle import GalleryHandle
from sketchlab.ui.qtimage import qimage_from_rgb
from sketchlab.ui.settings import AppSettings, SettingsStore
from sketchlab.ui.widgets.candidate_grid import (
    CAPTION_ROLE,
    CandidateGrid,
    caption,
    face_icon,
)
from sketchlab.ui.widgets.disclaimer import disclaimer_label
from sketchlab.ui.workers import InversionResult, Job, ModelStatus

log = logging.getLogger(__name__)

THUMB = 36  # rows of 40 px: ten candidates fit the window's height at 1280x820
VARIANT_THUMB = 48  # the variants searched, one short row of faces above the list


@functools.lru_cache(maxsize=1)
def _search_inverter(model_path: str, device: str, precision: str, engine: str) -> Any:
    """An Inverter for a search model set apart from the live one, or for a search made
    before the live preview's is loaded, on the same engine and precision, so the photo
    searched is the photo the screen will show. A model whose engines were never timed on
    this machine is timed first (seconds, once), as the live model is at first start."""
    from sketchlab.core.engine_trial import measure_once  # deferred: after the window shows
    from sketchlab.core.inference import Inverter

    measure_once(model_path, engine, device)
    return Inverter(model_path, device=device, warmup=False, precision=precision,
                    engine=engine)


@functools.lru_cache(maxsize=4)
def model_calibration(model_path: str, sha256: str) -> Calibration:
    """The model's score calibration, read once per model file (path and weights hash)."""
    return read_calibration(model_path)


def search_inverter(settings: AppSettings, model: ModelStatus) -> tuple[Any, str]:
    """The Inverter a search runs on, and its model's name: the search model when one is
    set apart from the live photo's (a larger network may search while the small one
    draws), else the live preview's own Inverter when it is loaded (one engine and one
    copy of the network per model; its engines run from two threads), else one of ours."""
    name = settings.search_model
    if name and name not in (model.name, str(model.path)):
        path = str(resolve_model(name))  # CheckpointError: the job reports it
    elif model.inverter is not None:
        return model.inverter, model.name
    else:
        path, name = str(model.path), model.name
    return _search_inverter(path, settings.device, settings.precision, settings.engine), name


def run_search(handle: GalleryHandle, query: InversionResult, k: int, settings: AppSettings,
               model: ModelStatus) -> MatchResult:
    """Worker job: `match_sketch` on the sketch behind the on-screen photo; the result
    names that photo (`query`) and one inversion per variant searched (`queries`, made by
    the search model, which the case recorder records)."""
    matcher = handle.matcher()
    inverter, model_name = search_inverter(settings, model)
    res = match_sketch(as_prepared(query.sketch, query.colour), inverter, matcher, k,
                       threshold=settings.threshold or None, fmr=settings.match_fmr,
                       fpir=settings.match_fpir,
                       calibration=model_calibration(str(inverter.model.path),
                                                     inverter.sha256))
    per_variant = (res.invert_ms / max(1, len(res.variant_photos)))
    queries = tuple(
        dataclasses.replace(query, sketch=sk, photo=ph, ms=per_variant, model=model_name,
                            device_label=inverter.device_label,
                            variant=variant_record(name, i, len(res.variant_names),
                                                   res.ink_gamma))
        for i, (name, sk, ph) in enumerate(zip(res.variant_names, res.variant_sketches,
                                               res.variant_photos, strict=True)))
    return dataclasses.replace(res, query=query, queries=queries or (query,),
                               gallery_url=handle.display_url())


def same_picture(canvas: np.ndarray, query: InversionResult) -> bool:
    """Whether `canvas` is the picture `query` was inverted from."""
    searched = getattr(query, "canvas", None)
    return (searched is not None and searched.shape == canvas.shape
            and bool(np.array_equal(searched, canvas)))


class MatchPanel(QWidget):
    search_done = Signal(object)  # core.pipeline.MatchResult
    exclude_requested = Signal(int)  # a candidate's rank: the user rules it out

    # Short headers, each explained in its tooltip, so every column fits its values. The
    # rate column's is the search's reading's (set with each result; 1:N until then).
    COLUMNS = ("#", "Face", "Subject", "Distance", RATE_COLUMNS["1:N"][0],
               "Within\nthreshold", "Stable")
    COLUMN_TIPS = (
        "Rank", "The enrolled photo", "The enrolled subject (hover for the photo's file)",
        "Face distance between the synthesized photo and this photo (lower is closer)",
        RATE_COLUMNS["1:N"][1], "Whether the distance is within the decision threshold",
        "In how many of the sketch's variant searches this candidate made the list")

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.gallery = GalleryHandle(store.value.gallery_url)
        self.is_current: Callable[[InversionResult], bool] = lambda r: True
        self._query: InversionResult | None = None
        self._waiting = False  # search asked for; waiting for the photo of the current canvas
        self._worker: Job | None = None
        self._again = False
        self._again_k: int | None = None  # the list length of that search
        self._inversion_available = True
        self._model: ModelStatus | None = None
        self.outcome: MatchResult | None = None
        self._searched_with: tuple[float, float | None] = (0.0, None)  # (fmr, threshold)
        self.stale = False  # the outcome is of another picture than the canvas shows
        self._searched_at = ""
        self._canvas: np.ndarray | None = None  # the picture on the canvas now

        title = QLabel("<b>Gallery matches</b>")
        self.button = QPushButton("Search gallery")
        self.button.setToolTip("Rank gallery faces against the synthesized photo (Ctrl+F)")
        self.button.clicked.connect(self.search)
        head = QHBoxLayout()
        head.addWidget(title, 1)  # takes the free width, and gives it up when narrow
        head.addWidget(self.button)
        self.disclaimer = disclaimer_label()
        self.status = QLabel("Draw a sketch, then search the gallery.")
        self.status.setWordWrap(True)
        self.stale_label = QLabel()
        self.stale_label.setObjectName("stale")
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet("QLabel#stale { background: #6b2d1e; color: #ffd9cc;"
                                       " padding: 6px; border-radius: 4px; }")
        self.stale_label.hide()
        # What the threshold means: a line or two under the list, the full reading (which
        # investigators quote) behind its "Details" link and in its tooltip.
        self.rule_label = QLabel()
        self.rule_label.setWordWrap(True)
        self.rule_label.setObjectName("rule")
        self.rule_label.setStyleSheet("QLabel#rule { color: #b8b8b8; }")
        self.rule_label.setTextFormat(Qt.TextFormat.RichText)
        self.rule_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.rule_label.linkActivated.connect(
            lambda _link: self.show_rule_details(not self.rule_details))
        self.rule_details = False
        # Searches like this one often had their person below the top 10: offer more.
        self.more_button = QPushButton(f"Show top {LONGER_LIST}")
        self.more_button.clicked.connect(lambda: self.search(k=LONGER_LIST))
        self.more_button.hide()
        # The variants searched together, each with its synthesized photo.
        self.variants = QHBoxLayout()
        self.variants.setContentsMargins(0, 0, 0, 0)
        self.variants.setSpacing(2)
        self.variant_box = QWidget()
        self.variant_box.setLayout(self.variants)
        self.variant_box.setVisible(False)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for col, tip in enumerate(self.COLUMN_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(False)
        self.table.setToolTip("Click a candidate to compare it side by side with the sketch; "
                              "Ctrl+click a second one to compare the two")
        self.table.cellClicked.connect(self._on_clicked)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.exclude_action = QAction("Exclude from the leads…", self.table)
        self.exclude_action.setStatusTip("Rule the selected candidate out, saying why; the "
                                         "open case records it")
        self.exclude_action.triggered.connect(self._request_exclude)
        self.candidates: list = []
        self._build_candidate_views()
        title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.insertWidget(1, self.grid_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(head)
        lay.addWidget(self.disclaimer)
        lay.addWidget(self.stale_label)
        lay.addWidget(self.variant_box)
        lay.addWidget(self.candidate_views, 1)
        lay.addWidget(self.status)
        more = QHBoxLayout()
        more.addStretch(1)
        more.addWidget(self.more_button)
        lay.addLayout(more)
        lay.addWidget(self.rule_label)

    def _build_candidate_views(self) -> None:
        """The candidates as a table or as a grid of faces (one model, one selection), and
        a comparison of the one or two selected with the sketch."""
        self.grid = CandidateGrid(self.table)
        self.grid.clicked.connect(lambda index: self._on_clicked(index.row(), 1))
        self.candidate_views = QStackedWidget()
        self.candidate_views.addWidget(self.table)
        self.candidate_views.addWidget(self.grid)
        self.compare_action = QAction("Compare side by side with the sketch", self)
        self.compare_action.triggered.connect(self.compare_selected)
        for view in (self.table, self.grid):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            view.addAction(self.compare_action)
            view.addAction(self.exclude_action)
        # One small button in the heading row, not a row of its own: the list keeps its
        # ten rows at 1280x820 and the panel its narrow minimum width.
        self.grid_button = QToolButton()
        self.grid_button.setText("Grid")
        self.grid_button.setCheckable(True)
        self.grid_button.setToolTip("Every candidate at once, as faces (off: the table)")
        self.grid_button.toggled.connect(self.show_grid)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.grid_button.setChecked(self.store.ui_value("candidate_view") == "grid")
        self._selection_changed()

    def show_grid(self, on: bool) -> None:
        """The grid of faces, or the table; remembered for the next start."""
        self.candidate_views.setCurrentIndex(1 if on else 0)
        self.grid_button.setChecked(on)
        self.store.set_ui_value("candidate_view", "grid" if on else "table")

    def selected_candidates(self) -> list:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.candidates[r] for r in rows if r < len(self.candidates)]

    def _selection_changed(self, *_args: object) -> None:
        n = len(self.selected_candidates())
        self.compare_action.setEnabled(self.outcome is not None and 1 <= n <= MAX_CANDIDATES)
        self.compare_action.setText("Compare the two side by side with the sketch" if n == 2
                                    else "Compare side by side with the sketch")

    def compare_selected(self) -> CompareDialog | None:
        """The selected one or two candidates beside the sketch and its photo."""
        chosen = self.selected_candidates()
        if self.outcome is None or not 1 <= len(chosen) <= MAX_CANDIDATES:
            return None
        dlg = CompareDialog(self.outcome.query, chosen, self.outcome.rule, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        return dlg

    # --- inputs from the main window ------------------------------------------------
    def set_inversion_available(self, available: bool) -> None:
        self._inversion_available = available
        self.button.setEnabled(available)
        if not available:
            self.status.setText("Gallery search needs a sketch-inversion model "
                                "(none is loaded).")

    def set_model(self, status: ModelStatus | None) -> None:
        """The loaded model: searches invert its variants with it and read its calibration."""
        self._model = status
        self.set_inversion_available(status is not None)

    def set_query(self, result: InversionResult) -> None:
        self._query = result
        if self._waiting and self.is_current(result):
            self._waiting = False
            self.search()
        elif (self.stale and self.store.value.search_again and result.final
              and result.photo is not None and self.is_current(result)):
            self.search()

    def note_sketch(self, canvas: np.ndarray) -> None:
        """The canvas now shows `canvas`: mark the candidates out of date unless they are
        of this very picture."""
        self._canvas = canvas
        if self.outcome is not None:
            self._set_stale(not same_picture(canvas, self.outcome.query))

    def _set_stale(self, stale: bool) -> None:
        self.stale = stale
        self.stale_label.setText(
            f"Out of date: these candidates are for the sketch as searched at "
            f"{self._searched_at}, not the one on the canvas. Search again (Ctrl+F)"
            + (" — searching again when the new photo is ready." if
               self.store.value.search_again else "."))
        self.stale_label.setVisible(stale)
        self.table.setStyleSheet("QTableWidget { color: #8a8a8a; }" if stale else "")
        self.grid.setStyleSheet("QListView { color: #8a8a8a; }" if stale else "")

    def apply_settings(self, s: AppSettings) -> None:
        self.gallery.set_url(s.gallery_url)
        if self.outcome is not None and self.outcome.gallery_url == self.gallery.display_url():
            # re-mark the candidates against the new rate or threshold
            self.outcome = self.outcome.rescored(s.match_fmr, s.threshold or None,
                                                 s.match_fpir)
            self._show(self.outcome)

    # --- searching --------------------------------------------------------------------
    def search(self, k: int | None = None) -> None:
        """Search with the photo of the current sketch, listing `k` candidates (default:
        Settings' list length)."""
        q = self._query
        if not self._inversion_available:
            return
        if q is None or not self.is_current(q):
            self._waiting = True
            self.status.setText("Waiting for the photo of the current sketch…")
            return
        if q.photo is None:
            self.status.setText(NOTHING_TO_SEARCH)
            return
        if self._worker is not None:
            self._again = True  # search again with the newest photo when this one ends
            self._again_k = k
            return
        if self._model is None:
            self.status.setText("Waiting for the sketch-inversion model to load…")
            return
        s = self.store.value
        self.button.setEnabled(False)
        self.status.setText("Searching the gallery…")
        self._searched_with = (s.match_fmr, s.threshold or None)
        self._worker = create_worker(run_search, self.gallery, q, k or s.top_k, s, self._model,
                                     _worker_class=Job,
                                     _connect={"returned": self._on_done,
                                               "errored": self._on_error,
                                               "finished": self._on_finished})

    def _on_finished(self) -> None:
        self._worker = None
        self.button.setEnabled(self._inversion_available)
        if self._again:
            self._again = False
            self.search(self._again_k)

    def _on_error(self, exc: Exception) -> None:
        hint = ("Choose another model under Search with in Settings." if isinstance(
            exc, CheckpointError) else "Check the gallery location in Settings, or enrol "
                                       "photos with Gallery > Manage gallery.")
        self.status.setText(f"Gallery search failed: {exc}\n\n{hint}")

    def _on_done(self, outcome: MatchResult) -> None:
        s = self.store.value
        if (s.match_fmr, s.threshold or None) != self._searched_with:  # changed meanwhile
            outcome = outcome.rescored(s.match_fmr, s.threshold or None, s.match_fpir)
        self.outcome = outcome
        self._searched_at = time.strftime("%H:%M:%S")
        # The canvas may have changed while the search ran.
        self._set_stale(self._canvas is not None
                        and not same_picture(self._canvas, outcome.query))
        self._show(outcome)
        self.search_done.emit(outcome)

    def _show(self, outcome: MatchResult) -> None:
        """Show the candidates as the pipeline scored them."""
        rule = outcome.rule
        cands = outcome.candidates
        self.candidates = cands
        self.table.setRowCount(len(cands))
        self.table.horizontalHeaderItem(4).setText(outcome.rate_heading)
        self.table.horizontalHeaderItem(4).setToolTip(outcome.rate_meaning)
        self.table.scrollToTop()
        leads_only = outcome.nothing_passes  # "unknown": the list is leads, shown greyed
        for row, c in enumerate(cands):
            mark = "✔ within" if c.within_threshold else "above"
            rate = outcome.rate_text(c, short=True)
            stable = "" if c.stability is None else f"{c.stability}/{c.n_variants}"
            cells = [str(c.rank), "", c.subject_name, f"{c.distance:.3f}", rate, mark, stable]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (0, 3, 4, 6):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 5 or leads_only:
                    item.setForeground(QColor(90, 200, 120) if c.within_threshold
                                       else QColor(160, 160, 160))
                tip = f"{c.subject_name}\n{c.source_path}\ndistance {c.distance:.4f}"
                if c.fpir is not None or c.false_match_rate is not None:
                    tip += f"; {rule.phrase(c.distance)}"
                if c.stability is not None:
                    tip += (f"\nIn the top {len(cands)} of {c.stability} of the "
                            f"{c.n_variants} variant searches")
                item.setToolTip(tip)
                self.table.setItem(row, col, item)
            face = self.table.item(row, 1)
            face.setIcon(face_icon(c.thumbnail, THUMB))
            face.setData(CAPTION_ROLE, caption(c.rank, c.subject_name, c.distance,
                                               c.within_threshold))
        self._selection_changed()
        self._show_variants(outcome)
        self._show_rule()
        self.table.scrollToTop()  # a new search starts at rank 1, not the old scroll position
        within = sum(c.within_threshold for c in cands)
        offer = longer_list_offer(rule, len(cands), outcome.gallery_size)
        self.more_button.setVisible(offer is not None)
        self.more_button.setToolTip(offer or "")
        if outcome.gallery_size == 0:
            self.status.setText("The gallery is empty. Enrol photos with Gallery > Manage "
                                "gallery.")
        else:
            how = (f"{len(outcome.variant_names)} variants of the sketch"
                   if len(outcome.variant_names) > 1 else "the synthesized photo")
            made_by = outcome.queries[0].model if outcome.queries else None
            if outcome.query is not None and made_by not in (None, outcome.query.model):
                how += f" by the search model {made_by}"
            if outcome.two_way:  # also against each gallery face drawn as a sketch
                how += ", searched two ways"
            elif outcome.undrawn:
                how += (f", searched one way: {outcome.undrawn} faces are not drawn yet "
                        "(Gallery > Manage gallery > Draw missing faces)")
            verdict = (NOTHING_PASSES if outcome.nothing_passes
                       else f"{within} within the threshold.")
            self.status.setText(f"Top {len(cands)} of {outcome.gallery_size} faces for {how} "
                                f"({outcome.timing_text}). {verdict}"
                                + (f" {offer}" if offer else ""))

    def show_rule_details(self, on: bool) -> None:
        """The threshold's reading in full under the list, or in a line or two."""
        self.rule_details = on
        self._show_rule()

    def _show_rule(self) -> None:
        if self.outcome is None:
            self.rule_label.clear()
            return
        rule = self.outcome.rule
        full = rule.describe()
        text, link = (full, "Less") if self.rule_details else (rule.summary(), "Details")
        self.rule_label.setText(f'{html.escape(text)} <a href="details">{link}</a>')
        self.rule_label.setToolTip(f"<p>{html.escape(full)}</p>")  # rich text: it wraps

    def _show_variants(self, outcome: MatchResult) -> None:
        while self.variants.count():
            w = self.variants.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        if len(outcome.variant_photos) <= 1:
            self.variant_box.setVisible(False)
            return
        for name, photo in zip(outcome.variant_names, outcome.variant_photos, strict=True):
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(qimage_from_rgb(photo)).scaledToHeight(
                VARIANT_THUMB, Qt.TransformationMode.SmoothTransformation))
            label.setToolTip(f"{name}: {VARIANT_KINDS.get(name, name)}")
            self.variants.addWidget(label)
        self.variants.addStretch(1)
        self.variant_box.setVisible(True)

    def _request_exclude(self) -> None:
        row = self.table.currentRow()
        if self.outcome is not None and 0 <= row < len(self.candidates):
            self.exclude_requested.emit(self.candidates[row].rank)

    def mark_excluded(self, rank: int, reason: str) -> None:
        """Grey and strike out an excluded candidate; its tooltip says why."""
        row = next((i for i, c in enumerate(self.candidates) if c.rank == rank), None)
        if row is None:
            return
        for col in range(self.table.columnCount()):
            item = self.table.item(row, col)
            font = item.font()
            font.setStrikeOut(True)
            item.setFont(font)
            item.setForeground(QColor(120, 120, 120))
            item.setToolTip(f"Excluded: {reason}\n{item.toolTip()}")

    def _on_clicked(self, row: int, _col: int) -> None:
        """A click compares that candidate with the sketch; a Ctrl+click on a second one
        compares the two (with more selected, Ctrl+click only selects)."""
        if self.outcome is None or not 0 <= row < len(self.candidates):
            return
        if QApplication.keyboardModifiers() & (Qt.KeyboardModifier.ControlModifier
                                               | Qt.KeyboardModifier.ShiftModifier):
            if len(self.selected_candidates()) == MAX_CANDIDATES:
                self.compare_selected()
            return
        self.table.selectRow(row)
        self.compare_selected()

    def shutdown(self) -> None:
        self._waiting = False
        self._again = False
        if self._worker is not None:
            self._worker.quit()
            self._worker.wait(30000)
        self.gallery.close()
