"""What a face distance means for one kind of query: its false-match rate.

A distance alone says nothing an investigator can weigh: a synthesized photo sits 0.40-0.48
from nearly everybody in a gallery shot under one set of conditions, so dlib's photo
threshold (0.6) marks every candidate a match. How close non-mates come depends on the
gallery as much as on the model: a CUFS sketch lands close to most other CUFS students'
photos but to few of LFW's (docs/decisions.md, "Scores are read against the gallery
searched"). So the distance is first
normalised against the gallery searched (a Z-norm: `z = (d - mean) / sd` of the query's
distances to that gallery's faces, nearly all non-mates), and the calibration is over z.

A `ScoreCalibration` holds the z-scores of genuine pairs (a sketch and a photo of the same
person) and impostor pairs (a sketch and somebody else's photo), each taken within its own
dataset's gallery, as quantile tables, for one query kind of one model. From it:

- `fmr(z)`: the share of non-mates that come this close ("1 in N non-mates is this close");
- `fnmr(z)`: the share of true mates that stay farther away;
- `threshold_at(fmr)`: the z at which a stated share of non-mates is let through; a
  `ScoreRule` turns it into this search's distance.

Tables are built by `python -m trainer calibrate` on train-split pairs and stored in the
model file's metadata (`score_calibration`), so the numbers travel with the weights they
describe. A model without one is "uncalibrated": candidates get distances and dlib's photo
threshold, and no false-match rate is claimed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

DEFAULT_FMR = 0.01  # the default threshold lets through 1 in 100 non-mates
# Below this many faces a gallery's own distance spread is too rough to normalise by.
MIN_GALLERY = 12
METADATA_KEY = "score_calibration"
QUERY_KINDS = ("single", "variants", "adapted", "raw")
_MAX_POINTS = 2048
_MAX_JSON = 1 << 20
T = TypeVar("T")


class CalibrationError(ValueError):
    """A calibration table is malformed (a model file's metadata is untrusted input)."""


def _cdf_table(values: np.ndarray, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(distances, cumulative shares) at probabilities dense in the low tail, where the
    false-match rates a threshold is set at live (1e-4 .. 1e-1)."""
    v = np.sort(np.asarray(values, np.float64))
    n = len(v)
    lo = math.log10(1.0 / n)
    probs = np.unique(np.concatenate([np.logspace(lo, 0, n_points // 2),
                                      np.linspace(0, 1, n_points // 2)]))
    probs = probs[probs >= 1.0 / n]
    d = np.quantile(v, probs, method="inverted_cdf")
    # Where several probabilities share one distance keep the largest: the CDF at d.
    d, idx = np.unique(d[::-1], return_index=True)
    p = probs[::-1][idx]
    return d, p


def _rounded(d: np.ndarray, p: np.ndarray) -> list[list[float]]:
    """The table at 6 decimals, still strictly increasing in distance."""
    rd = np.round(d, 6)
    out: dict[float, float] = {}
    for di, pi in zip(rd.tolist(), p.tolist(), strict=True):
        out[di] = max(out.get(di, 0.0), float(f"{pi:.6g}"))
    return [[di, pi] for di, pi in sorted(out.items())]


@dataclass(frozen=True)
class ScoreCalibration:
    """Genuine and impostor distance distributions for one query kind."""

    query: str  # one of QUERY_KINDS ("adapted": variants moved by the query adapter)
    impostor_d: np.ndarray  # increasing gallery-normalised scores (z) ...
    impostor_p: np.ndarray  # ... and the share of impostor pairs at or below each
    genuine_d: np.ndarray
    genuine_p: np.ndarray
    n_impostor: int
    n_genuine: int
    source: str  # which pairs, in words

    @classmethod
    def fit(cls, query: str, genuine: np.ndarray, impostor: np.ndarray, source: str
            ) -> ScoreCalibration:
        genuine, impostor = np.asarray(genuine), np.asarray(impostor)
        if len(genuine) < 10 or len(impostor) < 100:
            raise CalibrationError("too few pairs to calibrate "
                                   f"({len(genuine)} genuine, {len(impostor)} impostor)")
        gd, gp = _cdf_table(genuine)
        idd, ip = _cdf_table(impostor)
        return cls(query, idd, ip, gd, gp, len(impostor), len(genuine), source)

    # --- what a distance means ---------------------------------------------------------
    @property
    def min_fmr(self) -> float:
        """The smallest false-match rate the impostor sample can resolve."""
        return 1.0 / self.n_impostor

    def fmr(self, distance: np.ndarray | float) -> np.ndarray:
        """Share of impostor pairs at or below `distance` (floored at `min_fmr`)."""
        d = np.asarray(distance, np.float64)
        p = np.interp(d, self.impostor_d, self.impostor_p, left=0.0, right=1.0)
        return np.maximum(p, self.min_fmr) if np.ndim(p) else np.float64(max(p, self.min_fmr))

    def fnmr(self, distance: np.ndarray | float) -> np.ndarray:
        """Share of genuine pairs farther than `distance`."""
        d = np.asarray(distance, np.float64)
        return 1.0 - np.interp(d, self.genuine_d, self.genuine_p, left=0.0, right=1.0)

    def threshold_at(self, fmr: float = DEFAULT_FMR) -> float:
        """The largest distance whose false-match rate is at most `fmr`."""
        if not 0.0 < fmr < 1.0:
            raise ValueError("a false-match rate is between 0 and 1")
        fmr = max(fmr, self.min_fmr)
        return float(np.interp(fmr, self.impostor_p, self.impostor_d))

    # --- storage -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "n_impostor": self.n_impostor, "n_genuine": self.n_genuine,
                "source": self.source,
                "impostor": _rounded(self.impostor_d, self.impostor_p),
                "genuine": _rounded(self.genuine_d, self.genuine_p)}

    @classmethod
    def from_json(cls, obj: Any) -> ScoreCalibration:
        """Validate and build; any defect raises CalibrationError."""
        try:
            query, source = str(obj["query"]), str(obj["source"])[:500]
            n_imp, n_gen = int(obj["n_impostor"]), int(obj["n_genuine"])
            tables = [np.asarray(obj[k], np.float64) for k in ("impostor", "genuine")]
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"malformed score calibration: {exc}") from exc
        if query not in QUERY_KINDS or n_imp < 1 or n_gen < 1:
            raise CalibrationError("malformed score calibration: bad query kind or counts")
        for t in tables:
            if (t.ndim != 2 or t.shape[1] != 2 or not 2 <= len(t) <= _MAX_POINTS
                    or not np.isfinite(t).all() or (np.diff(t[:, 0]) <= 0).any()
                    or (np.diff(t[:, 1]) < 0).any() or t[0, 0] < -100 or t[-1, 0] > 100
                    or t[0, 1] < 0 or t[-1, 1] > 1):
                raise CalibrationError("malformed score calibration: a table is not an "
                                       "increasing distance -> share curve")
        (idd, ip), (gd, gp) = ((t[:, 0], t[:, 1]) for t in tables)
        return cls(query, idd, ip, gd, gp, n_imp, n_gen, source)


def dump_tables(tables: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """Per-query-kind tables (anything with `to_json`) and other fields as one metadata
    string: the format of both the per-pair and the 1:N (`core.search_rates`) tables."""
    obj = {"version": 1, **(extra or {}),
           "kinds": {k: c.to_json() for k, c in tables.items()}}
    return json.dumps(obj, separators=(",", ":"))


def load_tables(text: str, parse: Callable[[Any], T], error: type[ValueError], what: str,
                max_json: int = _MAX_JSON) -> tuple[dict[str, T], dict[str, Any]]:
    """(tables by query kind, the other recorded fields) from `dump_tables`'s string; any
    defect raises `error` (a model file's metadata is untrusted input)."""
    if len(text) > max_json:
        raise error(f"{what} metadata is too large")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("version") != 1 or not isinstance(
            obj.get("kinds"), dict):
        raise error(f"{what}: unknown format")
    kinds = {str(k): parse(v) for k, v in obj["kinds"].items()}
    return kinds, {k: v for k, v in obj.items() if k not in ("kinds", "version")}


def dumps(calibrations: dict[str, ScoreCalibration], extra: dict[str, Any] | None = None
          ) -> str:
    """The metadata string stored in a model file."""
    return dump_tables(calibrations, extra)


def loads(text: str) -> tuple[dict[str, ScoreCalibration], dict[str, Any]]:
    """(calibrations by query kind, the other recorded fields) from a metadata string."""
    return load_tables(text, ScoreCalibration.from_json, CalibrationError, "score calibration")


def fmr_phrase(fmr: float, min_fmr: float, short: bool = False) -> str:
    """"1 in 240 non-mates" (or "fewer than 1 in 50,000" at the sample's resolution);
    `short` drops the noun for a table column headed "non-mates" ("1 in 240", "<1 in
    50,000", "62%")."""
    noun = "" if short else " non-mates"
    if fmr <= min_fmr * 1.0001:
        return f"{'<' if short else 'fewer than '}1 in {round(1 / min_fmr):,}{noun}"
    if fmr >= 0.5:
        return f"{fmr:.0%}{'' if short else ' of non-mates'}"
    return f"1 in {round(1 / fmr):,}{noun}"


@dataclass(frozen=True)
class GalleryNorm:
    """The query's distances to the gallery searched: their mean and spread."""

    mean: float
    sd: float
    n: int  # faces the spread was measured on
    size: int = 0  # faces in the gallery (n, or more when n is a sample)

    def z(self, distance: np.ndarray | float) -> np.ndarray:
        return (np.asarray(distance, np.float64) - self.mean) / self.sd

    def distance(self, z: float) -> float:
        return float(self.mean + self.sd * z)


def gallery_norm(distances: np.ndarray, size: int | None = None) -> GalleryNorm | None:
    """From the query's distances to (a sample of) a gallery of `size` faces; None when
    too few."""
    d = np.asarray(distances, np.float64)
    if len(d) < MIN_GALLERY or not np.isfinite(d).all() or d.std() <= 1e-6:
        return None
    return GalleryNorm(float(d.mean()), float(d.std()), len(d), max(size or 0, len(d)))


@dataclass(frozen=True)
class ScoreRule:
    """How one search's candidates are scored and marked: the distance threshold and, when
    the model is calibrated for this kind of query and the gallery is big enough to
    normalise by, what a distance means."""

    threshold: float
    calibration: ScoreCalibration | None = None
    target_fmr: float | None = None  # the rate the threshold was set at (None: given)
    norm: GalleryNorm | None = None
    note: str = ""  # why there is no false-match rate, when there is none
    reading = "1:1"  # a per-pair rate (core.search_rates.SearchRule reads whole searches)
    scale = 1.0  # distances read as they are (SearchRule's relative tables scale them)

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None and self.norm is not None

    def fmr(self, distance: float) -> float | None:
        if not self.calibrated:
            return None
        return float(self.calibration.fmr(self.norm.z(distance)))  # type: ignore[union-attr]

    def score(self, distance: float) -> float:
        """1 - false-match rate: the share of non-mates farther away than this candidate
        (uncalibrated: dlib's photo logistic, 0.5 at the threshold)."""
        f = self.fmr(distance)
        if f is not None:
            return 1.0 - f
        from sketchlab.core.matching import similarity

        return float(similarity(distance, self.threshold))

    def phrase(self, distance: float) -> str:
        """"1 in 240 non-mates is this close", or "uncalibrated"."""
        f = self.fmr(distance)
        if f is None:
            return "uncalibrated"
        return fmr_phrase(f, self.calibration.min_fmr) + " this close"  # type: ignore[union-attr]

    def _headline(self) -> str:
        """The threshold and its rate: how `summary` and `describe` both begin."""
        c, n = self.calibration, self.norm
        if c is None or n is None:
            return (f"Threshold {self.threshold:.3f}, a face distance; no false-match rate is "
                    f"stated: {self.note or 'the model has no calibration for this query'}")
        f = float(c.fmr(n.z(self.threshold)))
        return (f"Threshold {self.threshold:.3f}: {fmr_phrase(f, c.min_fmr)} come this close "
                f"(false-match rate {f:.2%})")

    def summary(self) -> str:
        """The threshold and its rate in a line or two, for under the candidate list."""
        return self._headline() + "."

    def describe(self) -> str:
        """One sentence for the panel, the compare dialog and the report."""
        c, n = self.calibration, self.norm
        if c is None or n is None:
            return self._headline() + "."
        f = float(c.fmr(n.z(self.threshold)))
        chance = f * max(n.size, n.n)
        expect = (f"about {chance:,.0f} non-mates of this gallery's faces fall within by "
                  "chance" if chance >= 1.5 else
                  "fewer than 2 of this gallery's non-mates fall within by chance")
        return (f"{self._headline()}, so {expect}; "
                f"{float(c.fnmr(n.z(self.threshold))):.0%} of true mates stay farther away. "
                f"Distances are read against this "
                f"gallery's {max(n.size, n.n):,} faces (mean {n.mean:.3f}, spread "
                f"{n.sd:.3f}{'' if n.n >= n.size else f', from {n.n:,} of them'}); rates were "
                f"measured on {c.source} ({c.query} queries).")


def score_rule(calibrations: dict[str, ScoreCalibration], query: str,
               fmr: float | None = DEFAULT_FMR, threshold: float | None = None,
               norm: GalleryNorm | None = None) -> ScoreRule:
    """The rule for one search: an explicit `threshold` (a distance) wins; else the
    distance at `fmr` for this gallery (`norm`); else dlib's photo threshold, with the
    reason no rate can be stated."""
    from sketchlab.core.matching import DEFAULT_THRESHOLD

    c = calibrations.get(query)
    note = ("" if c is not None and norm is not None else
            "the model has no calibration for this kind of query" if c is None else
            f"the gallery has fewer than {MIN_GALLERY} faces to read distances against")
    if threshold is not None:
        return ScoreRule(float(threshold), c, None, norm, note)
    if c is None or norm is None:
        return ScoreRule(DEFAULT_THRESHOLD, c, None, norm, note)
    target = DEFAULT_FMR if fmr is None else fmr
    return ScoreRule(norm.distance(c.threshold_at(target)), c, target, norm)
