"""What an enrolment reads: folders, image files and manifests turned into work items.

Identities: a manifest's `identity` (or `subject`/`name`) column; for folders, the name
of the sub-folder a file sits in (rule "folder"), or the file name without its trailing
number (rule "filename"); `subject=` overrides both. `plan_enrolment` counts what a run
would create before any image is read, for the user to confirm.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sketchlab.core.imageio import IMAGE_SUFFIXES
from sketchlab.core.manifest import read_records

SubjectRule = Literal["folder", "filename"]
_NUMBERED = re.compile(r"^(.*?[^\d_ .\-(])[ _.\-]*\(?\d+\)?$")

Status = Literal["enrolled", "duplicate", "no_face", "multi_face", "unreadable", "missing",
                 "not_image"]


@dataclass(frozen=True)
class EnrollItem:
    path: Path
    subject: str
    external_ref: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    path: str
    status: Status
    reason: str
    # The work item it came from, so a retry (largest face) enrols it under the same
    # subject; None for files that never became one (not an image, a bad manifest).
    item: EnrollItem | None = None

    @property
    def failed(self) -> bool:
        """The file itself could not be read, as opposed to read and passed over."""
        return self.status in FAILED


# What each outcome is called where a person reads it (dialog, summary line).
STATUS_TEXT: dict[str, str] = {
    "enrolled": "enrolled", "duplicate": "already in the gallery",
    "no_face": "no face found", "multi_face": "several faces", "unreadable": "unreadable",
    "missing": "missing", "not_image": "not an image"}
FAILED: frozenset[str] = frozenset({"unreadable", "missing"})


def _manifest_items(path: Path, subject: str | None) -> Iterator[EnrollItem | SkippedFile]:
    """A manifest's photos: a `photo` (or path, file, image) column, the person in
    `identity` (or subject, name), optionally `external_ref`; rows without a photo (a
    dataset's sketch-only rows) are passed over."""
    try:
        cols, records = read_records(path)
    except (OSError, UnicodeDecodeError) as exc:
        yield SkippedFile(str(path), "unreadable", f"cannot read manifest: {exc}")
        return
    photo_col = next((c for c in ("photo", "path", "file", "image") if c in cols), None)
    id_col = next((c for c in ("identity", "subject", "name") if c in cols), None)
    if photo_col is None:
        yield SkippedFile(str(path), "unreadable", "manifest has no photo/path column "
                          f"(columns: {', '.join(cols) or 'none'})")
        return
    for row in records:
        rel = (row.get(photo_col) or "").strip()
        if not rel:
            continue  # e.g. a sketch-only row
        p = Path(rel) if Path(rel).is_absolute() else path.parent / rel
        name = subject or ((row.get(id_col) or "").strip() if id_col else "")
        yield EnrollItem(p, name or p.stem, (row.get("external_ref") or "").strip() or None)


def subject_from_filename(stem: str) -> str:
    """The person in a numbered file name: `Adrien_Brody_0001` -> `Adrien_Brody`,
    `jane doe (2)` -> `jane doe`; a name without a trailing number is kept whole."""
    m = _NUMBERED.match(stem)
    return m.group(1) if m else stem


def iter_items(paths: Iterable[str | os.PathLike[str]], subject: str | None = None,
               rule: SubjectRule = "folder") -> Iterator[EnrollItem | SkippedFile]:
    """Expand PATHs (folders recursively, image files, manifest.csv) into work items.

    Inside folders, files whose suffix is not an image type are reported as `not_image`
    (hidden files are ignored); files named on the command line are always tried. The
    subject of a file in a folder is its sub-folder's name with rule "folder" (a file
    directly in the folder: its own name), or its file name without the trailing number
    with rule "filename" (`Name_0001.jpg` -> `Name`). A manifest names its own subjects.
    """
    def name_for(f: Path, rel: Path | None) -> str:
        if subject:
            return subject
        if rule == "filename":
            return subject_from_filename(f.stem)
        return rel.parent.name if rel is not None and len(rel.parts) > 1 else f.stem

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or any(part.startswith(".") for part in
                                          f.relative_to(p).parts):
                    continue
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    yield SkippedFile(str(f), "not_image",
                                      f"not an image file type ({f.suffix or 'no suffix'})")
                    continue
                yield EnrollItem(f, name_for(f, f.relative_to(p)))
        elif p.suffix.lower() == ".csv" and p.is_file():
            yield from _manifest_items(p, subject)
        elif p.is_file():
            yield EnrollItem(p, name_for(p, None))
        else:
            yield SkippedFile(str(p), "missing", "no such file or folder")


@dataclass(frozen=True)
class EnrollPlan:
    """What an enrolment would do, before any file is read: shown to the user to confirm."""

    subjects: dict[str, int]  # subject name -> photos, sorted by name
    photos: int
    skipped: list[SkippedFile]

    @property
    def singletons(self) -> int:
        return sum(1 for n in self.subjects.values() if n == 1)

    @property
    def one_subject_per_photo(self) -> bool:
        """Every photo would be its own subject: usually a flat folder named per file."""
        return self.photos > 1 and len(self.subjects) == self.photos


def plan_enrolment(paths: Iterable[str | os.PathLike[str]], subject: str | None = None,
                   rule: SubjectRule = "folder") -> EnrollPlan:
    """The subjects an enrolment of PATHs would create and the files it would skip."""
    counts: dict[str, int] = {}
    skipped: list[SkippedFile] = []
    photos = 0
    for x in iter_items(paths, subject, rule):
        if isinstance(x, SkippedFile):
            skipped.append(x)
        else:
            photos += 1
            counts[x.subject] = counts.get(x.subject, 0) + 1
    ordered = dict(sorted(counts.items(), key=lambda kv: kv[0].casefold()))
    return EnrollPlan(ordered, photos, skipped)


