"""Replay an audit log into the case it describes.

The log is the record; the database tables (and a bundle's case.json) are views of it
kept for queries. `replay()` rebuilds the view from the log alone, so verification can
compare the two and catch an edited table row or case.json that the chain cannot see.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from sketchlab.cases.audit import AuditEntry

CASE_CREATE = "case.create"
CASE_UPDATE = "case.update"
SKETCH_ADD = "sketch.add"
INVERSION_ADD = "inversion.add"
MATCH_ADD = "match.add"
CASE_EXPORT = "case.export"
CASE_IMPORT = "case.import"

HEADER_FIELDS = ("number", "title", "artist", "investigator", "witness_description", "status")
STATUSES = ("open", "closed", "archived")


class ReplayError(ValueError):
    """The log describes something impossible (e.g. an inversion of a missing sketch)."""


def _artefact(entry: AuditEntry, role: str) -> dict[str, Any] | None:
    for a in entry.artefacts:
        if a.role == role:
            return {"sha256": a.sha256, "media_type": a.media_type, "size": a.size}
    return None


def apply(snapshot: dict[str, Any] | None, entry: AuditEntry) -> dict[str, Any]:
    """The case after `entry` (a new dict; the input is not changed)."""
    d = entry.details
    if entry.action == CASE_CREATE:
        if snapshot is not None:
            raise ReplayError(f"seq {entry.seq}: the case is created twice")
        return {"uid": entry.case_uid, **{k: d.get(k, "") for k in HEADER_FIELDS},
                "created_at": entry.time, "created_by": entry.who, "updated_at": entry.time,
                "sketches": [], "inversions": [], "matches": []}
    if snapshot is None:
        raise ReplayError(f"seq {entry.seq}: {entry.action} before the case was created")
    s = copy.deepcopy(snapshot)
    s["updated_at"] = entry.time
    if entry.action == CASE_UPDATE:
        for k, v in d.get("changes", {}).items():
            if k not in HEADER_FIELDS:
                raise ReplayError(f"seq {entry.seq}: unknown case field {k!r}")
            s[k] = v
    elif entry.action == SKETCH_ADD:
        image = _artefact(entry, "sketch")
        strokes = _artefact(entry, "strokes")
        if image is None:
            raise ReplayError(f"seq {entry.seq}: sketch entry without an image")
        if d.get("version") != len(s["sketches"]) + 1:
            raise ReplayError(f"seq {entry.seq}: sketch version {d.get('version')} out of order")
        s["sketches"].append({
            "version": d["version"], "image_sha256": image["sha256"],
            "image_type": image["media_type"],
            "strokes_sha256": strokes["sha256"] if strokes else None,
            "note": d.get("note", ""), "width": d.get("width"), "height": d.get("height"),
            "author": entry.who, "created_at": entry.time})
    elif entry.action == INVERSION_ADD:
        photo, inp = _artefact(entry, "photo"), _artefact(entry, "input")
        if photo is None:
            raise ReplayError(f"seq {entry.seq}: inversion entry without a photo")
        if not 1 <= int(d.get("sketch_version", 0)) <= len(s["sketches"]):
            raise ReplayError(f"seq {entry.seq}: inversion of unknown sketch version "
                              f"{d.get('sketch_version')}")
        if d.get("number") != len(s["inversions"]) + 1:
            raise ReplayError(f"seq {entry.seq}: inversion {d.get('number')} out of order")
        s["inversions"].append({
            "number": d["number"], "sketch_version": d["sketch_version"],
            "photo_sha256": photo["sha256"], "input_sha256": inp["sha256"] if inp else None,
            "model_name": d.get("model_name", ""), "model_sha256": d.get("model_sha256", ""),
            "settings": d.get("settings", {}), "device": d.get("device", ""),
            "ms": d.get("ms"), "author": entry.who, "created_at": entry.time})
    elif entry.action == MATCH_ADD:
        inv = d.get("inversion")
        if inv is not None and not 1 <= int(inv) <= len(s["inversions"]):
            raise ReplayError(f"seq {entry.seq}: match of unknown inversion {inv}")
        if d.get("number") != len(s["matches"]) + 1:
            raise ReplayError(f"seq {entry.seq}: match run {d.get('number')} out of order")
        g = d.get("gallery", {})
        s["matches"].append({
            "number": d["number"], "inversion": inv,
            "gallery_location": g.get("location", ""),
            "gallery_fingerprint": g.get("fingerprint", ""), "gallery_size": g.get("size", 0),
            "threshold": d.get("threshold"), "k": d.get("k"),
            "candidates": [dict(c) for c in d.get("candidates", [])],
            "author": entry.who, "created_at": entry.time})
    elif entry.action in (CASE_EXPORT, CASE_IMPORT):
        pass  # chain-of-custody events; they change nothing in the case itself
    else:
        raise ReplayError(f"seq {entry.seq}: unknown action {entry.action!r}")
    return s


def replay(entries: Iterable[AuditEntry]) -> dict[str, Any]:
    snapshot: dict[str, Any] | None = None
    for entry in entries:
        snapshot = apply(snapshot, entry)
    if snapshot is None:
        raise ReplayError("the audit log is empty")
    return snapshot


def diff(expected: Any, actual: Any, path: str = "case") -> list[str]:
    """Where two snapshots disagree, as readable paths (first 20)."""
    out: list[str] = []

    def walk(a: Any, b: Any, p: str) -> None:
        if len(out) >= 20:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{p}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append(f"{p}: {len(b)} items, the log has {len(a)}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(x, y, f"{p}[{i}]")
        elif a != b:
            out.append(f"{p}: {b!r}, the log says {a!r}")

    walk(expected, actual, path)
    return out
