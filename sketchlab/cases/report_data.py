"""Everything a case report shows, gathered without Qt, so any PDF engine can render it.

The renderer (sketchlab/report/pdf.py) only lays out what is here; what the report says
(which sketch, which photo, which candidates, the caution) is decided in this module.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
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
class SearchReport:
    """One search of the case as the report shows it: its query images (the exact ones
    the inversion consumed and produced) and its candidates."""

    match: MatchRun | None  # None: an inversion that was never searched with
    inversion: Inversion | None
    sketch: SketchVersion | None  # the saved version the source equals, if any
    source_image: bytes | None
    input_image: bytes | None
    photo_image: bytes | None
    thumbnails: dict[str, bytes]
    variants: tuple[tuple[Inversion, bytes | None], ...] = ()


@dataclass(frozen=True)
class ReportData:
    """What the report shows. The images are the exact ones the reported inversion
    consumed and produced, each named by its own hash; `sketch` is the saved version the
    source equals (None when it was never saved), never a "nearest" version."""

    case: CaseFile
    sketch: SketchVersion | None
    source_image: bytes | None  # the image the inversion consumed (canvas snapshot, file)
    input_image: bytes | None  # the network input made from it (aligned), as inverted
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
    # further photos the reported search used (sketch variants): (inversion, photo)
    variants: tuple[tuple[Inversion, bytes | None], ...] = field(default_factory=tuple)
    # every search of the case, oldest first, each with its own query images (the
    # fields above repeat the latest, for readers of one search)
    searches: tuple[SearchReport, ...] = field(default_factory=tuple)


def summarise(action: str, details: dict) -> str:
    if action == "case.create":
        return f"case {details.get('number', '')} opened"
    if action == "case.update":
        return "changed " + ", ".join(f"{k} -> {v!s}" for k, v in
                                      details.get("changes", {}).items())
    if action == "sketch.add":
        note = f": {details['note']}" if details.get("note") else ""
        return f"sketch version {details.get('version')}{note}"
    if action == "inversion.add":
        version = details.get("sketch_version")
        of = f"sketch v{version}" if version is not None else "the canvas (not a saved version)"
        variant = " (a variant)" if details.get("variant") else ""
        return (f"inversion {details.get('number')} of {of}{variant}"
                f" with {details.get('model_name', '?')} "
                f"({str(details.get('model_sha256', ''))[:12]}) on {details.get('device', '?')}")
    if action == "match.add":
        g = details.get("gallery", {})
        used = details["inversions"] if "inversions" in details else (
            [details["inversion"]] if details.get("inversion") is not None else [])
        photos = (f" with the photo of inversion {used[0]}" if len(used) == 1 else
                  f" with the photos of inversions {', '.join(map(str, used))}" if used else "")
        return (f"match run {details.get('number')}{photos}: "
                f"{len(details.get('candidates', []))} candidates from a gallery of "
                f"{g.get('size', '?')}")
    if action == "case.export":
        return f"exported to {details.get('file', '?')}"
    if action == "photo.export":
        scaled = (f", upscaled {details['upscale_factor']}x"
                  if (details.get("upscale_factor") or 1) > 1 else "")
        of = (f" of inversion {details['inversion']}" if details.get("inversion") is not None
              else "")
        return (f"photo{of} exported to {details.get('file', '?')}{scaled} "
                f"(sha256 {str(details.get('sha256', ''))[:12]})")
    if action == "note.add":
        return f"note: {details.get('text', '')}"
    if action == "candidate.exclude":
        return (f"excluded candidate #{details.get('rank')} {details.get('subject', '')} of "
                f"search {details.get('match')}: {details.get('reason', '')}")
    if action == "case.import":
        return f"imported from {details.get('file', '?')}"
    return action


# What a report reader needs from a model card: what the model is and how well it does.
# Not its limitations or status sections, which in the lab's card mix caveats with notes
# for the next training run; the report's own caution states the caveat that matters.
CARD_SECTIONS = ("what it is", "how well", "summary", "evaluation", "metric", "caveat")


def card_summary(markdown: str, max_chars: int = 6000) -> str:
    """The parts of a model card a report reader needs (Markdown): the opening lines and
    the summary, evaluation, limitation and status sections, whole; no images, commands
    or raw JSON (code blocks run off a printed page). Sections that would not fit are
    named at the end rather than cut mid-way."""
    sections: list[tuple[str, list[str]]] = [("intro", [])]
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith("!["):
            continue
        if line.startswith("# "):
            continue  # the title is the model name, shown anyway
        if line.startswith("## "):
            sections.append((line[3:].strip(), ["#### " + line[3:]]))  # under "Model"
            continue
        sections[-1][1].append(line)
    keep: list[str] = []
    left_out: list[str] = []
    for name, lines in sections:
        if name != "intro" and not any(k in name.lower() for k in CARD_SECTIONS):
            continue
        block = "\n".join(lines).strip()
        if not block:
            continue
        if keep and sum(len(b) for b in keep) + len(block) > max_chars:
            left_out.append(name)
            continue
        keep.append(block)
    text = "\n\n".join(keep)
    if left_out:
        text += ("\n\n*Not reproduced here for length: " + ", ".join(left_out) + ".*")
    about = "*The model card (SketchLab's Help › About) gives its training data and limitations.*"
    return f"{text}\n\n{about}"


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


def reported_search(case: CaseFile) -> MatchRun | None:
    """The latest search whose query photos are recorded (older logs could record a
    search without one; such a search is not reported)."""
    return next((m for m in reversed(case.matches) if m.inversions), None)


def build_report_data(store: CaseStore, case: CaseFile, verification: VerifyResult,
                      max_audit_lines: int = 60) -> ReportData:
    """The latest search of recorded photos, with the exact images of the inversion(s) it
    searched (else the latest inversion), plus the audit summary."""
    from sketchlab.cases.store import current_user, utc_now

    match = reported_search(case)
    used = [case.inversion(n) for n in match.inversions] if match else []
    inversion = used[0] if used else case.latest_inversion
    sketch = (case.sketch(inversion.sketch_version)
              if inversion and inversion.sketch_version is not None else None)

    def blob(sha: str | None) -> bytes | None:
        return store.artefacts.read(sha) if sha and store.artefacts.has(sha) else None

    searches = tuple(search_report(case, m, blob) for m in case.matches if m.inversions)

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
        case=case, sketch=sketch,
        source_image=blob(inversion.source_sha256) if inversion else None,
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
        notes=tuple(notes),
        variants=tuple((inv, blob(inv.photo_sha256)) for inv in used[1:]),
        searches=searches)


def search_report(case: CaseFile, match: MatchRun,
                  blob: Callable[[str | None], bytes | None]) -> SearchReport:
    """A search with the images of the inversion(s) it searched, read through `blob`."""
    used = [inv for n in match.inversions if (inv := case.inversion(n)) is not None]
    inv = used[0] if used else None
    sketch = (case.sketch(inv.sketch_version)
              if inv is not None and inv.sketch_version is not None else None)
    thumbs = {c.thumbnail_sha256: b for c in match.candidates
              if c.thumbnail_sha256 and (b := blob(c.thumbnail_sha256)) is not None}
    return SearchReport(
        match=match, inversion=inv, sketch=sketch,
        source_image=blob(inv.source_sha256) if inv else None,
        input_image=blob(inv.input_sha256) if inv else None,
        photo_image=blob(inv.photo_sha256) if inv else None, thumbnails=thumbs,
        variants=tuple((v, blob(v.photo_sha256)) for v in used[1:]))
