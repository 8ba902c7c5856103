"""Plain, frozen records of a case: what crosses threads and layers (never ORM objects).

A case is never stored as these records: they are what a replay of its audit log
produces (see `projection.py`), the one place a log entry becomes a record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GalleryIdentity:
    """Which gallery a match ran against: where it is, a content fingerprint, its size."""

    location: str
    fingerprint: str
    size: int


@dataclass(frozen=True)
class CandidateRecord:
    """One ranked gallery face of a match run, as the case log recorded it (the search's
    own candidate is `sketchlab.core.pipeline.Candidate`; `CaseStore.add_match` turns one
    into this).

    `stability`: the share (0..1) of the run's queries (the N sketch variants of one
    search) in whose top k this face appeared; None for a single-photo search.
    `false_match_rate`: from the model's sketch-query calibration, the share of non-mates
    at least this close (None when the score is not calibrated for the query kind).
    `fpir`: searches recorded with the 1:N reading (`core.search_rates`) carry instead the
    share of searches for someone absent, at the searched gallery's size, this close.
    """

    rank: int
    subject: str
    photo_sha256: str
    distance: float
    score: float
    within_threshold: bool
    thumbnail_sha256: str | None = None
    stability: float | None = None
    false_match_rate: float | None = None
    fpir: float | None = None


@dataclass(frozen=True)
class SketchVersion:
    """A sketch the artist saved (or added by hand), kept byte for byte.

    `pixels_sha256` (see `pixels_digest`) identifies the picture whatever its file
    encoding, so an inversion of the same canvas can be tied to this version; None in
    records from before it was kept.
    """

    version: int
    image_sha256: str
    image_type: str
    strokes_sha256: str | None
    note: str
    width: int | None
    height: int | None
    author: str
    created_at: str
    pixels_sha256: str | None = None


@dataclass(frozen=True)
class Inversion:
    """One synthesized photo and the exact image it came from.

    `source_sha256` is the image the inversion consumed (the canvas snapshot or the file as
    given), `input_sha256` the network input made from it (aligned, possibly a variant),
    `photo_sha256` the output. `sketch_version` is the saved version whose picture equals
    the source, decided by the store from the bytes (None: the source was never saved).
    Records from before sources were kept have `source_sha256` None and carry the version
    the app claimed. `variant` describes how the input was varied from the source (the
    N-variant search), None for the sketch as drawn.
    """

    number: int
    sketch_version: int | None
    photo_sha256: str
    input_sha256: str | None
    model_name: str
    model_sha256: str
    settings: dict[str, Any]
    device: str
    ms: float | None
    author: str
    created_at: str
    source_sha256: str | None = None
    variant: dict[str, Any] | None = None


@dataclass(frozen=True)
class MatchRun:
    """One gallery search: the inversions whose photos were its queries, and the ranking.

    `calibration` says what the scores mean (e.g. which calibration and false-match rate
    the threshold is set at); empty for the plain logistic score.
    """

    number: int
    inversions: tuple[int, ...]
    gallery: GalleryIdentity
    threshold: float | None
    k: int | None
    candidates: tuple[CandidateRecord, ...]
    author: str
    created_at: str
    calibration: str = ""

    @property
    def inversion(self) -> int | None:
        """The first (for a single-photo search, the only) inversion searched."""
        return self.inversions[0] if self.inversions else None


@dataclass(frozen=True)
class CaseInfo:
    uid: str
    number: str
    title: str
    artist: str
    investigator: str
    witness_description: str
    status: str
    created_at: str
    created_by: str
    updated_at: str
    audit_count: int = 0
    audit_head: str = ""


@dataclass(frozen=True)
class CaseFile:
    """A whole case: header, sketch versions, inversions and match runs, oldest first."""

    info: CaseInfo
    sketches: tuple[SketchVersion, ...] = field(default_factory=tuple)
    inversions: tuple[Inversion, ...] = field(default_factory=tuple)
    matches: tuple[MatchRun, ...] = field(default_factory=tuple)

    def sketch(self, version: int | None = None) -> SketchVersion | None:
        if not self.sketches:
            return None
        if version is None:
            return self.sketches[-1]
        return next((v for v in self.sketches if v.version == version), None)

    def inversion(self, number: int) -> Inversion | None:
        return self.inversions[number - 1] if 1 <= number <= len(self.inversions) else None

    @property
    def latest_inversion(self) -> Inversion | None:
        return self.inversions[-1] if self.inversions else None

    @property
    def latest_match(self) -> MatchRun | None:
        return self.matches[-1] if self.matches else None

    def to_dict(self) -> dict[str, Any]:
        """The case as JSON-ready data (a bundle's case.json, `case show --json`)."""
        return dataclasses.asdict(self)


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of `data` that `cls` has fields for (records written by a newer
    SketchLab may carry more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}
