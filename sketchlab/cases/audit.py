"""The audit chain: an append-only log per case in which every entry hashes its predecessor.

An entry's hash is the SHA-256 of the canonical JSON of all its fields plus the case's
UID and the previous entry's hash, so editing, dropping, inserting or reordering any
entry breaks every hash after it, and an entry cannot be moved to another case. The
chain alone cannot see entries cut from the *end*; the head hash and entry count kept
with the case (and in a bundle's manifest, and printed in the PDF report) catch that.

Without a secret key anyone able to rewrite the whole log can recompute the chain: this
makes tampering evident against an honest head hash held elsewhere (the printed report,
a colleague's copy), it does not prevent it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

GENESIS = "0" * 64
HASH_FIELDS = ("case_uid", "seq", "time", "who", "action", "details", "artefacts", "prev_hash")


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text, no NaN/Infinity."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def plain(obj: Any) -> Any:
    """Convert numpy scalars, tuples and NaN to JSON-safe values before hashing."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass(frozen=True)
class Artefact:
    """A file an entry touched, by content: role says what it is for the case."""

    role: str  # "sketch", "strokes", "photo", "input", "thumbnail", "bundle", ...
    sha256: str
    media_type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artefact:
        return cls(role=str(d["role"]), sha256=str(d["sha256"]),
                   media_type=str(d["media_type"]), size=int(d["size"]))


@dataclass(frozen=True)
class AuditEntry:
    case_uid: str
    seq: int
    time: str  # UTC ISO 8601
    who: str
    action: str
    details: dict[str, Any]
    artefacts: tuple[Artefact, ...] = field(default_factory=tuple)
    prev_hash: str = GENESIS
    hash: str = ""

    def hashed_content(self) -> dict[str, Any]:
        return {"case_uid": self.case_uid, "seq": self.seq, "time": self.time, "who": self.who,
                "action": self.action, "details": self.details,
                "artefacts": [a.to_dict() for a in self.artefacts],
                "prev_hash": self.prev_hash}

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_content()).encode()).hexdigest()

    def sealed(self) -> AuditEntry:
        return AuditEntry(**{**self.__dict__, "hash": self.compute_hash()})

    def to_dict(self) -> dict[str, Any]:
        return {**self.hashed_content(), "hash": self.hash}

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditEntry:
        missing = [k for k in (*HASH_FIELDS, "hash") if k not in d]
        if missing:
            raise ValueError(f"audit entry lacks {', '.join(missing)}")
        return cls(case_uid=str(d["case_uid"]), seq=int(d["seq"]), time=str(d["time"]),
                   who=str(d["who"]), action=str(d["action"]), details=dict(d["details"]),
                   artefacts=tuple(Artefact.from_dict(a) for a in d["artefacts"]),
                   prev_hash=str(d["prev_hash"]), hash=str(d["hash"]))


def seal_next(previous: AuditEntry | None, case_uid: str, time: str, who: str, action: str,
              details: dict[str, Any], artefacts: Iterable[Artefact] = ()) -> AuditEntry:
    """The entry that follows `previous` (None for a case's first entry), hash filled in."""
    return AuditEntry(case_uid=case_uid, seq=(previous.seq + 1) if previous else 1, time=time,
                      who=who, action=action, details=plain(details),
                      artefacts=tuple(artefacts),
                      prev_hash=previous.hash if previous else GENESIS).sealed()


def verify_chain(entries: Sequence[AuditEntry], case_uid: str,
                 expected_head: str | None = None, expected_count: int | None = None
                 ) -> list[str]:
    """Every way the chain is broken, as readable lines; empty when it is intact.

    Checks each entry's own hash (edits), its link to the one before (drops, inserts,
    reorders), the sequence numbers, the case it belongs to, and the recorded head and
    length (entries cut from the end).
    """
    problems: list[str] = []
    prev_hash = GENESIS
    for i, e in enumerate(entries, start=1):
        where = f"audit entry #{i} (seq {e.seq}, {e.action})"
        if e.case_uid != case_uid:
            problems.append(f"{where} belongs to another case ({e.case_uid})")
        if e.seq != i:
            problems.append(f"{where}: expected seq {i}: an entry was removed, inserted "
                            "or moved")
        try:
            intact = e.compute_hash() == e.hash
        except (ValueError, TypeError):  # e.g. NaN smuggled into the details
            intact = False
        if not intact:
            problems.append(f"{where}: content does not match its hash: the entry was edited")
        if e.prev_hash != prev_hash:
            problems.append(f"{where}: does not follow the entry before it (prev_hash "
                            f"{e.prev_hash[:12]} != {prev_hash[:12]}): entries were removed "
                            "or reordered")
        prev_hash = e.hash
    if expected_count is not None and expected_count != len(entries):
        problems.append(f"the log has {len(entries)} entries but {expected_count} were "
                        "recorded: entries were removed or added")
    head = entries[-1].hash if entries else GENESIS
    if expected_head is not None and expected_head != head:
        problems.append(f"the last entry's hash {head[:12]} is not the recorded head "
                        f"{expected_head[:12]}: the end of the log was changed")
    return problems
