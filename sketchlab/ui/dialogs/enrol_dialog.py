"""Before a folder is enrolled: the subjects it will create, and where their names come from.

A flat folder of `Adrien_Brody_0001.jpg … _0011.jpg` enrolled by sub-folder would make 11
subjects of one person, who could then fill several candidate slots. The preview shows
the subjects and their photo counts for the chosen rule (sub-folder, file name without its
number, or a manifest.csv), warns when every photo would be its own subject, and starts
with the rule that fits the folder. Listing files reads no image, so it stays quick.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sketchlab.enrol.inputs import EnrollPlan, plan_enrolment

RULES = (
    ("folder", "Sub-folder name (one folder per person)"),
    ("filename", "File name without its number (Adrien_Brody_0001.jpg → Adrien_Brody)"),
    ("manifest", "A manifest.csv (columns photo, identity)"),
)


def guess_rule(folder: Path) -> tuple[str, Path | None]:
    """The rule that fits the folder: its manifest.csv, its person sub-folders, or numbered
    file names that group into fewer subjects than photos."""
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        return "manifest", manifest
    if any(d.is_dir() and not d.name.startswith(".") for d in folder.iterdir()):
        return "folder", None
    by_name = plan_enrolment([folder], rule="filename")
    return ("filename" if len(by_name.subjects) < by_name.photos else "folder"), None


class EnrolPreviewDialog(QDialog):
    """Pick how subjects are named and see the result; Enrol accepts."""

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.setWindowTitle(f"Enrol {self.folder.name}")
        rule, self.manifest = guess_rule(self.folder)
        self.plan: EnrollPlan | None = None
        self.rule_combo = QComboBox()
        for key, text in RULES:
            self.rule_combo.addItem(text, key)
        self.manifest_button = QPushButton("Choose manifest…")
        self.manifest_button.clicked.connect(self.choose_manifest)
        self.manifest_label = QLabel()
        self.manifest_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.warning = QLabel()
        self.warning.setObjectName("enrolWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a35200")
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Subject", "Photos"])
        self.table.setRootIsDecorated(False)
        self.table.setSortingEnabled(True)
        self.table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.header().setStretchLastSection(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Enrol")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        where = QLabel(str(self.folder))
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        manifest_row = QHBoxLayout()
        manifest_row.addWidget(self.manifest_button)
        manifest_row.addWidget(self.manifest_label, 1)
        form = QFormLayout()
        form.addRow("Folder", where)
        form.addRow("Subject from", self.rule_combo)
        form.addRow("", manifest_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addWidget(self.warning)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.buttons)
        self.resize(620, 560)
        self.rule_combo.setCurrentIndex(self.rule_combo.findData(rule))
        self.rule_combo.currentIndexChanged.connect(self._rule_changed)
        self.refresh()

    @property
    def rule(self) -> str:
        return str(self.rule_combo.currentData())

    def enrol_paths(self) -> list[Path]:
        """What to hand to the enrolment: the manifest, or the folder."""
        if self.rule == "manifest":
            return [self.manifest] if self.manifest is not None else []
        return [self.folder]

    def enrol_rule(self) -> str:
        return "folder" if self.rule == "manifest" else self.rule

    def choose_manifest(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a manifest", str(self.folder),
                                              "Manifest (*.csv)")
        if path:
            self.set_manifest(Path(path))

    def set_manifest(self, path: Path) -> None:
        self.manifest = path
        self.rule_combo.setCurrentIndex(self.rule_combo.findData("manifest"))
        self.refresh()

    def _rule_changed(self) -> None:
        if self.rule == "manifest" and self.manifest is None:
            self.choose_manifest()
        self.refresh()

    def refresh(self) -> None:
        is_manifest = self.rule == "manifest"
        self.manifest_button.setVisible(is_manifest)
        self.manifest_label.setVisible(is_manifest)
        self.manifest_label.setText(str(self.manifest) if self.manifest else "none chosen")
        self.table.clear()
        paths = self.enrol_paths()
        if not paths:
            self.plan = None
            self.summary.setText("Choose a manifest.csv with a photo (or path) column and "
                                 "an identity (or subject) column.")
            self.warning.clear()
            self.ok.setEnabled(False)
            return
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            plan = plan_enrolment(paths, rule=self.enrol_rule())  # type: ignore[arg-type]
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.plan = plan
        self.table.setSortingEnabled(False)
        for name, n in plan.subjects.items():
            item = QTreeWidgetItem([name, ""])
            item.setData(1, Qt.ItemDataRole.DisplayRole, n)
            self.table.addTopLevelItem(item)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        skipped = (f"; {len(plan.skipped)} file(s) will be skipped (not images or unreadable)"
                   if plan.skipped else "")
        self.summary.setText(f"{plan.photos} photo(s) → {len(plan.subjects)} subject(s)"
                             f"{skipped}. Photos already in the gallery are skipped; photos "
                             "with no face or several faces are listed afterwards.")
        if plan.one_subject_per_photo:
            self.warning.setText(
                f"Every photo will become its own subject ({plan.photos} subjects for "
                f"{plan.photos} photos), so one person could fill several candidate slots. "
                "If the file names carry the person's name (Name_0001.jpg), choose “File "
                "name”; or choose a manifest.")
        else:
            self.warning.clear()
        self.ok.setEnabled(plan.photos > 0)
