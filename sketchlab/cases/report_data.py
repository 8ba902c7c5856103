"""Everything a case report shows, gathered without Qt, so any PDF engine can render it.

The renderer (sketchlab/report/pdf.py) only lays out what is here; what the report says
(which sketch, which photo, which candidates, the caution) is decided in this module.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sketchlab import __version__
from sketchlab.cases.records import CaseFile, Inversion, MatchRun, SketchVersion

if TYPE_CHECKING:
    from sketchlab.cases.store import CaseStore, VerifyResult

log = logging.getLogger(__name__)

CAUTION = (
    "Candidates are investigative leads, not identifications. The synthesized photo is a "
    "machine rendering of an artist's sketch, not an image of any real person, and a high "
    "score means visual similarity to that rendering only. No candidate may be treated as "
    "a suspect, or shown to a witness, on the strength of this report alone; any lead must "
    "be corroborated by independent evidence under your agency's identification procedures.")


@dataclass(frozen=True)
class AuditLine:
    seq: int
    time: str
    who: str
    action: str
    summary: str
    hash: str


@dataclass(frozen=True)
class ReportData:
    case: CaseFile
    sketch: SketchVersion | None
    sketch_image: bytes | None  # the version as given (scan, canvas export)
    input_image: bytes | None  # the same sketch aligned to the network's frame, as inverted
    inversion: Inversion | None
    photo_image: bytes | None
    match: MatchRun | None
    thumbnails: dict[str, bytes]
    model_summary: str  # Markdown
    audit_lines: tuple[AuditLine, ...]
    audit_head: str
    audit_count: int
    action_counts: dict[str, int]
    people: tuple[str, ...]
    verified: bool
    problems: tuple[str, ...]
    generated_at: str
    generated_by: str
    app_version: str = __version__
    caution: str = CAUTION
    notes: tuple[str, ...] = field(default_factory=tuple)


def summarise(action: str, details: dict) -> str:
    if action == "case.create":
        return f"case {details.get('number', '')} opened"
    if action == "case.update":
        return "changed " + ", ".join(f"{k} -> {v!s:.40}" for k, v in
                                      details.get("changes", {}).items())
    if action == "sketch.add":
        note = f": {details['note']}" if details.get("note") else ""
        return f"sketch version {details.get('version')}{note}"
    if action == "inversion.add":
        return (f"inversion {details.get('number')} of sketch v{details.get('sketch_version')}"
                f" with {details.get('model_name', '?')} "
                f"({str(details.get('model_sha256', ''))[:12]}) on {details.get('device', '?')}")
    if action == "match.add":
        g = details.get("gallery", {})
        return (f"match run {details.get('number')}: {len(details.get('candidates', []))} "
                f"candidates from a gallery of {g.get('size', '?')}")
    if action == "case.export":
        return f"exported to {details.get('file', '?')}"
    if action == "case.import":
        return f"imported from {details.get('file', '?')}"
    return action


CARD_SECTIONS = ("summary", "evaluation", "metric", "limitation", "status", "caveat")


def card_summary(markdown: str, max_chars: int = 4000) -> str:
    """The parts of a model card a report reader needs (Markdown): the opening lines and
    the summary, evaluation, limitation and status sections; no images or commands."""
    keep: list[str] = []
    section = "intro"
    for line in markdown.splitlines():
        if line.startswith("# "):
            continue  # the title is the model name, shown anyway
        if line.startswith("## "):
            section = line[3:].strip().lower()
            line = "#### " + line[3:]  # under the report's own "Model" heading
        if (section == "intro" or any(k in section for k in CARD_SECTIONS)) \
                and not line.lstrip().startswith("!["):
            keep.append(line)
    text = "\n".join(keep).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rsplit("\n", 1)[0] + "\n\n[... see the full model card]"
    return text


def model_summary(model_sha256: str, model_name: str) -> str:
    """A summary (Markdown) of the card of the installed model with this weights hash."""
    try:
        from sketchlab.core.model_catalog import list_models

        models = list_models()
    except Exception as exc:  # a broken model folder must not stop a report
        log.warning("cannot list models for the report: %s", exc)
        models = []
    for m in models:
        if m.sha256 == model_sha256:
            return card_summary(m.card_text()) or m.summary or f"{m.name}: no model card."
    return (f"Model {model_name!r} with this hash is not installed on the machine that wrote "
            "this report, so its card is not reproduced; the hash identifies the weights.")


def build_report_data(store: CaseStore, case: CaseFile, verification: VerifyResult,
                      max_audit_lines: int = 60) -> ReportData:
    """The latest inversion, its sketch and the latest match run, plus the audit summary."""
    from sketchlab.cases.store import current_user, utc_now

    inversion = case.latest_inversion
    sketch = case.sketch(inversion.sketch_version if inversion else None)
    match = case.latest_match

    def blob(sha: str | None) -> bytes | None:
        return store.artefacts.read(sha) if sha and store.artefacts.has(sha) else None

    thumbs = {c.thumbnail_sha256: b for c in (match.candidates if match else ())
              if c.thumbnail_sha256 and (b := blob(c.thumbnail_sha256)) is not None}
    entries = store.entries(case.info.uid)
    lines = tuple(AuditLine(e.seq, e.time, e.who, e.action, summarise(e.action, e.details),
                            e.hash) for e in entries)
    notes = []
    if len(lines) > max_audit_lines:
        notes.append(f"Showing the last {max_audit_lines} of {len(lines)} audit entries; "
                     "the bundle's audit.jsonl holds all of them.")
        lines = lines[-max_audit_lines:]
    return ReportData(
        case=case, sketch=sketch, sketch_image=blob(sketch.image_sha256) if sketch else None,
        input_image=blob(inversion.input_sha256) if inversion else None,
        inversion=inversion,
        photo_image=blob(inversion.photo_sha256) if inversion else None,
        match=match, thumbnails=thumbs,
        model_summary=(model_summary(inversion.model_sha256, inversion.model_name)
                       if inversion else ""),
        audit_lines=lines, audit_head=entries[-1].hash if entries else "",
        audit_count=len(entries), action_counts=dict(Counter(e.action for e in entries)),
        people=tuple(sorted({e.who for e in entries})), verified=verification.ok,
        problems=verification.problems, generated_at=utc_now(), generated_by=current_user(),
        notes=tuple(notes))
