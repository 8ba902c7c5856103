"""core.manifest: the one reader of dataset and enrolment manifests, and the data folder."""

from pathlib import Path

import pytest

from sketchlab.core.manifest import (
    ManifestError,
    read_manifest,
    read_records,
    resolve_manifest,
    shared_data_dir,
)


def test_manifest_reading(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "sketch,photo,identity,split\ns/a.jpg,p/a.jpg,a,train\n,p/b.jpg,b,test\n")
    rows = read_manifest(tmp_path)
    assert [r.identity for r in rows] == ["a", "b"]
    assert rows[0].sketch == tmp_path / "s/a.jpg" and rows[1].sketch is None
    assert rows[1].photo == tmp_path / "p/b.jpg" and rows[0].style == ""
    assert [r.identity for r in read_manifest(tmp_path / "manifest.csv", "test")] == ["b"]


def test_missing_columns_and_photos_are_errors(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("photo,identity\np/a.jpg,a\n")
    with pytest.raises(ManifestError, match="missing columns"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("sketch,photo,identity,split\ns/a.jpg,,a,train\n")
    with pytest.raises(ManifestError, match="without a photo"):
        read_manifest(tmp_path)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "elsewhere")


def test_records_ignore_a_bom_case_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    f.write_bytes("\ufeff Photo ,NAME\r\na.jpg,Ann\r\n\r\nb.jpg\r\n".encode())
    cols, rows = read_records(f)
    assert cols == ["photo", "name"]
    assert rows == [{"photo": "a.jpg", "name": "Ann"}, {"photo": "b.jpg"}]


def test_data_folder_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SKETCHLAB_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    (tmp_path / "lfw").mkdir()
    (tmp_path / "lfw" / "manifest.csv").write_text("sketch,photo,identity,split\n")
    assert resolve_manifest("$DATA/lfw") == tmp_path / "lfw" / "manifest.csv"
    monkeypatch.delenv("SKETCHLAB_SHARED_DATA")
    assert shared_data_dir().parts[-2:] == ("shared", "data")
