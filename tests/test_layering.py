"""The science and data layers never import Qt; nothing imports the UI layer."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NO_QT = ["sketchlab/core", "sketchlab/db", "sketchlab/cases", "trainer", "sketchlab/cli.py",
         "sketchlab/commands"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(rel: str) -> list[Path]:
    p = REPO / rel
    return [p] if p.is_file() else sorted(p.rglob("*.py"))


@pytest.mark.parametrize("rel", NO_QT)
def test_no_qt_below_ui(rel):
    offenders = [f"{f.relative_to(REPO)}: {m}" for f in _files(rel) for m in _imports(f)
                 if m.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pytestqt")]
    assert not offenders, offenders


def test_nothing_imports_ui():
    offenders = []
    for f in (REPO / "sketchlab").rglob("*.py"):
        if "ui" in f.relative_to(REPO / "sketchlab").parts or f.name == "__main__.py":
            continue
        offenders += [f"{f}: {m}" for m in _imports(f) if m.startswith("sketchlab.ui")]
    for f in (REPO / "trainer").rglob("*.py"):
        offenders += [f"{f}: {m}" for m in _imports(f) if m.startswith("sketchlab.ui")]
    assert not offenders, offenders


def test_layering_test_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\n")
    assert "PySide6.QtCore" in _imports(bad)
