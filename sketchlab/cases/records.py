"""Plain, frozen records of a case: what crosses threads and layers (never ORM objects).

They are built from a snapshot dict (see projection.py), so the tables, a replayed log
and a bundle's case.json all turn into the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GalleryIdentity:
    """Which gallery a match ran against: where it is, a content fingerprint, its size."""

    location: str
    fingerprint: str
    size: int


@dataclass(frozen=True)
class Candidate:
    rank: int
    subject: str
    photo_sha256: str
    distance: float
    score: float
    within_threshold: bool
    thumbnail_sha256: str | None = None


@dataclass(frozen=True)
class SketchVersion:
    version: int
    image_sha256: str
    image_type: str
    strokes_sha256: str | None
    note: str
    width: int | None
    height: int | None
    author: str
    created_at: str


@dataclass(frozen=True)
class Inversion:
    number: int
    sketch_version: int
    photo_sha256: str
    input_sha256: str | None
    model_name: str
    model_sha256: str
    settings: dict[str, Any]
    device: str
    ms: float | None
    author: str
    created_at: str


@dataclass(frozen=True)
class MatchRun:
    number: int
    inversion: int | None
    gallery: GalleryIdentity
    threshold: float | None
    k: int | None
    candidates: tuple[Candidate, ...]
    author: str
    created_at: str


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

    @classmethod
    def from_snapshot(cls, s: dict[str, Any], audit_count: int = 0, audit_head: str = ""
                      ) -> CaseFile:
        info = CaseInfo(uid=s["uid"], number=s["number"], title=s["title"], artist=s["artist"],
                        investigator=s["investigator"],
                        witness_description=s["witness_description"], status=s["status"],
                        created_at=s["created_at"], created_by=s["created_by"],
                        updated_at=s["updated_at"], audit_count=audit_count,
                        audit_head=audit_head)
        return cls(
            info=info,
            sketches=tuple(SketchVersion(**v) for v in s["sketches"]),
            inversions=tuple(Inversion(**v) for v in s["inversions"]),
            matches=tuple(MatchRun(
                number=m["number"], inversion=m["inversion"],
                gallery=GalleryIdentity(m["gallery_location"], m["gallery_fingerprint"],
                                        m["gallery_size"]),
                threshold=m["threshold"], k=m["k"],
                candidates=tuple(Candidate(**c) for c in m["candidates"]),
                author=m["author"], created_at=m["created_at"]) for m in s["matches"]))

    def sketch(self, version: int | None = None) -> SketchVersion | None:
        if not self.sketches:
            return None
        if version is None:
            return self.sketches[-1]
        return next((v for v in self.sketches if v.version == version), None)

    @property
    def latest_inversion(self) -> Inversion | None:
        return self.inversions[-1] if self.inversions else None

    @property
    def latest_match(self) -> MatchRun | None:
        return self.matches[-1] if self.matches else None
