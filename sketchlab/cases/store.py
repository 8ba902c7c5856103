"""CaseStore: create cases and record their work, each step sealed into the audit chain.

Every change is one transaction that appends an audit entry and updates the tables from
that same entry, so the log and the tables cannot drift apart except by tampering,
which `verify` reports. Artefacts are written (content-addressed) before the
transaction, so a crash leaves at worst an unreferenced file, never a dangling entry.
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from sketchlab import paths
from sketchlab.cases import projection as P
from sketchlab.cases.artefacts import ArtefactStore, sniff_media_type
from sketchlab.cases.audit import Artefact, AuditEntry, seal_next, verify_chain
from sketchlab.cases.db import CaseStoreError, make_engine, session_scope
from sketchlab.cases.models import (
    AuditRow,
    CandidateRow,
    CaseRow,
    InversionRow,
    MatchRow,
    SketchRow,
)
from sketchlab.cases.records import CaseFile, CaseInfo, GalleryIdentity

log = logging.getLogger(__name__)

MAX_ARTEFACT_BYTES = 100 * 1024 * 1024


class CaseError(ValueError):
    """A request the user can correct (unknown case, bad input); the message says how."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking a case (local store or bundle); ok when nothing is wrong."""

    case_number: str
    entries: int
    head: str
    artefacts: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def current_user() -> str:
    """The OS account name; `getpass` can fail with no login record (containers)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def default_root() -> Path:
    return paths.user_data_dir() / "cases"


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _image_bytes(image: bytes | np.ndarray | os.PathLike[str] | str) -> bytes:
    if isinstance(image, np.ndarray):
        return png_bytes(image)
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    p = Path(image)
    if not p.is_file():
        raise CaseError(f"{p}: file not found")
    return p.read_bytes()


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _json_or_raw(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text}  # shows up as a difference from the log


def _entry(row: AuditRow, case_uid: str) -> AuditEntry:
    try:
        details = json.loads(row.details_json)
        artefacts = tuple(Artefact.from_dict(a) for a in json.loads(row.artefacts_json))
    except (ValueError, KeyError, TypeError):
        # Garbled by hand: keep the raw text so the hash check reports the entry as edited.
        details, artefacts = {"unreadable": f"{row.details_json} {row.artefacts_json}"}, ()
    return AuditEntry(case_uid=case_uid, seq=row.seq, time=row.time, who=row.who,
                      action=row.action, details=details, artefacts=artefacts,
                      prev_hash=row.prev_hash, hash=row.hash)


class CaseStore:
    """Cases in `root/cases.sqlite`, artefact files in `root/objects/`."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db_path = self.root / "cases.sqlite"
        self.engine = make_engine(self.db_path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.artefacts = ArtefactStore(self.root / "objects")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading -------------------------------------------------------------------

    def _case_row(self, session: Session, ref: str) -> CaseRow:
        ref = str(ref).strip()
        rows = session.scalars(select(CaseRow).where(or_(
            CaseRow.number == ref, CaseRow.uid == ref))).all()
        if not rows and len(ref) >= 6:
            rows = session.scalars(select(CaseRow).where(CaseRow.uid.startswith(ref))).all()
        if len(rows) == 1:
            return rows[0]
        if rows:
            raise CaseError(f"{ref!r} matches {len(rows)} cases; give the full case number")
        raise CaseError(f"no case {ref!r} in {self.root}; `sketchlab case list` shows the cases")

    @staticmethod
    def _info(row: CaseRow) -> CaseInfo:
        return CaseInfo(uid=row.uid, number=row.number, title=row.title, artist=row.artist,
                        investigator=row.investigator,
                        witness_description=row.witness_description, status=row.status,
                        created_at=row.created_at, created_by=row.created_by,
                        updated_at=row.updated_at, audit_count=row.audit_count,
                        audit_head=row.audit_head)

    def list_cases(self) -> list[CaseInfo]:
        with session_scope(self._sessions) as s:
            return [self._info(r) for r in s.scalars(
                select(CaseRow).order_by(CaseRow.updated_at.desc()))]

    def get(self, ref: str) -> CaseFile:
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            return CaseFile.from_snapshot(self._snapshot(row), row.audit_count, row.audit_head)

    def entries(self, ref: str) -> list[AuditEntry]:
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            return [_entry(e, row.uid) for e in s.scalars(
                select(AuditRow).where(AuditRow.case_id == row.id).order_by(AuditRow.id))]

    def snapshot(self, ref: str) -> dict[str, Any]:
        """The case as the tables hold it, in the same shape as `projection.replay`."""
        with session_scope(self._sessions) as s:
            return self._snapshot(self._case_row(s, ref))

    @staticmethod
    def _snapshot(row: CaseRow) -> dict[str, Any]:
        return {
            "uid": row.uid, **{k: getattr(row, k) for k in P.HEADER_FIELDS},
            "created_at": row.created_at, "created_by": row.created_by,
            "updated_at": row.updated_at,
            "sketches": [{
                "version": v.version, "image_sha256": v.image_sha256,
                "image_type": v.image_type, "strokes_sha256": v.strokes_sha256,
                "note": v.note, "width": v.width, "height": v.height, "author": v.author,
                "created_at": v.created_at} for v in row.sketches],
            "inversions": [{
                "number": i.number, "sketch_version": i.sketch_version,
                "photo_sha256": i.photo_sha256, "input_sha256": i.input_sha256,
                "model_name": i.model_name, "model_sha256": i.model_sha256,
                "settings": _json_or_raw(i.settings_json), "device": i.device, "ms": i.ms,
                "author": i.author, "created_at": i.created_at} for i in row.inversions],
            "matches": [{
                "number": m.number, "inversion": m.inversion,
                "gallery_location": m.gallery_location,
                "gallery_fingerprint": m.gallery_fingerprint, "gallery_size": m.gallery_size,
                "threshold": m.threshold, "k": m.k,
                "candidates": [{
                    "rank": c.rank, "subject": c.subject, "photo_sha256": c.photo_sha256,
                    "distance": c.distance, "score": c.score,
                    "within_threshold": c.within_threshold,
                    "thumbnail_sha256": c.thumbnail_sha256} for c in m.candidates],
                "author": m.author, "created_at": m.created_at} for m in row.matches],
        }

    # ---- writing -------------------------------------------------------------------

    def _append(self, s: Session, row: CaseRow, action: str, details: dict[str, Any],
                artefacts: Iterable[Artefact] = ()) -> AuditEntry:
        last = s.scalars(select(AuditRow).where(AuditRow.case_id == row.id)
                         .order_by(AuditRow.seq.desc()).limit(1)).first()
        prev = _entry(last, row.uid) if last is not None else None
        entry = seal_next(prev, row.uid, utc_now(), current_user(), action, details, artefacts)
        self._insert_entry(s, row, entry)
        return entry

    def _insert_entry(self, s: Session, row: CaseRow, entry: AuditEntry) -> None:
        s.add(AuditRow(case_id=row.id, seq=entry.seq, time=entry.time, who=entry.who,
                       action=entry.action, details_json=json.dumps(entry.details),
                       artefacts_json=json.dumps([a.to_dict() for a in entry.artefacts]),
                       prev_hash=entry.prev_hash, hash=entry.hash))
        row.audit_count = entry.seq
        row.audit_head = entry.hash
        row.updated_at = entry.time
        self._project(s, row, entry)
        s.flush()

    @staticmethod
    def _project(s: Session, row: CaseRow, e: AuditEntry) -> None:
        """Write the table rows an entry implies (mirrors projection.apply)."""
        d = e.details
        art = {a.role: a for a in e.artefacts}
        if e.action == P.CASE_UPDATE:
            for k, v in d["changes"].items():
                setattr(row, k, v)
        elif e.action == P.SKETCH_ADD:
            strokes = art.get("strokes")
            row.sketches.append(SketchRow(
                version=d["version"], image_sha256=art["sketch"].sha256,
                image_type=art["sketch"].media_type,
                strokes_sha256=strokes.sha256 if strokes else None, note=d.get("note", ""),
                width=d.get("width"), height=d.get("height"), author=e.who,
                created_at=e.time))
        elif e.action == P.INVERSION_ADD:
            inp = art.get("input")
            row.inversions.append(InversionRow(
                number=d["number"], sketch_version=d["sketch_version"],
                photo_sha256=art["photo"].sha256, input_sha256=inp.sha256 if inp else None,
                model_name=d.get("model_name", ""), model_sha256=d.get("model_sha256", ""),
                settings_json=json.dumps(d.get("settings", {})), device=d.get("device", ""),
                ms=d.get("ms"), author=e.who, created_at=e.time))
        elif e.action == P.MATCH_ADD:
            g = d.get("gallery", {})
            row.matches.append(MatchRow(
                number=d["number"], inversion=d.get("inversion"),
                gallery_location=g.get("location", ""),
                gallery_fingerprint=g.get("fingerprint", ""), gallery_size=g.get("size", 0),
                threshold=d.get("threshold"), k=d.get("k"), author=e.who, created_at=e.time,
                candidates=[CandidateRow(**c) for c in d.get("candidates", [])]))

    def _store_artefact(self, role: str, data: bytes) -> Artefact:
        if len(data) > MAX_ARTEFACT_BYTES:
            raise CaseError(f"the {role} file is {len(data) / 1e6:.0f} MB; the limit is "
                            f"{MAX_ARTEFACT_BYTES / 1e6:.0f} MB")
        sha = self.artefacts.put(data)
        return Artefact(role=role, sha256=sha, media_type=sniff_media_type(data), size=len(data))

    def create_case(self, number: str | None = None, title: str = "", artist: str = "",
                    investigator: str = "", witness_description: str = "") -> CaseInfo:
        """A new open case; `number` defaults to YYYY-NNNN (the next free in this year)."""
        with session_scope(self._sessions) as s:
            if number is None or not number.strip():
                year = datetime.now(UTC).year
                n = s.scalar(select(func.count()).select_from(CaseRow)
                             .where(CaseRow.number.startswith(f"{year}-"))) or 0
                number = f"{year}-{n + 1:04d}"
                while s.scalar(select(CaseRow.id).where(CaseRow.number == number)):
                    n += 1
                    number = f"{year}-{n + 1:04d}"
            number = number.strip()
            if s.scalar(select(CaseRow.id).where(CaseRow.number == number)):
                raise CaseError(f"case {number!r} already exists; pick another number")
            uid = str(uuid.uuid4())
            now = utc_now()
            row = CaseRow(uid=uid, number=number, title=title, artist=artist,
                          investigator=investigator, witness_description=witness_description,
                          status="open", created_at=now, created_by=current_user(),
                          updated_at=now)
            s.add(row)
            s.flush()
            entry = self._append(s, row, P.CASE_CREATE, {
                "number": number, "title": title, "artist": artist,
                "investigator": investigator, "witness_description": witness_description,
                "status": "open"})
            row.created_at, row.created_by = entry.time, entry.who
            log.info("created case %s (%s)", number, uid)
            return self._info(row)

    def update_case(self, ref: str, **changes: str) -> CaseInfo:
        bad = [k for k in changes if k not in P.HEADER_FIELDS or k == "number"]
        if bad:
            raise CaseError(f"cannot change {', '.join(bad)}; editable: title, artist, "
                            "investigator, witness_description, status")
        if "status" in changes and changes["status"] not in P.STATUSES:
            raise CaseError(f"status must be one of {', '.join(P.STATUSES)}")
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            real = {k: v for k, v in changes.items() if getattr(row, k) != v}
            if real:
                self._append(s, row, P.CASE_UPDATE, {"changes": real})
            return self._info(row)

    def add_sketch(self, ref: str, image: bytes | np.ndarray | os.PathLike[str] | str,
                   strokes: bytes | None = None, note: str = "") -> int:
        """Record a sketch version (image bytes kept exactly as given); returns its number."""
        from sketchlab.core.imageio import ImageLoadError, load_image

        data = _image_bytes(image)
        try:
            h, w = load_image(data).shape[:2]
        except ImageLoadError as exc:
            raise CaseError(f"sketch image rejected: {exc}") from exc
        arts = [self._store_artefact("sketch", data)]
        if strokes is not None:
            try:
                json.loads(strokes)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CaseError(f"stroke data is not JSON ({exc}); save strokes from the "
                                "SketchLab canvas") from exc
            arts.append(self._store_artefact("strokes", strokes))
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            version = len(row.sketches) + 1
            self._append(s, row, P.SKETCH_ADD,
                         {"version": version, "note": note, "width": w, "height": h}, arts)
            return version

    def add_inversion(self, ref: str, sketch_version: int, photo: np.ndarray | bytes,
                      model_name: str, model_sha256: str, device: str,
                      ms: float | None, settings: Mapping[str, Any] | None = None,
                      input_image: np.ndarray | bytes | None = None) -> int:
        """Record a synthesized photo and how it was made; returns the inversion number."""
        arts = [self._store_artefact("photo", _image_bytes(photo))]
        if input_image is not None:
            arts.append(self._store_artefact("input", _image_bytes(input_image)))
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            if not 1 <= sketch_version <= len(row.sketches):
                raise CaseError(f"case {row.number} has no sketch version {sketch_version}")
            number = len(row.inversions) + 1
            self._append(s, row, P.INVERSION_ADD, {
                "number": number, "sketch_version": sketch_version, "model_name": model_name,
                "model_sha256": model_sha256, "settings": dict(settings or {}),
                "device": device, "ms": None if ms is None else round(float(ms), 3)}, arts)
            return number

    def add_match(self, ref: str, candidates: Sequence[Any], gallery: GalleryIdentity,
                  threshold: float | None, k: int | None = None,
                  inversion: int | None = None) -> int:
        """Record a match run. Candidates are dicts or objects with rank, subject (or
        subject_name), photo_sha256, distance, score, within_threshold and an optional
        thumbnail (RGB array or image bytes); returns the match run number."""
        cands, arts = [], []
        for i, c in enumerate(candidates, start=1):
            thumb = _field(c, "thumbnail")
            thumb_sha = _field(c, "thumbnail_sha256")
            if thumb is not None:
                a = self._store_artefact("thumbnail", _image_bytes(thumb))
                thumb_sha = a.sha256
                if all(x.sha256 != a.sha256 for x in arts):
                    arts.append(a)
            cands.append({
                "rank": int(_field(c, "rank", i)),
                "subject": str(_field(c, "subject", None) or _field(c, "subject_name", "")),
                "photo_sha256": str(_field(c, "photo_sha256", "")),
                "distance": float(_field(c, "distance")), "score": float(_field(c, "score")),
                "within_threshold": bool(_field(c, "within_threshold")),
                "thumbnail_sha256": thumb_sha})
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            if inversion is None and row.inversions:
                inversion = row.inversions[-1].number
            if inversion is not None and not 1 <= inversion <= len(row.inversions):
                raise CaseError(f"case {row.number} has no inversion {inversion}")
            number = len(row.matches) + 1
            self._append(s, row, P.MATCH_ADD, {
                "number": number, "inversion": inversion,
                "gallery": {"location": gallery.location, "fingerprint": gallery.fingerprint,
                            "size": int(gallery.size)},
                "threshold": None if threshold is None else float(threshold),
                "k": k, "candidates": cands}, arts)
            return number

    def record_event(self, ref: str, action: str, details: dict[str, Any]) -> AuditEntry:
        """Chain-of-custody events (export, import) that change nothing else."""
        if action not in (P.CASE_EXPORT, P.CASE_IMPORT):
            raise ValueError(f"not an event action: {action}")
        with session_scope(self._sessions) as s:
            return self._append(s, self._case_row(s, ref), action, details)

    def adopt(self, entries: Sequence[AuditEntry], artefacts: Mapping[str, bytes]) -> CaseInfo:
        """Take in a verified case from elsewhere (import): its entries unchanged, then
        the tables rebuilt from them. The caller has verified chain and bytes."""
        first = entries[0]
        snap = P.replay(entries)
        for sha, data in artefacts.items():
            if self.artefacts.put(data) != sha:
                raise CaseError(f"artefact {sha[:12]} changed while importing")
        with session_scope(self._sessions) as s:
            if s.scalar(select(CaseRow.id).where(CaseRow.uid == first.case_uid)):
                raise CaseError(f"case {snap['number']} ({first.case_uid}) is already in this "
                                "store; nothing was imported")
            if s.scalar(select(CaseRow.id).where(CaseRow.number == snap["number"])):
                raise CaseError(f"another case already uses number {snap['number']!r}; "
                                "nothing was imported")
            d = first.details
            row = CaseRow(uid=first.case_uid, number=d["number"], title=d.get("title", ""),
                          artist=d.get("artist", ""), investigator=d.get("investigator", ""),
                          witness_description=d.get("witness_description", ""),
                          status=d.get("status", "open"), created_at=first.time,
                          created_by=first.who, updated_at=first.time)
            s.add(row)
            s.flush()
            for e in entries:
                self._insert_entry(s, row, e)
            return self._info(row)

    # ---- verification --------------------------------------------------------------

    def verify(self, ref: str) -> VerifyResult:
        """Check the chain, the recorded head, every artefact's bytes, and the tables."""
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            number, uid, head, count = row.number, row.uid, row.audit_head, row.audit_count
            entries = [_entry(e, uid) for e in s.scalars(
                select(AuditRow).where(AuditRow.case_id == row.id).order_by(AuditRow.id))]
            tables = self._snapshot(row)
        problems = verify_chain(entries, uid, expected_head=head, expected_count=count)
        shas = sorted({a.sha256 for e in entries for a in e.artefacts})
        problems += [p for sha in shas if (p := self.artefacts.check(sha))]
        problems += check_views(entries, tables, "case tables")
        return VerifyResult(number, len(entries), entries[-1].hash if entries else "",
                            len(shas), tuple(problems))


def check_views(entries: Sequence[AuditEntry], view: dict[str, Any], what: str) -> list[str]:
    """Differences between a stored view of the case and a replay of its log."""
    try:
        expected = P.replay(entries)
    except (P.ReplayError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return [f"the audit log cannot be replayed: {exc!r}"]
    return [f"{what} disagree with the audit log at {d}" for d in P.diff(expected, view)]


__all__ = ["CaseError", "CaseStore", "CaseStoreError", "VerifyResult", "check_views"]
