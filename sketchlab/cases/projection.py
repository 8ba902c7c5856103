"""Replay an audit log into the case it describes: the only place an entry becomes a record.

The log is the case store's only truth; nothing else holds sketches, inversions or
matches. `CaseBuilder` applies entries one at a time, appending to its lists (no copy
of the case per entry), so replaying a case costs one pass over its entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sketchlab.cases.audit import AuditEntry
from sketchlab.cases.records import (
    CandidateRecord,
    CaseFile,
    CaseInfo,
    GalleryIdentity,
    Inversion,
    MatchRun,
    SketchVersion,
    known_fields,
)

CASE_CREATE = "case.create"
CASE_UPDATE = "case.update"
SKETCH_ADD = "sketch.add"
INVERSION_ADD = "inversion.add"
MATCH_ADD = "match.add"
CASE_EXPORT = "case.export"
CASE_IMPORT = "case.import"
PHOTO_EXPORT = "photo.export"
NOTE_ADD = "note.add"
CANDIDATE_EXCLUDE = "candidate.exclude"
# Events: what left the app or came in, the investigator's notes and the leads they
# ruled out (with why); they change no record, the log itself is their record.
EVENTS = (CASE_EXPORT, CASE_IMPORT, PHOTO_EXPORT, NOTE_ADD, CANDIDATE_EXCLUDE)

HEADER_FIELDS = ("number", "title", "artist", "investigator", "witness_description", "status")
STATUSES = ("open", "closed", "archived")


class ReplayError(ValueError):
    """The log describes something impossible (e.g. an inversion of a missing sketch)."""


def _artefact(entry: AuditEntry, role: str) -> str | None:
    return next((a.sha256 for a in entry.artefacts if a.role == role), None)


class CaseBuilder:
    """The case as of the entries applied so far."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.sketches: list[SketchVersion] = []
        self.inversions: list[Inversion] = []
        self.matches: list[MatchRun] = []
        self.count = 0
        self.head = ""

    def apply(self, entry: AuditEntry) -> None:
        d, where = entry.details, f"seq {entry.seq}"
        if entry.action == CASE_CREATE:
            if self.header is not None:
                raise ReplayError(f"{where}: the case is created twice")
            self.header = {"uid": entry.case_uid, **{k: d.get(k, "") for k in HEADER_FIELDS},
                           "created_at": entry.time, "created_by": entry.who}
        elif self.header is None:
            raise ReplayError(f"{where}: {entry.action} before the case was created")
        elif entry.action == CASE_UPDATE:
            for k, v in d.get("changes", {}).items():
                if k not in HEADER_FIELDS:
                    raise ReplayError(f"{where}: unknown case field {k!r}")
                self.header[k] = v
        elif entry.action == SKETCH_ADD:
            self._sketch(entry, where)
        elif entry.action == INVERSION_ADD:
            self._inversion(entry, where)
        elif entry.action == MATCH_ADD:
            self._match(entry, where)
        elif entry.action not in EVENTS:
            raise ReplayError(f"{where}: unknown action {entry.action!r}")
        self.header["updated_at"] = entry.time
        self.count, self.head = entry.seq, entry.hash

    def _sketch(self, e: AuditEntry, where: str) -> None:
        d = e.details
        image = next((a for a in e.artefacts if a.role == "sketch"), None)
        if image is None:
            raise ReplayError(f"{where}: sketch entry without an image")
        if d.get("version") != len(self.sketches) + 1:
            raise ReplayError(f"{where}: sketch version {d.get('version')} out of order")
        self.sketches.append(SketchVersion(
            version=d["version"], image_sha256=image.sha256, image_type=image.media_type,
            strokes_sha256=_artefact(e, "strokes"), note=d.get("note", ""),
            width=d.get("width"), height=d.get("height"), author=e.who, created_at=e.time,
            pixels_sha256=d.get("pixels_sha256")))

    def _inversion(self, e: AuditEntry, where: str) -> None:
        d = e.details
        photo = _artefact(e, "photo")
        if photo is None:
            raise ReplayError(f"{where}: inversion entry without a photo")
        version = d.get("sketch_version")
        if version is not None and not 1 <= int(version) <= len(self.sketches):
            raise ReplayError(f"{where}: inversion of unknown sketch version {version}")
        if d.get("number") != len(self.inversions) + 1:
            raise ReplayError(f"{where}: inversion {d.get('number')} out of order")
        self.inversions.append(Inversion(
            number=d["number"], sketch_version=version, photo_sha256=photo,
            input_sha256=_artefact(e, "input"), model_name=d.get("model_name", ""),
            model_sha256=d.get("model_sha256", ""), settings=d.get("settings", {}),
            device=d.get("device", ""), ms=d.get("ms"), author=e.who, created_at=e.time,
            source_sha256=_artefact(e, "source"), variant=d.get("variant")))

    def _match(self, e: AuditEntry, where: str) -> None:
        d = e.details
        # Logs before several queries per search name one inversion (or none).
        used = d["inversions"] if "inversions" in d else (
            [d["inversion"]] if d.get("inversion") is not None else [])
        for n in used:
            if not 1 <= int(n) <= len(self.inversions):
                raise ReplayError(f"{where}: match of unknown inversion {n}")
        if d.get("number") != len(self.matches) + 1:
            raise ReplayError(f"{where}: match run {d.get('number')} out of order")
        g = d.get("gallery", {})
        self.matches.append(MatchRun(
            number=d["number"], inversions=tuple(int(n) for n in used),
            gallery=GalleryIdentity(g.get("location", ""), g.get("fingerprint", ""),
                                    g.get("size", 0)),
            threshold=d.get("threshold"), k=d.get("k"),
            candidates=tuple(CandidateRecord(**known_fields(CandidateRecord, c))
                             for c in d.get("candidates", [])),
            author=e.who, created_at=e.time, calibration=d.get("calibration", "")))

    def case(self) -> CaseFile:
        if self.header is None:
            raise ReplayError("the audit log is empty")
        info = CaseInfo(**self.header, audit_count=self.count, audit_head=self.head)
        return CaseFile(info, tuple(self.sketches), tuple(self.inversions),
                        tuple(self.matches))


def replay(entries: Iterable[AuditEntry]) -> CaseFile:
    """The case the entries describe; ReplayError when they describe no valid case."""
    builder = CaseBuilder()
    for entry in entries:
        builder.apply(entry)
    return builder.case()


def diff(expected: Any, actual: Any, path: str = "case") -> list[str]:
    """Where two JSON-like views disagree, as readable paths (first 20)."""
    out: list[str] = []

    def walk(a: Any, b: Any, p: str) -> None:
        if len(out) >= 20:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{p}.{k}")
        elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
            if len(a) != len(b):
                out.append(f"{p}: {len(b)} items, the log has {len(a)}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(x, y, f"{p}[{i}]")
        elif a != b:
            out.append(f"{p}: {b!r}, the log says {a!r}")

    walk(expected, actual, path)
    return out
