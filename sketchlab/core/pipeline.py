"""Sketch -> ranked candidates: the one match pipeline `sketchlab match`, the app's search,
`sketchlab case match` and the trainer's studies go through.

    result = match_sketch("sketch.png", inverter, Matcher(gallery), k=10)
    for c in result.candidates:   # Candidate: frozen, thread-safe
        c.rank, c.subject_name, c.distance, c.false_match_rate, c.stability, c.thumbnail

The stages, each a function of its own module:
  1. `core.preprocess.prepare_sketch`: the sketch in the canonical frame (`core.frame`);
  2. `core.query.sketch_query`: its variants inverted in one batch and embedded;
  3. the gallery's `snapshot()`: the nearest faces and a sample to read distances against;
  4. `core.calibration.score_rule`: what a distance means for this model and query kind;
  5. `rank`, below: candidates scored once, with their stability over the variants.

The gallery is passed in, as anything with `snapshot()` (`sketchlab.db.search.Matcher`
over a database), so this module holds no SQL and the trainer (which may import only
`sketchlab.core`) runs the same code. A snapshot is one search's fixed view: the index
as loaded at one gallery revision and each photo's details read at most once.

Candidates are investigative leads, not identifications. With a calibrated model each
carries its false-match rate (the share of non-mates that come as close), `score` is 1
minus it, and the threshold is set at a stated rate (`calibration.DEFAULT_FMR`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sketchlab.core.adapter import QueryAdapter, model_adapter
from sketchlab.core.calibration import (
    DEFAULT_FMR,
    GalleryNorm,
    ScoreCalibration,
    ScoreRule,
    fmr_phrase,
    gallery_norm,
    score_rule,
)
from sketchlab.core.drawn import DRAWN_MODEL, PENCIL, TWO_WAY, drawing_words, is_pair, pair
from sketchlab.core.matching import DEFAULT_THRESHOLD, distances
from sketchlab.core.model_catalog import read_calibration
from sketchlab.core.query import raw_weight_of, sketch_query
from sketchlab.core.search_rates import (
    DEFAULT_FPIR,
    SearchCalibration,
    SearchRule,
    reference_rank,
    search_rule,
)
from sketchlab.core.variants import ink_gamma_of

if TYPE_CHECKING:
    from sketchlab.core.imageio import ImageSource
    from sketchlab.core.inference import Inverter
    from sketchlab.core.preprocess import Prepared

NORM_SAMPLE = 20_000  # gallery faces a query's distance spread is measured on

Calibration = tuple[dict[str, ScoreCalibration], dict[str, Any]]  # model_catalog.read_calibration
Rule = ScoreRule | SearchRule  # the per-pair (1:1) or the whole-search (1:N) reading

ALIGNMENT_UNSURE = ("Alignment unsure: no face was found in the sketch, so it was fitted to "
                    "the outline of its strokes. Check the eyes and mouth against the guide "
                    "(import it in the app and correct the alignment) before relying on the "
                    "candidates.")

# "Unknown" is a valid answer: the same words in the CLI, the panel and the report.
NOTHING_PASSES = ("No candidate passes the threshold: the person may not be in this gallery. "
                  "The ranked faces are leads to review, not matches.")

# What a two-way search did, in the words the panel, the report and the case record use.
TWO_WAY_WORDS = ("Searched two ways: the synthesized photo against the gallery photos, and "
                 "the sketch as drawn against each gallery face drawn as a sketch.")

# The rate column of each reading: its heading, in short lines so that the column is no
# wider than its figures, and what it means in full.
RATE_COLUMNS: dict[str, tuple[str, str]] = {
    "1:N": ("Absent\nsearches\nthis close",
            "How often a search of a gallery this size, for someone who is not in it, finds "
            "a face this close (from the model's search calibration)"),
    "1:1": ("Non-mates\nthis close",
            "How many non-mates (other people) are this close to a sketch, from the model's "
            "calibration"),
}


@dataclass(frozen=True)
class PhotoInfo:
    """What a search shows of one gallery photo."""

    subject_id: int
    subject_name: str
    sha256: str
    source_path: str
    thumbnail: bytes | None = None


class GallerySnapshot(Protocol):
    """One search's fixed view of a gallery (see the module doc)."""

    def __len__(self) -> int: ...

    def sample(self, n: int) -> np.ndarray:
        """At most ~n descriptors evenly spread over the gallery."""

    def nearest(self, embedding: np.ndarray, k: int, distinct_subjects: bool = True
                ) -> list[tuple[int, float]]:
        """(photo id, distance) of the k nearest, one photo per subject when asked."""

    def photo_info(self, photo_ids: Sequence[int], thumbnails: bool = False
                   ) -> dict[int, PhotoInfo]:
        """Details of the photos still in the gallery."""


class Searchable(Protocol):
    def snapshot(self, drawing: str | None = None) -> GallerySnapshot:
        """The gallery as it is now; `drawing` (`core.drawn.Drawing.model`): the faces'
        drawings a two-way search compares the sketch with."""


@dataclass(frozen=True)
class Candidate:
    """One ranked gallery photo. `thumbnail` is the stored face JPEG (None if not asked)."""

    rank: int
    subject_id: int
    subject_name: str
    photo_id: int
    photo_sha256: str
    source_path: str
    distance: float
    score: float
    within_threshold: bool
    thumbnail: bytes | None = None
    false_match_rate: float | None = None  # 1:1 reading: share of non-mates this close
    stability: int | None = None  # of `n_variants` variant searches, how many had it in top k
    n_variants: int = 1
    fpir: float | None = None  # 1:N reading: share of absent-person searches this close

    def scored(self, rule: Rule) -> Candidate:
        """This candidate marked and scored by `rule` (its reading decides which rate)."""
        d = self.distance
        rate = rule.fmr(d)
        one_to_n = rule.reading == "1:N"
        return dataclasses.replace(self, score=rule.score(d), within_threshold=bool(
            d <= rule.threshold), false_match_rate=None if one_to_n else rate,
            fpir=rate if one_to_n else None)

    def as_json(self) -> dict[str, Any]:
        """The `sketchlab match --json` record."""
        out: dict[str, Any] = {
            "rank": self.rank, "subject": self.subject_name,
            "photo_sha256": self.photo_sha256, "distance": round(self.distance, 4),
            "score": round(self.score, 4), "within_threshold": self.within_threshold,
            "false_match_rate": (None if self.false_match_rate is None
                                 else float(f"{self.false_match_rate:.4g}"))}
        if self.fpir is not None:
            out["fpir"] = float(f"{self.fpir:.4g}")
        if self.stability is not None:
            out["stability"] = f"{self.stability}/{self.n_variants}"
        return out


@dataclass(frozen=True)
class MatchResult:
    """What a search found, with what it searched with (for display and the case file).

    `query`, `queries` and `gallery_url` are the caller's to fill (the app puts its
    on-screen inversion and one inversion per variant there for the case record)."""

    candidates: list[Candidate]
    kind: str  # the query kind: "single", "variants", "adapted" or "raw"
    sketch: np.ndarray | None  # the aligned sketch, canonical frame (None: a photo query)
    photo: np.ndarray | None  # the synthesized photo (None for a raw-sketch query)
    embedding: np.ndarray
    k: int
    invert_ms: float
    search_ms: float  # ranking the gallery
    gallery_size: int
    rule: Rule = dataclasses.field(default_factory=lambda: ScoreRule(DEFAULT_THRESHOLD))
    calibrations: dict[str, ScoreCalibration] = dataclasses.field(default_factory=dict)
    search_rates: dict[str, SearchCalibration] = dataclasses.field(default_factory=dict)
    variant_names: tuple[str, ...] = ()  # the readings of the sketch searched together
    variant_sketches: tuple[np.ndarray, ...] = ()  # their network inputs
    variant_photos: tuple[np.ndarray, ...] = ()
    raw_weight: float = 0.0
    ink_gamma: float = 1.0  # the shading reading of the inverted sketch (1.0: as drawn)
    empty: bool = False  # a blank sketch: nothing was searched (core.query.NOTHING_TO_SEARCH)
    query: Any = None
    queries: tuple[Any, ...] = ()
    gallery_url: str = ""
    total_ms: float = 0.0  # the whole search: align, invert the variants, embed, rank
    adapter_sha256: str = ""  # the query adapter that moved the descriptor ("" = none)
    alignment: str = ""  # how the sketch was put in the frame (`AlignTransform.method`)
    stages_ms: dict[str, float] = dataclasses.field(default_factory=dict)  # where time went
    reading_spread: float | None = None  # how closely the variants agreed (query.reading_spread)
    # the raw sketch's own descriptor: which hand's rates a hand-grouped table tells it
    raw_descriptor: np.ndarray | None = dataclasses.field(default=None, compare=False,
                                                          repr=False)
    two_way: bool = False  # each gallery face also drawn as a sketch and compared (core.drawn)
    drawing: str = ""  # how those faces were drawn (`core.drawn.Drawing.model`)
    # Faces that lack the model's drawing, when that alone kept the search one way (a
    # gallery enrolled before the model drew this way): drawing them makes it two-way.
    undrawn: int = 0

    @property
    def timing_text(self) -> str:
        """Where the search's time went, e.g. "0.42 s: align 30 ms, invert 140 ms, ..."."""
        parts = ", ".join(f"{name} {ms:.0f} ms" for name, ms in self.stages_ms.items())
        return f"{self.total_ms / 1000:.2f} s" + (f": {parts}" if parts else "")

    @property
    def alignment_unsure(self) -> bool:
        """No face landmarks were found: the frame was fitted to the strokes' outline."""
        return self.alignment == "ink_bbox"

    @property
    def threshold(self) -> float:
        return self.rule.threshold

    @property
    def calibration(self) -> str:
        """What the threshold means, in words (recorded with the match run), and the
        query adapter that moved the searched descriptor, if one did."""
        text = self.rule.describe()
        if self.two_way:
            text += " " + TWO_WAY_WORDS + " " + drawing_words(self.drawing or DRAWN_MODEL)
        if self.adapter_sha256:
            text += f" Query adapter {self.adapter_sha256[:12]} applied."
        return text

    @property
    def rate_heading(self) -> str:
        """The column heading of `rate_text` (in lines, as the panel shows it)."""
        return RATE_COLUMNS[self.rule.reading][0]

    @property
    def rate_meaning(self) -> str:
        """What the `rate_text` column says, in full (its heading's tooltip)."""
        return RATE_COLUMNS[self.rule.reading][1]

    def rate_text(self, c: Candidate, short: bool = False) -> str:
        """A candidate's rate in a few words ("–" when the reading states none); `short`
        for a table cell."""
        if c.fpir is not None:
            return f"{100 * c.fpir:.1f} %" if c.fpir >= 0.001 else "< 0.1 %"
        cal = getattr(self.rule, "calibration", None)
        if c.false_match_rate is None or cal is None:
            return "–"
        return fmr_phrase(c.false_match_rate, cal.min_fmr, short=short)

    def as_json(self) -> dict[str, Any]:
        """The `sketchlab match --json` record of the whole search."""
        reading = (self.rule.rates() if isinstance(self.rule, SearchRule)
                   else {"reading": "1:1", "gallery_size": self.gallery_size,
                         "threshold": round(self.rule.threshold, 4)})
        return {"query_kind": self.kind, "reading": reading, "calibration": self.calibration,
                "alignment": self.alignment, "alignment_unsure": self.alignment_unsure,
                "nothing_passes": self.nothing_passes, "adapter_sha256": self.adapter_sha256,
                "ink_gamma": self.ink_gamma, "two_way": self.two_way,
                "drawing": self.drawing if self.two_way else None,
                "undrawn_faces": self.undrawn,
                "candidates": [c.as_json() for c in self.candidates]}

    @property
    def nothing_passes(self) -> bool:
        """No candidate within the threshold: the person may not be in the gallery."""
        return bool(self.candidates) and not any(c.within_threshold for c in self.candidates)

    def rescored(self, fmr: float | None = DEFAULT_FMR, threshold: float | None = None,
                 fpir: float | None = DEFAULT_FPIR) -> MatchResult:
        """The same candidates under another rate or threshold (settings changed)."""
        rule = choose_rule(self.search_rates, self.calibrations, self.kind,
                           self.gallery_size, fpir, fmr, threshold, self.rule.norm,
                           self.rule.scale, self.reading_spread, self.raw_descriptor)
        return dataclasses.replace(self, rule=rule,
                                   candidates=[c.scored(rule) for c in self.candidates])


def norm(embedding: np.ndarray, snap: GallerySnapshot) -> GalleryNorm | None:
    """Mean and spread of the query's distances to the gallery (an even sample of at most
    NORM_SAMPLE faces): what the calibrated scores are read against. None for a two-way
    pair: its only reading is the model's two-way 1:N tables."""
    if is_pair(embedding):
        return None
    return gallery_norm(distances(embedding, snap.sample(NORM_SAMPLE)), len(snap))


def choose_rule(search: dict[str, SearchCalibration], calibrations: dict[str, ScoreCalibration],
                kind: str, size: int, fpir: float | None, fmr: float | None,
                threshold: float | None, gallery: GalleryNorm | None, scale: float = 1.0,
                spread: float | None = None, raw: np.ndarray | None = None) -> Rule:
    """The 1:N reading when the model has search rates for this kind of query (the
    threshold set at `fpir` for this gallery's size; its rates for sketches whose readings
    agree as `spread`, or drawn like the raw sketch's descriptor `raw`), else the per-pair
    reading."""
    rule = search_rule(search, kind, size, fpir, threshold, scale, spread, raw)
    if rule is not None:
        return rule
    return score_rule(calibrations, kind, fmr, threshold, gallery)


def rank(embedding: np.ndarray, snap: GallerySnapshot, k: int, *,
         calibrations: dict[str, ScoreCalibration] | None = None, kind: str = "single",
         fmr: float | None = DEFAULT_FMR, threshold: float | None = None,
         variant_embeddings: np.ndarray | None = None, distinct_subjects: bool = True,
         thumbnails: bool = True, search: dict[str, SearchCalibration] | None = None,
         fpir: float | None = DEFAULT_FPIR, spread: float | None = None,
         raw: np.ndarray | None = None
         ) -> tuple[list[Candidate], Rule]:
    """The k nearest gallery photos of `embedding`, scored by the rule for this gallery
    and query kind, each with its stability over `variant_embeddings` when given."""
    search = search or {}
    gnorm = None if kind in search else norm(embedding, snap)
    # Relative tables read distances against the k-th nearest person (one photo per person,
    # as they were measured, so a person with many photos cannot crowd out their own mark):
    # one search long enough for both when the list shows people too.
    ref = reference_rank(search, kind)
    near = snap.nearest(embedding, max(k, ref), distinct_subjects)
    people = near if distinct_subjects or not ref else snap.nearest(embedding, ref, True)
    scale = float(people[min(ref, len(people)) - 1][1]) if ref and people else 1.0
    rule = choose_rule(search, calibrations or {}, kind, len(snap), fpir, fmr, threshold, gnorm,
                       scale, spread, raw)
    chosen = near[:k]
    info = snap.photo_info([p for p, _ in chosen], thumbnails=thumbnails)
    tops: list[set[int]] = []
    if variant_embeddings is not None:
        for e in variant_embeddings:
            near = snap.nearest(e, k, distinct_subjects)
            if distinct_subjects:
                found = snap.photo_info([p for p, _ in near])
                tops.append({found[p].subject_id for p, _ in near if p in found})
            else:
                tops.append({p for p, _ in near})
    out: list[Candidate] = []
    for r, (pid, d) in enumerate(chosen, 1):
        if pid not in info:  # removed in the meantime
            continue
        i = info[pid]
        key = i.subject_id if distinct_subjects else pid
        c = Candidate(r, i.subject_id, i.subject_name, pid, i.sha256, i.source_path, float(d),
                      0.0, False, i.thumbnail if thumbnails else None,
                      stability=sum(key in t for t in tops) if tops else None,
                      n_variants=len(tops) or 1)
        out.append(c.scored(rule))
    return out, rule


@dataclass(frozen=True)
class QueryPlan:
    """How a sketch is searched: the query kind its calibration is read for, how many
    variants are inverted, the raw sketch's share of the descriptor and the adapter."""

    kind: str  # "single", "variants", "adapted" or "raw"
    variants: int
    raw_weight: float
    adapter: QueryAdapter | None
    ink_gamma: float = 1.0  # the shading reading of what is inverted (1.0: as drawn)


def plan_query(inverter: Inverter | None, fields: dict[str, Any], *, raw: bool = False,
               variants: int | None = None, adapter: bool = True) -> QueryPlan:
    """The search `match_sketch` runs for this model (its calibration `fields`): as many
    variants as it was calibrated with unless told, the raw sketch's weight that went
    with them, and the model's query adapter when several variants are searched."""
    if raw:
        return QueryPlan("raw", 1, 0.0, None)
    n = int(variants if variants is not None else fields.get("variants", 1))
    w = raw_weight_of(fields) if n > 1 else 0.0
    gamma = ink_gamma_of(fields)
    if n <= 1:
        return QueryPlan("single", n, w, None, gamma)
    moved = (model_adapter(inverter.model.metadata, inverter.model.sha256)
             if adapter and inverter is not None else None)
    return QueryPlan("adapted" if moved is not None else "variants", n, w, moved, gamma)


def match_sketch(sketch: ImageSource | Prepared, inverter: Inverter | None,
                 gallery: Searchable, k: int = 10, threshold: float | None = None,
                 raw: bool = False, *, fmr: float | None = DEFAULT_FMR,
                 fpir: float | None = DEFAULT_FPIR,
                 variants: int | None = None, calibration: Calibration | None = None,
                 distinct_subjects: bool = True, thumbnails: bool = True,
                 adapter: bool = True) -> MatchResult:
    """Align the sketch, invert it (unless `raw`) as `variants` plausible readings (default:
    as many as the model's calibration was measured with, else one), embed with the known
    canonical face box, move the descriptor with the model's query adapter (when it has
    one, `adapter` is on and several variants are searched), rank the gallery, and score
    candidates by the model's calibration for this kind of query. An explicit `threshold`
    (a distance) overrides the threshold set at `fpir` (the model's 1:N search rates for
    this gallery size) or, for a model without them, at `fmr`. `calibration` is (kinds, fields)
    from `model_catalog.read_calibration`; by default it is read from the inverter's
    model file. `inverter` may be None only for a raw query."""
    t0 = time.perf_counter()
    if calibration is None:
        calibration = read_calibration(inverter.model.path) if inverter else ({}, {})
    kinds, fields = calibration
    plan = plan_query(inverter, fields, raw=raw, variants=variants, adapter=adapter)
    kind = plan.kind
    q = sketch_query(sketch, inverter, raw=raw, variants=plan.variants,
                     raw_weight=plan.raw_weight, adapter=plan.adapter,
                     ink_gamma=plan.ink_gamma)
    spread = q.spread  # how closely the variants agreed: the reading's "sketches like this"
    drawing = fields.get("drawing", PENCIL)  # the drawings the two-way rates were read with
    # (re)loads the index outside the timed search
    snap = gallery.snapshot(drawing.model if drawing is not None else None)
    search = fields.get("search") or {}
    embedding, variant_embeddings = q.embedding, q.variant_embeddings
    # Two ways when the gallery has every face's drawing and the model has the rates of
    # that search: the raw sketch's descriptor goes with the searched one (core.drawn).
    raw_descriptor = q.embedding if raw else q.raw_embedding
    two = (drawing is not None and getattr(snap, "drawing", DRAWN_MODEL) == drawing.model
           and bool(getattr(snap, "two_way", False)) and kind + TWO_WAY in search
           and raw_descriptor is not None)
    if two:
        kind += TWO_WAY
        embedding = pair(q.embedding, raw_descriptor)
        if variant_embeddings is not None:
            variant_embeddings = pair(variant_embeddings,
                                      np.broadcast_to(raw_descriptor, variant_embeddings.shape))
    base = {"kind": kind, "sketch": q.prepared.image, "photo": q.photo,
            "embedding": q.embedding, "k": k, "invert_ms": q.invert_ms,
            "gallery_size": len(snap), "calibrations": kinds, "search_rates": search,
            "alignment": q.prepared.transform.method, "stages_ms": dict(q.stages_ms),
            "reading_spread": spread, "raw_descriptor": raw_descriptor,
            "ink_gamma": plan.ink_gamma, "two_way": two,
            "drawing": drawing.model if two and drawing is not None else "",
            "undrawn": 0 if two or drawing is None or kind + TWO_WAY not in search
            else int(getattr(snap, "missing_drawings", 0))}
    if q.prepared.empty:
        rule = ScoreRule(DEFAULT_THRESHOLD if threshold is None else threshold)
        return MatchResult([], search_ms=0.0, rule=rule, empty=True,
                           total_ms=(time.perf_counter() - t0) * 1000, **base)
    t1 = time.perf_counter()
    cands, rule = rank(embedding, snap, k, calibrations=kinds, kind=kind, fmr=fmr,
                       threshold=threshold, search=search, fpir=fpir,
                       variant_embeddings=variant_embeddings, spread=spread,
                       raw=raw_descriptor,
                       distinct_subjects=distinct_subjects, thumbnails=thumbnails)
    t2 = time.perf_counter()
    base["stages_ms"]["rank"] = (t2 - t1) * 1000
    return MatchResult(cands, search_ms=(t2 - t1) * 1000, rule=rule,
                       variant_names=q.variant_names, variant_sketches=q.variant_sketches,
                       variant_photos=q.variant_photos, raw_weight=q.raw_weight,
                       total_ms=(t2 - t0) * 1000, adapter_sha256=q.adapter_sha256, **base)
