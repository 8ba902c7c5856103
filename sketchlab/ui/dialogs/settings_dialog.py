"""Settings: models (live photo and search), device, precision, style, match threshold,
gallery location, autosave; applied on OK/Apply. The match threshold is chosen as a
false-match rate ("1 in 100 non-mates"), which the model's calibration turns into a
distance; a fixed distance stays available."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sketchlab.core.engines import ENGINE_NAMES, ENGINES
from sketchlab.core.int8_export import offered as int8_offered
from sketchlab.core.model_catalog import ModelInfo
from sketchlab.core.precision import PRECISIONS
from sketchlab.db.engine import default_url
from sketchlab.ui.settings import DEVICES, STYLES, AppSettings, SettingsStore

SQLITE = "sqlite:///"
FMR_CHOICES = (0.1, 0.01, 0.001, 0.0001)
FPIR_CHOICES = (0.2, 0.1, 0.05, 0.01)


def model_combo(models: list[ModelInfo], current: str,
                first: tuple[str, str] | None = None) -> QComboBox:
    """The installed models by name (after `first`, a (label, value) choice), with the
    current setting selected: listed as a file or as not installed when it is neither."""
    combo = QComboBox()
    if first is not None:
        combo.addItem(*first)
    for m in models:
        combo.addItem(f"{m.name}  ({m.config.height}x{m.config.width})", m.name)
    if combo.findData(current) < 0:
        path = Path(current)
        label = f"{path.stem} (file)" if path.is_file() else f"{current} (not installed)"
        combo.addItem(label, current)
    combo.setCurrentIndex(combo.findData(current))
    return combo


class SettingsDialog(QDialog):
    def __init__(self, store: SettingsStore, models: list[ModelInfo], cuda: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.store = store
        s = store.value
        self.model = model_combo(models, s.model)
        self.search_model = model_combo(models, s.search_model,
                                        first=("Same as the live photo", ""))
        self.search_model.setToolTip("The model whose photos are searched: a larger one may "
                                     "search while a small one keeps the live photo fast. "
                                     "Each recorded photo names the model that made it.")
        self.device = QComboBox()
        for d in DEVICES:
            label = {"auto": "Automatic (GPU when present)", "cpu": "CPU",
                     "cuda": "NVIDIA GPU (CUDA)" + ("" if cuda else " — none found")}[d]
            self.device.addItem(label, d)
        self.device.setCurrentIndex(self.device.findData(s.device))
        self.precision = QComboBox()
        # int8 only where an installed model ships an int8 export that held against fp32
        int8 = s.precision == "int8" or any(int8_offered(m.path, m.sha256) for m in models)
        for p in PRECISIONS:
            if p == "int8" and not int8:
                continue
            label = {"auto": "Automatic (bf16 on a CPU that does it natively)",
                     "fp32": "fp32 (the same photos as before bf16)",
                     "bf16": "bf16 (only where the CPU does it natively)",
                     "int8": "int8 (ONNX engines; models whose int8 export held)"}[p]
            self.precision.addItem(label, p)
        self.precision.setCurrentIndex(self.precision.findData(s.precision))
        self.precision.setToolTip(
            "Number format of the network on the CPU (a GPU always runs fp16). bf16 is about "
            "2x faster on CPUs with AVX512-BF16 or AMX; its photos differ from fp32 by a few "
            "grey levels. Live photo, search and case records all use the one chosen here.")
        self.engine = QComboBox()
        for e in ENGINES:
            label = {"auto": "Automatic (the fastest measured on this computer)"}.get(
                e, ENGINE_NAMES.get(e, e))
            self.engine.addItem(label, e)
        self.engine.setCurrentIndex(self.engine.findData(s.engine))
        self.engine.setToolTip(
            "What runs the network. Automatic: at first start SketchLab times each engine "
            "on this computer and keeps the fastest whose photos match PyTorch's fp32 ones. "
            "An engine that cannot start here falls back to PyTorch. Each photo's case "
            "record names the engine that made it.")
        self.style = QComboBox()
        for st in STYLES:
            self.style.addItem(st.capitalize(), st)
        self.style.setCurrentIndex(self.style.findData(s.style))
        self.fpir = QComboBox()
        for rate in FPIR_CHOICES:
            self.fpir.addItem(f"{rate:.0%} of searches for someone absent (1 in "
                              f"{round(1 / rate)})", rate)
        if self.fpir.findData(s.match_fpir) < 0:
            self.fpir.addItem(f"{s.match_fpir:.1%} of searches for someone absent",
                              s.match_fpir)
        self.fpir.setCurrentIndex(self.fpir.findData(s.match_fpir))
        self.fpir.setToolTip("How often a search for a person who is NOT in the gallery may "
                             "still mark a candidate, at the searched gallery's size (measured "
                             "for the model; see its card). Lower marks fewer true people too.")
        self.fmr = QComboBox()
        for rate in FMR_CHOICES:
            self.fmr.addItem(f"1 in {round(1 / rate):,} non-mates (false-match rate "
                             f"{rate:.2%})", rate)
        self.fmr.addItem("A fixed distance…", 0.0)
        fixed = s.threshold > 0 or self.fmr.findData(s.match_fmr) < 0
        self.fmr.setCurrentIndex(self.fmr.count() - 1 if fixed
                                 else self.fmr.findData(s.match_fmr))
        self.fmr.setToolTip("Mark candidates that come as close as only this share of people "
                            "who are NOT the person would (measured for the model on sketch "
                            "queries; see the model card)")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.2, 1.2)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(2)
        self.threshold.setValue(s.threshold or 0.6)
        self.threshold.setToolTip("Face distance at or below which a candidate is marked "
                                  "(0.6 is dlib's photo-to-photo threshold; sketch queries sit "
                                  "closer to everybody)")
        self.threshold.setEnabled(fixed)
        self.fmr.currentIndexChanged.connect(
            lambda _i: self.threshold.setEnabled(self.fmr.currentData() == 0.0))
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 100)
        self.top_k.setValue(s.top_k)
        self.gallery = QLineEdit(self._url_to_path(s.gallery_url or default_url()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        gal = QHBoxLayout()
        gal.addWidget(self.gallery, 1)
        gal.addWidget(browse)
        self.autosave = QSpinBox()
        self.autosave.setRange(1, 3600)
        self.autosave.setSuffix(" s")
        self.autosave.setValue(s.autosave_seconds)
        self.live = QCheckBox("Update the photo while drawing")
        self.live.setChecked(s.live_preview)
        self.research = QCheckBox("Search the gallery again when the sketch changes")
        self.research.setToolTip("Off: candidates of an earlier sketch are marked out of "
                                 "date. On: each finished change is searched (and recorded "
                                 "in the open case) again.")
        self.research.setChecked(s.search_again)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Search with", self.search_model)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Engine", self.engine)
        form.addRow("Sketch style", self.style)
        form.addRow("Mark candidates at", self.fpir)
        form.addRow("Models without search rates", self.fmr)
        form.addRow("Fixed distance", self.threshold)
        form.addRow("Candidates shown", self.top_k)
        form.addRow("Gallery database", gal)
        form.addRow("Autosave every", self.autosave)
        form.addRow("", self.live)
        form.addRow("", self.research)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Apply
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    @staticmethod
    def _url_to_path(url: str) -> str:
        return url[len(SQLITE):] if url.startswith(SQLITE) else url

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Gallery database", self.gallery.text(), "SQLite database (*.sqlite *.db)",
            options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.gallery.setText(path)

    def edited(self) -> AppSettings:
        text = self.gallery.text().strip()
        url = text if "://" in text else f"{SQLITE}{Path(text).expanduser()}" if text else ""
        if url == default_url():
            url = ""
        return self.store.value.replace(
            model=self.model.currentData(), search_model=self.search_model.currentData(),
            device=self.device.currentData(),
            precision=self.precision.currentData(), engine=self.engine.currentData(),
            style=self.style.currentData(),
            match_fpir=self.fpir.currentData(),
            match_fmr=self.fmr.currentData() or self.store.value.match_fmr,
            threshold=0.0 if self.fmr.currentData() else round(self.threshold.value(), 3),
            top_k=self.top_k.value(), gallery_url=url, autosave_seconds=self.autosave.value(),
            live_preview=self.live.isChecked(), search_again=self.research.isChecked())

    def apply(self) -> bool:
        try:
            self.store.update(self.edited())
        except ValueError as exc:
            self.error.setText(str(exc))
            return False
        self.error.clear()
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()
