"""Enrolment inputs: what a manifest, a folder or a file name turns into (no decoding)."""

from pathlib import Path

from sketchlab.enrol.inputs import EnrollItem, SkippedFile, iter_items, subject_from_filename


def test_manifest_columns_by_any_of_their_names(tmp_path: Path) -> None:
    m = tmp_path / "people.csv"
    m.write_bytes("\ufeffSketch,Path,Name,External_Ref\r\n"
                  "s/1.jpg,,,\r\n"                      # a sketch-only row: passed over
                  ",a/1.jpg, Ann ,case-7\r\n"
                  f",{tmp_path / 'b.jpg'},,\r\n".encode())
    items = list(iter_items([m]))
    assert items == [EnrollItem(tmp_path / "a" / "1.jpg", "Ann", "case-7"),
                     EnrollItem(tmp_path / "b.jpg", "b", None)]
    assert [i.subject for i in iter_items([m], subject="Zoe")] == ["Zoe", "Zoe"]


def test_manifest_without_a_photo_column_is_reported(tmp_path: Path) -> None:
    m = tmp_path / "manifest.csv"
    m.write_text("sketch,identity\ns.jpg,a\n")
    (skipped,) = iter_items([m])
    assert isinstance(skipped, SkippedFile) and skipped.status == "unreadable"
    assert "no photo/path column" in skipped.reason and "sketch, identity" in skipped.reason


def test_subject_from_a_numbered_file_name() -> None:
    assert subject_from_filename("Adrien_Brody_0001") == "Adrien_Brody"
    assert subject_from_filename("jane doe (2)") == "jane doe"
    assert subject_from_filename("portrait") == "portrait"
