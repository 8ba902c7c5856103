"""CaseStore: create cases and record their work, each step sealed into the audit chain.

The audit log is the only record of a case: every change appends one entry, and
reading a case replays its entries (`projection.CaseBuilder`). Artefacts are written
(content-addressed) before the transaction, so a crash leaves at worst an unreferenced
file, never a dangling entry. The store decides for itself which saved sketch version
an inversion's source equals, from the bytes: a caller cannot attribute an inversion to
a sketch it did not consume.
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from sketchlab.cases import projection as P
from sketchlab.cases.artefacts import (
    ArtefactStore,
    pixels_sha256,
    rgb_sha256,
    sniff_media_type,
)
from sketchlab.cases.audit import Artefact, AuditEntry, seal_next, verify_chain
from sketchlab.cases.db import CaseStoreError, make_engine, session_scope
from sketchlab.cases.models import AuditRow, CaseRow
from sketchlab.cases.records import CaseFile, CaseInfo, GalleryIdentity
from sketchlab.core import paths
from sketchlab.core.atomic import process_alive, sweep_stale_temps, write_text
from sketchlab.core.hashing import sha256_bytes

log = logging.getLogger(__name__)

MAX_ARTEFACT_BYTES = 100 * 1024 * 1024
_EXPORTING = "exporting"  # notes of exports under way: PID.UUID.json, {"folder": ...}


class CaseError(ValueError):
    """A request the user can correct (unknown case, bad input); the message says how.

    `field` names the input at fault when there is one (e.g. "number"), so a form can
    mark that field and keep the rest of what the user typed.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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
        self._sweep()
        self._pixels: dict[str, str] = {}  # artefact SHA-256 -> pixels_sha256 (immutable)
        self._sizes: dict[str, tuple[int, int]] = {}  # artefact SHA-256 -> (height, width)

    def close(self) -> None:
        self.engine.dispose()

    # ---- what a killed process left behind -----------------------------------------

    def _sweep(self) -> None:
        """Remove temp files left by writers that were killed: in the store, and beside
        the bundles of exports whose process is gone (`exporting` notes their folders)."""
        removed = sweep_stale_temps(self.root)
        for sub in self.artefacts.root.iterdir() if self.artefacts.root.is_dir() else ():
            if sub.is_dir():
                removed += sweep_stale_temps(sub)
        notes = self.root / _EXPORTING
        for note in sorted(notes.glob("*.json")) if notes.is_dir() else ():
            pid = int(note.name.split(".", 1)[0]) if note.name[0].isdigit() else 0
            if process_alive(pid):
                continue
            try:
                removed += sweep_stale_temps(json.loads(note.read_text())["folder"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable export note %s: %s", note.name, exc)
            note.unlink(missing_ok=True)
        for p in removed:
            log.warning("removed %s, left half-written by a process that was stopped", p)

    @contextmanager
    def exporting(self, folder: str | os.PathLike[str]) -> Iterator[None]:
        """Note that this process writes into `folder` (a bundle's temp file), so a later
        start can sweep what it leaves there if it is killed before it finishes."""
        note = self.root / _EXPORTING / f"{os.getpid()}.{uuid.uuid4().hex}.json"
        write_text(note, json.dumps({"folder": str(Path(folder).resolve())}))
        try:
            yield
        finally:
            note.unlink(missing_ok=True)

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading -------------------------------------------------------------------

    def _case_row(self, session: Session, ref: str) -> CaseRow:
        ref = str(ref).strip()
        rows = session.scalars(select(CaseRow).where(or_(
            CaseRow.number == ref, CaseRow.uid == ref))).all()
        if not rows:  # "rob-17" finds ROB-17: numbers are one regardless of letter case
            rows = session.scalars(select(CaseRow).where(
                func.lower(CaseRow.number) == ref.lower())).all()
        if not rows and len(ref) >= 6:
            rows = session.scalars(select(CaseRow).where(CaseRow.uid.startswith(ref))).all()
        if len(rows) == 1:
            return rows[0]
        if rows:
            raise CaseError(f"{ref!r} matches {len(rows)} cases; give the full case number")
        raise CaseError(f"no case {ref!r} in {self.root}; `sketchlab case list` shows the cases")

    @staticmethod
    def _rows(s: Session, row: CaseRow) -> list[AuditEntry]:
        return [_entry(e, row.uid) for e in s.scalars(
            select(AuditRow).where(AuditRow.case_id == row.id).order_by(AuditRow.id))]

    @staticmethod
    def _replay(row: CaseRow, entries: Sequence[AuditEntry]) -> CaseFile:
        try:
            return P.replay(entries)
        except (P.ReplayError, ValueError, TypeError, KeyError) as exc:
            raise CaseError(f"case {row.number}: its audit log cannot be replayed ({exc}); "
                            f"run `sketchlab case verify {row.number}`") from exc

    def _load(self, s: Session, row: CaseRow) -> CaseFile:
        return self._replay(row, self._rows(s, row))

    def list_cases(self) -> list[CaseInfo]:
        """Every case, most recently active first (one pass over the whole log)."""
        with session_scope(self._sessions) as s:
            rows = {r.id: r for r in s.scalars(select(CaseRow))}
            builders = {i: P.CaseBuilder() for i in rows}
            broken: set[int] = set()
            for a in s.scalars(select(AuditRow).order_by(AuditRow.case_id, AuditRow.id)):
                if a.case_id in broken:
                    continue
                try:
                    builders[a.case_id].apply(_entry(a, rows[a.case_id].uid))
                except (P.ReplayError, ValueError, TypeError, KeyError) as exc:
                    log.warning("case %s cannot be listed: %s", rows[a.case_id].number, exc)
                    broken.add(a.case_id)
        # A damaged log still lists (as far as it replays), so it can be opened and verified.
        infos = [b.case().info for b in builders.values() if b.header is not None]
        return sorted(infos, key=lambda c: c.updated_at, reverse=True)

    def get(self, ref: str) -> CaseFile:
        with session_scope(self._sessions) as s:
            return self._load(s, self._case_row(s, ref))

    def entries(self, ref: str) -> list[AuditEntry]:
        with session_scope(self._sessions) as s:
            return self._rows(s, self._case_row(s, ref))

    def pixels(self, sha: str) -> str:
        """pixels_sha256 of a stored image artefact (cached: artefacts never change)."""
        if sha not in self._pixels:
            self._pixels[sha] = pixels_sha256(self.artefacts.read(sha))
        return self._pixels[sha]

    def version_pixels(self, v: Any) -> str | None:
        """pixels_sha256 of a sketch version (recorded, or computed for old records)."""
        if v.pixels_sha256:
            return v.pixels_sha256
        try:  # versions recorded before the digest was kept
            return self.pixels(v.image_sha256)
        except (FileNotFoundError, ValueError):
            return None

    def matching_version(self, case: CaseFile, sha: str, pixels: str) -> int | None:
        """The newest saved version whose file (or picture) equals this image, if any."""
        for v in reversed(case.sketches):
            if v.image_sha256 == sha or self.version_pixels(v) == pixels:
                return v.version
        return None

    # ---- writing -------------------------------------------------------------------

    @staticmethod
    def _number_in_use(s: Session, number: str) -> str | None:
        """The existing case number equal to `number` ignoring letter case, if any:
        "rob-17" and "ROB-17" read the same on paper and must not name two cases."""
        return s.scalar(select(CaseRow.number).where(
            func.lower(CaseRow.number) == number.lower()).limit(1))

    @staticmethod
    def _taken_message(number: str, existing: str) -> str:
        if existing == number:
            return f"case {number!r} already exists; pick another number"
        return (f"case {existing!r} already exists, and case numbers do not depend on "
                f"capital letters, so {number!r} is the same number; pick another number")

    def _append(self, s: Session, row: CaseRow, action: str, details: dict[str, Any],
                artefacts: Iterable[Artefact] = ()) -> AuditEntry:
        last = s.scalars(select(AuditRow).where(AuditRow.case_id == row.id)
                         .order_by(AuditRow.seq.desc()).limit(1)).first()
        prev = _entry(last, row.uid) if last is not None else None
        entry = seal_next(prev, row.uid, utc_now(), current_user(), action, details, artefacts)
        self._insert_entry(s, row, entry)
        return entry

    @staticmethod
    def _insert_entry(s: Session, row: CaseRow, entry: AuditEntry) -> None:
        s.add(AuditRow(case_id=row.id, seq=entry.seq, time=entry.time, who=entry.who,
                       action=entry.action, details_json=json.dumps(entry.details),
                       artefacts_json=json.dumps([a.to_dict() for a in entry.artefacts]),
                       prev_hash=entry.prev_hash, hash=entry.hash))
        row.audit_count = entry.seq
        row.audit_head = entry.hash
        s.flush()

    def _store_artefact(self, role: str, data: bytes) -> Artefact:
        if len(data) > MAX_ARTEFACT_BYTES:
            raise CaseError(f"the {role} file is {len(data) / 1e6:.0f} MB; the limit is "
                            f"{MAX_ARTEFACT_BYTES / 1e6:.0f} MB")
        sha = self.artefacts.put(data)
        return Artefact(role=role, sha256=sha, media_type=sniff_media_type(data), size=len(data))

    def _image_artefact(self, role: str, image: bytes | np.ndarray | os.PathLike[str] | str
                        ) -> tuple[Artefact, str, tuple[int, int]]:
        """Store an image exactly as given; its artefact, pixel digest and (height, width)."""
        from sketchlab.core.imageio import ImageLoadError, load_image

        data = _image_bytes(image)
        sha = sha256_bytes(data)
        if sha not in self._sizes:  # decoded once per image (N variants share a canvas)
            try:
                rgb = load_image(data)
            except ImageLoadError as exc:
                raise CaseError(f"{role} image rejected: {exc}") from exc
            self._pixels[sha], self._sizes[sha] = rgb_sha256(rgb), rgb.shape[:2]
        art = self._store_artefact(role, data)
        return art, self._pixels[sha], self._sizes[sha]

    def create_case(self, number: str | None = None, title: str = "", artist: str = "",
                    investigator: str = "", witness_description: str = "") -> CaseInfo:
        """A new open case; `number` defaults to YYYY-NNNN (the next free in this year)."""
        with session_scope(self._sessions) as s:
            if number is None or not number.strip():
                year = datetime.now(UTC).year
                n = s.scalar(select(func.count()).select_from(CaseRow)
                             .where(CaseRow.number.startswith(f"{year}-"))) or 0
                number = f"{year}-{n + 1:04d}"
                while self._number_in_use(s, number):
                    n += 1
                    number = f"{year}-{n + 1:04d}"
            number = number.strip()
            existing = self._number_in_use(s, number)
            if existing is not None:
                raise CaseError(self._taken_message(number, existing), field="number")
            row = CaseRow(uid=str(uuid.uuid4()), number=number)
            s.add(row)
            s.flush()
            self._append(s, row, P.CASE_CREATE, {
                "number": number, "title": title, "artist": artist,
                "investigator": investigator, "witness_description": witness_description,
                "status": "open"})
            log.info("created case %s (%s)", number, row.uid)
            return self._load(s, row).info

    def update_case(self, ref: str, **changes: str) -> CaseInfo:
        bad = [k for k in changes if k not in P.HEADER_FIELDS or k == "number"]
        if bad:
            raise CaseError(f"cannot change {', '.join(bad)}; editable: title, artist, "
                            "investigator, witness_description, status")
        if "status" in changes and changes["status"] not in P.STATUSES:
            raise CaseError(f"status must be one of {', '.join(P.STATUSES)}")
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            info = self._load(s, row).info
            real = {k: v for k, v in changes.items() if getattr(info, k) != v}
            if not real:
                return info
            self._append(s, row, P.CASE_UPDATE, {"changes": real})
            return self._load(s, row).info

    def add_sketch(self, ref: str, image: bytes | np.ndarray | os.PathLike[str] | str,
                   strokes: bytes | None = None, note: str = "") -> int:
        """Record a sketch version (image bytes kept exactly as given); returns its number."""
        art, pixels, (h, w) = self._image_artefact("sketch", image)
        arts = [art]
        if strokes is not None:
            try:
                json.loads(strokes)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CaseError(f"stroke data is not JSON ({exc}); save strokes from the "
                                "SketchLab canvas") from exc
            arts.append(self._store_artefact("strokes", strokes))
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            version = len(self._load(s, row).sketches) + 1
            self._append(s, row, P.SKETCH_ADD, {"version": version, "note": note, "width": w,
                                                "height": h, "pixels_sha256": pixels}, arts)
            return version

    def add_inversion(self, ref: str, photo: np.ndarray | bytes, *,
                      source: np.ndarray | bytes | os.PathLike[str] | str,
                      model_name: str, model_sha256: str, device: str, ms: float | None,
                      settings: Mapping[str, Any] | None = None,
                      input_image: np.ndarray | bytes | None = None,
                      variant: Mapping[str, Any] | None = None) -> int:
        """Record a synthesized photo and exactly what it was made from; returns its number.

        `source` is the image the inversion consumed (the canvas snapshot, or the sketch
        file as given), `input_image` the network input made from it, `variant` how that
        input was varied (None for the sketch as drawn). Which saved sketch version the
        source equals, if any, is decided here from the pixels.
        """
        src, pixels, _ = self._image_artefact("source", source)
        arts = [src, self._store_artefact("photo", _image_bytes(photo))]
        if input_image is not None:
            arts.append(self._store_artefact("input", _image_bytes(input_image)))
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            case = self._load(s, row)
            number = len(case.inversions) + 1
            self._append(s, row, P.INVERSION_ADD, {
                "number": number,
                "sketch_version": self.matching_version(case, src.sha256, pixels),
                "model_name": model_name, "model_sha256": model_sha256,
                "settings": dict(settings or {}), "device": device,
                "ms": None if ms is None else round(float(ms), 3),
                "variant": None if variant is None else dict(variant)}, arts)
            return number

    def add_match(self, ref: str, candidates: Sequence[Any], gallery: GalleryIdentity,
                  threshold: float | None, k: int | None = None,
                  inversions: Sequence[int] | int | None = None, calibration: str = "") -> int:
        """Record a search whose queries were the photos of `inversions` (recorded first;
        None means the latest). Candidates are dicts or objects with rank, subject (or
        subject_name), photo_sha256, distance, score, within_threshold, optional
        thumbnail (RGB array or image bytes), stability and false_match_rate (a 1:1
        reading) or fpir (the 1:N reading, `core.search_rates`); returns the
        match run number. A search must have recorded queries: the report lists only
        searches of recorded images."""
        cands, arts = [], []
        for i, c in enumerate(candidates, start=1):
            thumb = _field(c, "thumbnail")
            thumb_sha = _field(c, "thumbnail_sha256")
            if thumb is not None:
                a = self._store_artefact("thumbnail", _image_bytes(thumb))
                thumb_sha = a.sha256
                if all(x.sha256 != a.sha256 for x in arts):
                    arts.append(a)
            stability, fmr = _field(c, "stability"), _field(c, "false_match_rate")
            if stability is not None and _field(c, "n_variants"):
                stability = stability / _field(c, "n_variants")  # a count -> a share
            cands.append({
                "rank": int(_field(c, "rank", i)),
                "subject": str(_field(c, "subject", None) or _field(c, "subject_name", "")),
                "photo_sha256": str(_field(c, "photo_sha256", "")),
                "distance": float(_field(c, "distance")), "score": float(_field(c, "score")),
                "within_threshold": bool(_field(c, "within_threshold")),
                "thumbnail_sha256": thumb_sha,
                "stability": None if stability is None else float(stability),
                "false_match_rate": None if fmr is None else float(fmr),
                **({} if _field(c, "fpir") is None else {"fpir": float(_field(c, "fpir"))})})
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            case = self._load(s, row)
            if inversions is None:
                if not case.inversions:
                    raise CaseError(f"case {row.number} has no inversion: record the photo "
                                    "that was searched first")
                inversions = [case.inversions[-1].number]
            elif isinstance(inversions, int):
                inversions = [inversions]
            used = [int(n) for n in inversions]
            if not used:
                raise CaseError("a search needs at least one recorded query photo")
            for n in used:
                if case.inversion(n) is None:
                    raise CaseError(f"case {row.number} has no inversion {n}")
            number = len(case.matches) + 1
            self._append(s, row, P.MATCH_ADD, {
                "number": number, "inversions": used,
                "gallery": {"location": gallery.location, "fingerprint": gallery.fingerprint,
                            "size": int(gallery.size)},
                "threshold": None if threshold is None else float(threshold),
                "k": k, "calibration": calibration, "candidates": cands}, arts)
            return number

    def record_event(self, ref: str, action: str, details: dict[str, Any],
                     artefacts: Iterable[Artefact] = ()) -> AuditEntry:
        """Chain-of-custody events (export, import, notes, exclusions, photo exports) that
        change nothing else."""
        if action not in P.EVENTS:
            raise ValueError(f"not an event action: {action}")
        with session_scope(self._sessions) as s:
            return self._append(s, self._case_row(s, ref), action, details, artefacts)

    def next_event(self, ref: str, action: str, details: dict[str, Any]) -> AuditEntry:
        """The event entry that would follow the log's head now, sealed but not recorded:
        an export writes it into the bundle first and records it once the bundle is in
        place (`append_prepared`), so the log never states an export that did not happen."""
        if action not in (P.CASE_EXPORT, P.CASE_IMPORT):
            raise ValueError(f"not an event action: {action}")
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            last = s.scalars(select(AuditRow).where(AuditRow.case_id == row.id)
                             .order_by(AuditRow.seq.desc()).limit(1)).first()
            prev = _entry(last, row.uid) if last is not None else None
            return seal_next(prev, row.uid, utc_now(), current_user(), action, details)

    def append_prepared(self, ref: str, entry: AuditEntry) -> AuditEntry:
        """Record an entry from `next_event`; CaseError when the log has moved on since
        (another process recorded work in between), since the entry no longer follows."""
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            if row.audit_head != entry.prev_hash or row.audit_count + 1 != entry.seq:
                raise CaseError(f"case {row.number} changed while its {entry.action} was "
                                "under way; nothing was recorded, do it again")
            self._insert_entry(s, row, entry)
            return entry

    def record_photo_export(self, ref: str, file: str | os.PathLike[str], *,
                            inversion: int | None, factor: int = 1) -> AuditEntry:
        """A synthesized photo written out of the app: where, its SHA-256, and the file
        itself (kept, so the case shows exactly what left), tied to the inversion whose
        photo it is (recorded first; None when it could not be)."""
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CaseError(f"the exported photo {path} cannot be read back: {exc}") from exc
        art = self._store_artefact("exported_photo", data)
        width = height = None
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
        except (OSError, ValueError):
            pass  # still recorded by its bytes and hash
        return self.record_event(ref, P.PHOTO_EXPORT, {
            "file": str(path.resolve()), "sha256": art.sha256, "size": len(data),
            "width": width, "height": height, "upscale_factor": int(factor),
            "inversion": inversion}, [art])

    def add_note(self, ref: str, text: str) -> AuditEntry:
        """A note on the case, in the investigator's words."""
        text = text.strip()
        if not text:
            raise CaseError("the note is empty; write what should be kept with the case")
        return self.record_event(ref, P.NOTE_ADD, {"text": text})

    def exclude_candidate(self, ref: str, match: int, rank: int, reason: str) -> AuditEntry:
        """Rule a candidate of a recorded search out as a lead, saying why. The search's
        record is unchanged: the exclusion is an entry of its own."""
        reason = reason.strip()
        if not reason:
            raise CaseError("say why the candidate is excluded (e.g. in custody that day)")
        case = self.get(ref)
        run = next((m for m in case.matches if m.number == match), None)
        if run is None:
            raise CaseError(f"case {case.info.number} has no search {match}")
        cand = next((c for c in run.candidates if c.rank == rank), None)
        if cand is None:
            raise CaseError(f"search {match} has no candidate ranked {rank}")
        return self.record_event(ref, P.CANDIDATE_EXCLUDE, {
            "match": match, "rank": rank, "subject": cand.subject,
            "photo_sha256": cand.photo_sha256, "reason": reason})

    def adopt(self, entries: Sequence[AuditEntry], artefacts: Mapping[str, bytes]) -> CaseInfo:
        """Take in a verified case from elsewhere (import): its entries unchanged. The
        caller has verified chain and bytes."""
        first = entries[0]
        case = P.replay(entries)
        number = first.details["number"]
        for sha, data in artefacts.items():
            if self.artefacts.put(data) != sha:
                raise CaseError(f"artefact {sha[:12]} changed while importing")
        with session_scope(self._sessions) as s:
            if s.scalar(select(CaseRow.id).where(CaseRow.uid == first.case_uid)):
                raise CaseError(f"case {number} ({first.case_uid}) is already in this "
                                "store; nothing was imported")
            existing = self._number_in_use(s, number)
            if existing is not None:
                raise CaseError(f"another case already uses number {existing!r}"
                                + ("" if existing == number else f" (the same as {number!r}:"
                                   " capital letters do not make a new number)")
                                + "; nothing was imported")
            row = CaseRow(uid=first.case_uid, number=number)
            s.add(row)
            s.flush()
            for e in entries:
                self._insert_entry(s, row, e)
            return case.info

    # ---- verification --------------------------------------------------------------

    def verify(self, ref: str) -> VerifyResult:
        """Check the chain, the recorded head, every artefact's bytes, that the log
        replays, the case index, and that each inversion's source is the sketch version
        the log ties it to."""
        with session_scope(self._sessions) as s:
            row = self._case_row(s, ref)
            number, uid, head, count = row.number, row.uid, row.audit_head, row.audit_count
            entries = self._rows(s, row)
        problems = verify_chain(entries, uid, expected_head=head, expected_count=count)
        shas = sorted({a.sha256 for e in entries for a in e.artefacts})
        bad = {sha: p for sha in shas if (p := self.artefacts.check(sha))}
        problems += bad.values()
        try:
            case = P.replay(entries)
        except (P.ReplayError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"the audit log cannot be replayed: {exc!r}")
        else:
            if case.info.number != number:
                problems.append(f"the case index names this case {number!r} but its log "
                                f"says {case.info.number!r}: the index was edited")
            problems += check_sources(entries, self._safe_pixels, set(bad))
        return VerifyResult(number, len(entries), entries[-1].hash if entries else "",
                            len(shas), tuple(problems))

    def _safe_pixels(self, sha: str) -> str | None:
        try:
            return self.pixels(sha)
        except (FileNotFoundError, ValueError):
            return None


def check_sources(entries: Sequence[AuditEntry], pixels_of: Callable[[str], str | None],
                  damaged: set[str]) -> list[str]:
    """Pixels recomputed from the artefacts (`pixels_of(sha)`, None when unreadable): each
    version's recorded digest, and each inversion's tie to a sketch version (or to none)
    against the versions saved before it, so neither a false tie nor a hidden one passes,
    even in a log re-sealed with valid hashes. `damaged` artefacts are skipped (they are
    reported as changed already)."""
    problems: list[str] = []
    saved: list[tuple[int, str | None]] = []  # (version, pixels of its image)
    for e in entries:
        d, art = e.details, {a.role: a.sha256 for a in e.artefacts}
        if e.action == P.SKETCH_ADD and "sketch" in art:
            pixels = None if art["sketch"] in damaged else pixels_of(art["sketch"])
            saved.append((d.get("version"), pixels))
            if d.get("pixels_sha256") and pixels and pixels != d["pixels_sha256"]:
                problems.append(f"sketch version {d.get('version')}: its image's pixels "
                                "do not match the digest recorded with it")
        if e.action != P.INVERSION_ADD or "source" not in art or art["source"] in damaged:
            continue  # older records keep no source; damage is reported already
        pixels = pixels_of(art["source"])
        equal = [v for v, px in saved if px is not None and px == pixels]
        claimed = d.get("sketch_version")
        if claimed is None and equal:
            problems.append(f"inversion {d.get('number')} is recorded as of no saved "
                            f"sketch, but the image it consumed is sketch version "
                            f"{equal[-1]}")
        elif claimed is not None and claimed not in equal:
            problems.append(f"inversion {d.get('number')} is recorded as of sketch "
                            f"version {claimed}, but the image it consumed is a "
                            "different picture")
    return problems


def check_views(entries: Sequence[AuditEntry], view: dict[str, Any], what: str) -> list[str]:
    """Differences between a stored view of the case (a bundle's case.json) and a replay
    of its log."""
    try:
        expected = P.replay(entries).to_dict()
    except (P.ReplayError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return [f"the audit log cannot be replayed: {exc!r}"]
    return [f"{what} disagrees with the audit log at {d}" for d in P.diff(expected, view)]


__all__ = ["CaseError", "CaseStore", "CaseStoreError", "VerifyResult", "check_sources",
           "check_views"]
