"""What a search of N faces means: rates of the whole search, not of one comparison.

A search compares the sketch with every face in the gallery, so the question an
investigator asks is not "how often is one stranger this close" (a per-pair false-match
rate, which a gallery of thousands turns into near-certain false hits) but, as NIST's 1:N
evaluations put it, at this gallery size:

- FPIR: how often a search for someone who is NOT in the gallery still marks a candidate;
- how often a search for someone who IS there marks them (1 - FNIR), within the list shown;
- how far down the list the true person usually is (top 1 / 10 / 50).

A `SearchCalibration` holds these, for one kind of query of one model, as tables over a
grid of distance thresholds and gallery sizes (100 .. 1M faces). They are measured by
`python -m trainer search-rates` with mated and non-mated searches of train sketches only
(the person's photos left out of the gallery for the non-mated ones) and stored in the
model file (`search_calibration`). Between the tabled sizes rates are interpolated in
log(size); beyond them the nearest size is used and the text says so.

The default threshold of a search is the distance at which an absent person's search
marks a candidate at most `DEFAULT_FPIR` of the time at the searched gallery's size.

Relative tables (`reference_rank` k > 0) read a distance against the search's own k-th
nearest person: a candidate is marked when it is clearly nearer than the others the
sketch lands among, so only the first k - 1 can be marked. How close strangers come
depends on where a sketch lands (a CUFS sketch among CUFS photos has near look-alikes, an
FS2K sketch does not), so one distance threshold marks absent people 5-10x more often for
one kind of sketch than another. The ratio to the next person (k = 2) does not depend on
that: at the stated 5 %, CUFS and FS2K test searches for absent people marked a
candidate 2.3-4.7 % of the time at 1k, 13k and 1M faces, where the 10th person's marked
CUFS ones 14 % at 1k (a few look-alikes in a crowd of strangers stand out from it).

"Sketches like this." How often a present person is marked, and how far down the list
they are, depend on how the sketch is drawn: CUFS test sketches had their person in the
top 10 in 91 % of searches, FS2K ones in 47 %, and FS2K's three styles differ as much
among themselves. Where a model's tables hold them, these rates are also stated by group,
and a search is told the figures of its own group. Groups are cut one of two ways: by
how closely the sketch's readings agree (`core.query.reading_spread`, cut at the train
searches' quartiles; the bundled model's tables), or by the hand the raw sketch's own
descriptor lies nearest (`hand_centroids`: the mean descriptor of each train set's
sketches, FS2K by style; `search-rates --groups hand`). The FPIR, and so the threshold,
stays one table: it is about strangers.

"An artist the model never saw." The train sketches the tables are read from were drawn
by the artists the model trained on, and a search is as likely to hold a new artist's
sketch. Where the model file holds them, the same rates read off the hand-drawn train
sketches through generators of the same recipe trained without their set (each with its
own query adapter, fitted without it too) are stored as their own kind, `kind +
UNSEEN_ARTIST`, and a search states both at its one threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sketchlab.core.calibration import dump_tables, load_tables

DEFAULT_FPIR = 0.05  # a search for someone absent marks a candidate at most 1 time in 20
LIST_LENGTH = 10  # "marked" means within the threshold and within the top this-many
METADATA_KEY = "search_calibration"
UNSEEN_ARTIST = "@unseen-artist"  # the kind of the same rates for an artist never seen
_MAX_JSON = 4 << 20


class SearchCalibrationError(ValueError):
    """A stored search calibration is malformed (model-file metadata is untrusted)."""


def interp_size(table: np.ndarray, sizes: np.ndarray, n: int) -> np.ndarray:
    """Row of `table` (sizes x ...) at gallery size n, linear in log(size), clamped."""
    x = math.log(max(n, 1))
    xs = np.log(sizes)
    if x <= xs[0]:
        return table[0]
    if x >= xs[-1]:
        return table[-1]
    i = int(np.searchsorted(xs, x)) - 1
    f = (x - xs[i]) / (xs[i + 1] - xs[i])
    return (1 - f) * table[i] + f * table[i + 1]


def spread_groups(edges: np.ndarray, spread: np.ndarray | float) -> np.ndarray:
    """The group of each spread (0 = the readings agree most) between `edges`: the one
    rule by which the tables are measured and a search is told its figures."""
    return np.searchsorted(edges, spread, side="right")


def hand_groups(centroids: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The group of each raw sketch descriptor ((128,) or (Q, 128)): the hand (row of
    (G, 128) `centroids`) it lies nearest. The one rule by which hand-grouped tables are
    measured and a search is told its figures."""
    r = np.asarray(raw, np.float64)
    d = np.linalg.norm(r[..., None, :] - np.asarray(centroids, np.float64), axis=-1)
    return np.argmin(d, axis=-1)


@dataclass(frozen=True)
class SearchCalibration:
    """Rates of one query kind by gallery size (rows) and distance threshold (columns)."""

    query: str  # the query kind (core.calibration.QUERY_KINDS), + core.drawn.TWO_WAY if two-way
    sizes: np.ndarray  # (S,) increasing gallery sizes
    thresholds: np.ndarray  # (T,) increasing distances
    fpir: np.ndarray  # (S, T): non-mated searches with any face within the threshold
    tpir: np.ndarray  # (S, T): mated searches whose mate is within it and in the top list
    hit_rates: np.ndarray  # (S, 3): mate at rank 1, within 10, within 50 (no threshold)
    n_mated: int
    n_nonmated: int
    source: str  # which searches, in words
    # 0: thresholds are distances; k > 0: ratios of a distance to the search's k-th
    # nearest person (`SearchRule.scale`).
    reference_rank: int = 0
    # Optional, by how closely a sketch's readings agree (`core.query.reading_spread`):
    # the group edges (G - 1,), and the present-person rates of each group.
    spread_edges: np.ndarray | None = None
    tpir_by_spread: np.ndarray | None = None  # (S, G, T): the present-person rates by group
    hits_by_spread: np.ndarray | None = None  # (S, G, 3), whichever way the groups are cut
    # Or groups by hand (instead of spread_edges): the (G, 128) mean raw-sketch descriptor
    # of each hand's train searches and its name, e.g. "FS2K style 0".
    hand_centroids: np.ndarray | None = None
    hand_names: tuple[str, ...] = ()

    def spread_group(self, spread: float | None) -> int | None:
        """The group (0 = the readings agree most) a search's spread falls in, or None
        when the tables are not grouped by spread or the search has no spread."""
        if self.spread_edges is None or spread is None or not math.isfinite(spread):
            return None
        return int(spread_groups(self.spread_edges, spread))

    def hand_group(self, raw: np.ndarray | None) -> int | None:
        """The hand a search's raw sketch descriptor lies nearest, or None when the tables
        are not grouped by hand or the search has no raw descriptor."""
        if self.hand_centroids is None or raw is None:
            return None
        r = np.asarray(raw, np.float64)
        if r.shape != (self.hand_centroids.shape[1],) or not np.isfinite(r).all():
            return None
        return int(hand_groups(self.hand_centroids, r))

    def group(self, spread: float | None = None, raw: np.ndarray | None = None) -> int | None:
        """The group of "sketches like this" a search falls in (None: pooled figures)."""
        if self.hand_centroids is not None:
            return self.hand_group(raw)
        return self.spread_group(spread)

    def groups_of(self, spread: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
        """`group` of many searches ((Q,) spreads, (Q, 128) raw descriptors), None when the
        tables are not grouped."""
        if self.hand_centroids is not None:
            return hand_groups(self.hand_centroids, raw)
        if self.spread_edges is not None:
            return spread_groups(self.spread_edges, spread)
        return None

    @property
    def n_groups(self) -> int:
        return 0 if self.tpir_by_spread is None else int(self.tpir_by_spread.shape[1])

    def group_name(self, g: int) -> str:
        return self.hand_names[g] if self.hand_names else f"spread group {g + 1}"

    def within_range(self, n: int) -> bool:
        return bool(self.sizes[0] <= n <= self.sizes[-1])

    def fpir_at(self, distance: float, n: int) -> float:
        """Share of absent-person searches of n faces with some face this close."""
        row = interp_size(self.fpir, self.sizes, n)
        return float(np.interp(distance, self.thresholds, row, left=0.0, right=1.0))

    def tpir_at(self, distance: float, n: int, spread: float | None = None,
                raw: np.ndarray | None = None) -> float:
        """Share of present-person searches of n faces that mark their person, for
        sketches like this one (`group`) when the tables are grouped."""
        row = interp_size(self._of_group(self.tpir, self.tpir_by_spread, spread, raw),
                          self.sizes, n)
        return float(np.interp(distance, self.thresholds, row, left=0.0, right=row[-1]))

    def threshold_for(self, fpir: float, n: int) -> float:
        """The largest tabled distance whose FPIR at size n is at most `fpir`."""
        if not 0.0 < fpir < 1.0:
            raise ValueError("an FPIR is between 0 and 1")
        row = np.maximum.accumulate(interp_size(self.fpir, self.sizes, n))
        ok = np.flatnonzero(row <= fpir)
        if len(ok) == 0:
            return float(self.thresholds[0])
        i = int(ok[-1])
        if i + 1 < len(row) and row[i + 1] > row[i]:  # interpolate to the crossing
            f = (fpir - row[i]) / (row[i + 1] - row[i])
            return float(self.thresholds[i] + f * (self.thresholds[i + 1] - self.thresholds[i]))
        return float(self.thresholds[i])

    def hits(self, n: int, spread: float | None = None,
             raw: np.ndarray | None = None) -> dict[int, float]:
        """Share of mated searches with the mate at rank 1, in the top 10, top 50 (of
        sketches like this one, `group`, when the tables are grouped)."""
        row = interp_size(self._of_group(self.hit_rates, self.hits_by_spread, spread, raw),
                          self.sizes, n)
        return {1: float(row[0]), 10: float(row[1]), 50: float(row[2])}

    def _of_group(self, pooled: np.ndarray, by_group: np.ndarray | None,
                  spread: float | None, raw: np.ndarray | None) -> np.ndarray:
        """The table of the searches like this one (`group`), else `pooled`."""
        g = self.group(spread, raw)
        return pooled if g is None or by_group is None else by_group[:, g]

    # --- storage -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def r(a: np.ndarray) -> list[Any]:
            return np.round(a, 5).tolist()

        return {"query": self.query, "sizes": self.sizes.astype(int).tolist(),
                "thresholds": r(self.thresholds), "fpir": r(self.fpir), "tpir": r(self.tpir),
                "hit_rates": r(self.hit_rates), "n_mated": self.n_mated,
                "n_nonmated": self.n_nonmated, "source": self.source,
                "reference_rank": self.reference_rank,
                **({} if self.spread_edges is None else {"spread_edges": r(self.spread_edges)}),
                **({} if self.hand_centroids is None else {
                    "hand_centroids": np.round(self.hand_centroids, 6).tolist(),
                    "hand_names": list(self.hand_names)}),
                **({} if self.tpir_by_spread is None else {
                    "tpir_by_spread": r(self.tpir_by_spread),
                    "hits_by_spread": r(self.hits_by_spread)})}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, obj: Any) -> SearchCalibration:
        try:
            sizes = np.asarray(obj["sizes"], np.float64)
            t = np.asarray(obj["thresholds"], np.float64)
            fpir, tpir = (np.asarray(obj[k], np.float64) for k in ("fpir", "tpir"))
            hits = np.asarray(obj["hit_rates"], np.float64)
            grouped = [None if obj.get(k) is None else np.asarray(obj[k], np.float64)
                       for k in ("spread_edges", "tpir_by_spread", "hits_by_spread",
                                 "hand_centroids")]
            names = tuple(str(x)[:60] for x in obj.get("hand_names") or ())[:16]
            c = cls(str(obj["query"]), sizes, t, fpir, tpir, hits, int(obj["n_mated"]),
                    int(obj["n_nonmated"]), str(obj["source"])[:500],
                    int(obj.get("reference_rank", 0)), *grouped, hand_names=names)
        except (KeyError, TypeError, ValueError) as exc:
            raise SearchCalibrationError(f"malformed search calibration: {exc}") from exc
        s, n = len(sizes), len(t)
        edges, tg, hg, hands = grouped
        g = (len(edges) + 1 if edges is not None and edges.ndim == 1 else
             len(hands) if hands is not None and hands.ndim == 2 else 0)
        cut_ok = ((edges is not None and hands is None and 2 <= g <= 17
                   and np.isfinite(edges).all() and (np.diff(edges) > 0).all())
                  or (hands is not None and edges is None and 2 <= g <= 16
                      and hands.shape[1] == 128 and np.isfinite(hands).all()
                      and len(names) == g))
        if not (all(a is None for a in grouped) or (
                cut_ok and tg is not None and hg is not None
                and tg.shape == (s, g, n) and hg.shape == (s, g, 3)
                and all(np.isfinite(a).all() and (a >= 0).all() and (a <= 1).all()
                        for a in (tg, hg)))):
            raise SearchCalibrationError("malformed search calibration: bad groups")
        ok = (s >= 1 and n >= 2 and fpir.shape == (s, n) and tpir.shape == (s, n)
              and hits.shape == (s, 3) and (np.diff(sizes) > 0).all() and sizes[0] >= 1
              and 0 <= c.reference_rank <= 1000
              and (np.diff(t) > 0).all()
              and all(np.isfinite(a).all() and (a >= 0).all() and (a <= 1).all()
                      for a in (fpir, tpir, hits)))
        if not ok:
            raise SearchCalibrationError("malformed search calibration: bad table shapes "
                                         "or values")
        return c


def dumps(calibrations: dict[str, SearchCalibration], extra: dict[str, Any] | None = None
          ) -> str:
    return dump_tables(calibrations, extra)


def loads(text: str) -> tuple[dict[str, SearchCalibration], dict[str, Any]]:
    return load_tables(text, SearchCalibration.from_json, SearchCalibrationError,
                       "search calibration", _MAX_JSON)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1f} %"


@dataclass(frozen=True)
class SearchRule:
    """How one search of `size` faces is scored: the 1:N reading. Same interface as
    `calibration.ScoreRule` (threshold, fmr, score, phrase, summary, describe), so the
    pipeline, panel and report take either; `fmr` here is the FPIR at a candidate's
    distance. With relative tables the threshold is `ratio x scale`, scale being this
    search's distance to its k-th nearest person."""

    threshold: float
    calibration: SearchCalibration
    size: int
    target_fpir: float | None  # the FPIR the threshold was set at (None: a given distance)
    list_length: int = LIST_LENGTH
    reading: str = "1:N"
    scale: float = 1.0  # relative tables: this search's k-th nearest person's distance
    spread: float | None = None  # how closely the sketch's readings agreed (None: unknown)
    unseen: SearchCalibration | None = None  # the same rates for an artist never seen
    # the raw sketch's own descriptor (None: unknown): which hand it was drawn most like
    raw: np.ndarray | None = field(default=None, compare=False, repr=False)

    calibrated = True
    norm = None

    def fmr(self, distance: float) -> float:
        return self.calibration.fpir_at(distance / self.scale, self.size)

    def score(self, distance: float) -> float:
        """1 - FPIR at this distance: how rarely an absent person's search comes this close."""
        return 1.0 - self.fmr(distance)

    def phrase(self, distance: float) -> str:
        return (f"absent-person searches come this close {_pct(self.fmr(distance))} "
                "of the time")

    def rates(self) -> dict[str, Any]:
        """The figures `describe` states, for `match --json` and the case record."""
        c, n = self.calibration, self.size
        hits = c.hits(n, self.spread, self.raw)
        out = {"reading": "1:N", "gallery_size": n, "threshold": round(self.threshold, 4),
                "fpir": round(self.fmr(self.threshold), 4),
                "tpir": round(c.tpir_at(self.threshold / self.scale, n, self.spread,
                                        self.raw), 4),
                "top1": round(hits[1], 4), "top10": round(hits[10], 4),
                "top50": round(hits[50], 4), "query_kind": c.query,
                "measured_sizes": [int(c.sizes[0]), int(c.sizes[-1])]}
        group = c.group(self.spread, self.raw)
        if group is not None and c.hand_names:
            out.update(drawn_like=c.hand_names[group], hand_groups=len(c.hand_names))
        elif group is not None:
            out.update(reading_spread=round(float(self.spread), 4),  # type: ignore[arg-type]
                       spread_group=group + 1, spread_groups=c.n_groups)
        if c.reference_rank:
            out.update(reference_rank=c.reference_rank, reference_distance=round(self.scale, 4),
                       ratio=round(self.threshold / self.scale, 4))
        if self.unseen is not None:
            u, at = self.unseen, self.threshold / self.scale
            u_hits = u.hits(n)
            out["unseen_artist"] = {
                "fpir": round(u.fpir_at(at, n), 4), "tpir": round(u.tpir_at(at, n), 4),
                "top1": round(u_hits[1], 4), "top10": round(u_hits[10], 4),
                "top50": round(u_hits[50], 4), "n_searches": u.n_mated}
        return out

    def summary(self) -> str:
        """What the threshold means at this size in a line or two: how often a search for
        someone absent marks a candidate (`describe` adds the rest)."""
        c, n = self.calibration, self.size
        near = (f" (as measured at {int(c.sizes[0 if n < c.sizes[0] else -1]):,} faces)"
                if not c.within_range(n) else "")
        # a ratio table's threshold is a distance for this search only: say what it is of
        ratio = (f" ({self.threshold / self.scale:.3f} x the distance of this search's "
                 f"{_ordinal(c.reference_rank)} candidate)" if c.reference_rank else "")
        return (f"Threshold {self.threshold:.3f}{ratio}: a search of {n:,} faces for someone "
                f"absent marks a candidate {_pct(self.fmr(self.threshold))} of the "
                f"time{near}.")

    def describe(self) -> str:
        r = self.rates()
        how = ("set at " + _pct(self.target_fpir) + " false positives per search"
               if self.target_fpir is not None else "set by hand")
        relative, where = self._reading(r)
        out = (f"Threshold {self.threshold:.3f} ({how}{relative}). At this gallery size "
               f"({self.size:,} faces), a search for someone absent marks a candidate "
               f"{_pct(r['fpir'])} of the time. For sketches like this{self._alike(r)}, "
               f"a person who is in the gallery is marked {_pct(r['tpir'])} of the time "
               f"({where}), and was first in {_pct(r['top1'])} of searches, in the top 10 "
               f"in {_pct(r['top10'])}, in the top 50 in {_pct(r['top50'])}.")
        u = r.get("unseen_artist")
        if u:
            out += (f" For sketches by an artist the model never saw, at this threshold "
                    f"an absent person's search marked a candidate {_pct(u['fpir'])} of the "
                    f"time, a present person was marked {_pct(u['tpir'])} of the time, first "
                    f"in {_pct(u['top1'])}, in the top 10 in {_pct(u['top10'])}, in the top 50 "
                    f"in {_pct(u['top50'])}.")
        if not self.calibration.within_range(self.size):
            out += (f" Rates were measured for {int(self.calibration.sizes[0]):,} to "
                    f"{int(self.calibration.sizes[-1]):,} faces; this gallery is outside, so "
                    "the nearest measured size is quoted.")
        return out + f" Measured on {self.calibration.source}."

    @staticmethod
    def _alike(r: dict) -> str:
        """Which sketches "like this" are: those whose readings agree as closely (spread
        groups), or those drawn most like the same hand (hand groups)."""
        if "drawn_like" in r:
            return (f" (drawn most like the {r['drawn_like']} sketches, of the "
                    f"{r['hand_groups']} kinds measured)")
        if "spread_group" not in r:
            return ""
        g, n = r["spread_group"], r["spread_groups"]
        names = {4: ("most", "second most", "second least", "least")}.get(n)
        which = (f"the {names[g - 1]} consistent quarter" if names
                 else f"group {g} of {n}, 1 the most consistent")
        return f" (its readings agree as closely as those of {which} of the sketches measured)"

    def _reading(self, r: dict) -> tuple[str, str]:
        """What the threshold is read against, and where in the list a mark can fall."""
        k = r.get("reference_rank", 0)
        if not k:  # a distance threshold: anywhere in the list shown
            return "", f"within the top {self.list_length}"
        relative = f", {r['ratio']:.3f} x the distance of this search's {_ordinal(k)} candidate"
        if k == 2:
            return (relative + ": only a first candidate that stands out from the next is "
                    "marked", "at rank 1")
        return relative, f"within the top {k - 1}"


LONGER_LIST = 50  # the list offered when the true person is often below the top 10
LOOK_FURTHER = 0.8  # offer it when searches like this had their person in the top 10 less


def longer_list_offer(rule: object, shown: int, gallery_size: int) -> str | None:
    """Why to look at the top LONGER_LIST, when a 1:N search of sketches like this one
    often had its person below the list shown (top 10 in under LOOK_FURTHER of them);
    None when the list is long enough, the gallery is no longer, or the reading states
    no such rate."""
    if not isinstance(rule, SearchRule) or shown >= LONGER_LIST or gallery_size <= shown:
        return None
    r = rule.rates()
    if r["top10"] >= LOOK_FURTHER or r["top50"] <= r["top10"]:
        return None
    return (f"In searches like this the true person was in the top 10 only "
            f"{_pct(r['top10'])} of the time (in the top {LONGER_LIST}: {_pct(r['top50'])}).")


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def reference_rank(calibrations: dict[str, SearchCalibration], query: str) -> int:
    """k when this kind's tables read distances against the search's k-th nearest person,
    else 0: the caller looks that person up before asking for the rule."""
    c = calibrations.get(query)
    return c.reference_rank if c is not None else 0


def search_rule(calibrations: dict[str, SearchCalibration], query: str, size: int,
                fpir: float | None = DEFAULT_FPIR, threshold: float | None = None,
                scale: float = 1.0, spread: float | None = None,
                raw: np.ndarray | None = None) -> SearchRule | None:
    """The 1:N rule for a search of `size` faces, or None when the model has no search
    calibration for this kind of query. `scale`: the search's distance to its k-th nearest
    person when the tables are relative (`reference_rank`); `spread` (how closely the
    sketch's readings agreed, `core.query.reading_spread`) and `raw` (the raw sketch's
    descriptor): which group's rates it is told, when the tables are grouped."""
    c = calibrations.get(query)
    if c is None or size < 1:
        return None
    scale = float(scale) if c.reference_rank and scale > 0 else 1.0
    unseen = calibrations.get(query + UNSEEN_ARTIST)
    if unseen is not None and unseen.reference_rank != c.reference_rank:
        unseen = None  # read against another candidate: not the same threshold
    if threshold is not None:
        return SearchRule(float(threshold), c, size, None, scale=scale, spread=spread,
                          unseen=unseen, raw=raw)
    target = DEFAULT_FPIR if fpir is None else fpir
    return SearchRule(c.threshold_for(target, size) * scale, c, size, target, scale=scale,
                      spread=spread, unseen=unseen, raw=raw)
