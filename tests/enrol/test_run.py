"""An enrolment run on a small folder with one file of each outcome: progress from the
start whose counts agree with the summary, skipped files with their reasons, and a retry
of the multi-face photo with its largest face under the subject it was going to have."""

from __future__ import annotations

from pathlib import Path

from sketchlab.db.gallery import open_gallery


def test_progress_starts_at_once_and_agrees_with_the_summary(enrol_folder, tmp_path):
    seen = []
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll([enrol_folder], rule="filename", workers=1, use_cache=False,
                     progress=seen.append)
    first, last = seen[0], seen[-1]
    # before a file is read: the total, and the text file already counted as skipped
    assert (first.phase, first.total, first.done, first.checked) == ("checking", 6, 1, 0)
    assert any(p.phase == "starting" for p in seen)
    for p in seen:
        assert p.done == p.enrolled + p.duplicates + p.skipped
    assert last.phase == "done"
    assert (last.done, last.enrolled, last.skipped, last.failed) == \
        (s.done, s.enrolled, len(s.skipped), len(s.failed)) == (6, 2, 4, 1)
    outcome = {Path(x.path).name: (x.status, x.failed) for x in s.skipped}
    assert outcome == {"notes.txt": ("not_image", False), "Dan_0001.png": ("no_face", False),
                       "Carol_0001.png": ("multi_face", False),
                       "Eve_0001.jpg": ("unreadable", True)}
    assert "--largest-face" not in "".join(x.reason for x in s.skipped)  # read in the GUI too
    assert s.line().startswith("Done after 6 of 6 files in ")
    assert ("2 enrolled (2 new subjects) · 0 already in the gallery · 3 skipped (1 not an "
            "image, " in s.line())
    assert s.line().endswith("· 1 failed (1 unreadable).")


def test_retry_with_the_largest_face_keeps_the_subject(enrol_folder, tmp_path):
    with open_gallery(tmp_path / "g.sqlite") as g:
        s = g.enroll([enrol_folder], rule="filename", workers=1)
        (item,) = s.retry_with_largest_face()
        assert item.subject == "Carol"
        again = g.enroll_items([item], largest_face=True, workers=1)
        assert (again.enrolled, again.skipped, again.computed) == (1, [], 0)  # from cache
        assert sorted(x.name for x in g.subjects()) == ["Ann", "Bob", "Carol"]
        assert again.retry_with_largest_face() == []
