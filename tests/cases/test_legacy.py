"""Cases written before the log became the only record stay readable (tests/cases/data)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sketchlab.cases import CaseStore, GalleryIdentity
from sketchlab.cases.bundle import export_bundle, import_bundle, verify_bundle
from sketchlab.cases.db import CaseStoreError
from sketchlab.cases.report_data import build_report_data

LEGACY = Path(__file__).parent / "data" / "legacy-v1"
NUMBER = "2025-0007"


def tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [*con.iterdump(), f"user_version={con.execute('PRAGMA user_version').fetchone()}"]
    finally:
        con.close()


@pytest.fixture
def legacy_store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(LEGACY / "store", root)
    return root


def test_schema_1_store_is_backed_up_then_migrated(legacy_store: Path):
    db = legacy_store / "cases.sqlite"
    before = dump(db)
    assert {"sketch_versions", "inversions", "match_runs", "match_candidates"} <= tables(db)
    with CaseStore(legacy_store) as store:
        case = store.get(NUMBER)
        assert store.verify(NUMBER).ok, store.verify(NUMBER).problems
    backups = list(legacy_store.glob("cases.sqlite.schema1-backup-*"))
    assert len(backups) == 1 and backups[0].stat().st_mode & 0o077 == 0
    assert dump(backups[0]) == before  # every table and row of the old store
    assert tables(db) == {"cases", "audit_entries"}
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [r[1] for r in con.execute("PRAGMA table_info(cases)")] == [
        "id", "uid", "number", "audit_count", "audit_head"]
    con.close()
    # Everything the old tables held comes back from the log alone.
    i = case.info
    assert (i.title, i.artist, i.investigator, i.witness_description, i.status) == (
        "Legacy case", "A. Artist", "DI Old", "tall, beard", "closed")
    assert [v.note for v in case.sketches] == ["first", "second"]
    assert case.sketches[0].strokes_sha256 and case.sketches[0].pixels_sha256 is None
    inv = case.inversions[0]
    assert inv.sketch_version == 2 and inv.source_sha256 is None and inv.input_sha256
    m = case.matches[0]
    assert m.inversions == (1,) and [c.subject for c in m.candidates] == [
        "subject-1", "subject-2", "subject-3"]
    assert m.candidates[0].stability is None and m.gallery.size == 40
    with CaseStore(legacy_store) as again:  # a second start does not migrate again
        assert again.get(NUMBER) == case
    assert len(list(legacy_store.glob("cases.sqlite.schema1-backup-*"))) == 1


def test_migrated_case_takes_new_records_and_reports(legacy_store: Path, tmp_path: Path):
    with CaseStore(legacy_store) as store:
        version_2 = store.artefacts.read(store.get(NUMBER).sketches[1].image_sha256)
        n = store.add_inversion(NUMBER, np.zeros((16, 12, 3), np.uint8), source=version_2,
                                model_name="m", model_sha256="0" * 64, device="cpu", ms=1.0)
        store.add_match(NUMBER, [], GalleryIdentity("g", "e" * 64, 3), 0.6, inversions=n)
        case = store.get(NUMBER)
        # Tied to version 2 by its pixels, though version 2 predates the pixel digest.
        assert case.inversions[-1].sketch_version == 2
        assert store.verify(NUMBER).ok
        data = build_report_data(store, case, store.verify(NUMBER))
        assert data.match.number == 2 and data.inversion.number == n
        result = export_bundle(store, NUMBER, tmp_path / "new.zip")
    assert verify_bundle(result.path).ok


def test_newer_schema_is_refused(tmp_path: Path):
    root = tmp_path / "store"
    CaseStore(root).close()
    con = sqlite3.connect(root / "cases.sqlite")
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(CaseStoreError, match="newer SketchLab"):
        CaseStore(root)


def test_format_1_bundle_verifies_and_imports(tmp_path: Path):
    bundle = LEGACY / "legacy-format1.zip"
    assert verify_bundle(bundle).ok, verify_bundle(bundle).problems
    with CaseStore(tmp_path / "fresh") as store:
        number, _ = import_bundle(store, bundle)
        case = store.get(number)
        assert number == NUMBER and case.info.status == "closed"
        assert len(case.sketches) == 2 and case.matches[0].inversions == (1,)
        assert store.verify(number).ok


def test_format_1_bundle_with_an_edited_log_is_still_refused(tmp_path: Path):
    from tests.cases.tamper import rewrite_zip

    def edit(members):
        return [(n, d.replace(b'"DI Old"', b'"DI New"') if n == "audit.jsonl" else d)
                for n, d in members]

    bad = rewrite_zip(LEGACY / "legacy-format1.zip", tmp_path / "bad.zip", edit)
    problems = verify_bundle(bad).problems
    assert any("audit.jsonl" in p for p in problems) and any("edited" in p for p in problems)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_report_of_an_old_inversion_shows_its_exact_input(legacy_store: Path, tmp_path: Path):
    """Old records kept the network input, not the image consumed: the report shows that
    input under its own hash and says the version was the app's claim."""
    import subprocess
    import unicodedata

    pytest.importorskip("PySide6.QtGui")
    from sketchlab.report.pdf import render_report

    with CaseStore(legacy_store) as store:
        case = store.get(NUMBER)
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(render_report(build_report_data(store, case, store.verify(NUMBER))))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(unicodedata.normalize("NFKC", text).split())
    assert "RecordedbyanolderSketchLabasofsketchversion2" in flat
    assert case.inversions[0].input_sha256 in flat and "subject-1" in flat
