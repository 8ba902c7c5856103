"""`python -m trainer search-rates`: measure a model's 1:N search rates
(`sketchlab.core.search_rates`) on train sketches only, and check them on test sets.

Searches. Every train query of the adapter's packs (`trainer.adapter`: CUFS and FS2K train
sketches, synthetic sketches of LFW and CelebA train people) is searched as the app
searches it, in colour against colour photos and in grey against grey ones. For the
adapted kind each query's descriptor comes from an adapter fitted WITHOUT that person
(3 folds by person), so no rate is read off a search the adapter was trained on.

Galleries. A gallery of N faces is the real photos on hand (LFW train and the train sets'
photos, ~14k) sampled without replacement while N is smaller than that, and all of them
plus synthetic faces fitted to LFW (`core.synthetic_descriptors`) beyond it, up to 1M.
Rates are computed exactly from each query's counts of faces within each threshold, not
by drawing galleries:
- non-mated search (the person's photos left out): P(some face within t) with N faces;
- mated search: the mate within t and fewer than 10 other people nearer (marked within
  the list);
- rank: P(fewer than k other people nearer than the mate), k = 1, 10, 50. The list shows
  one row a person, so a stranger with five photos nearer than the mate pushes it down one
  row, not five: each query keeps how many people have c photos nearer (`nearer_people`),
  and a person is nearer in a gallery when any of those photos was drawn.
Rates are means over queries, so a sketch that lands near everybody counts as it should.

Relative reading (`--reading relative`, the default). A distance is read as a ratio to
the search's own k-th nearest person (`--reference-rank`, REFERENCE_RANK = 2: the next
person), because how close strangers come depends on where a sketch lands: at one
distance threshold CUFS test searches for absent people marked a candidate 5-10x as often
as FS2K ones, and no single table stated both. The rates of the ratio are drawn, not
counted: each query's nearest strangers in the pool (real photos, then synthetic faces)
are thinned at random to a gallery of N faces, REPLICATES times, and the thinned lists
give the k-th nearest person (one row a person, as the app's list), the top stranger's
ratio (absent person) and the mate's ratio (present person). Measured on held-out
searches at the stated 5 % (models/*-lab.md): k = 2 marked absent people 2.3-4.7 % of
the time on CUFS and FS2K at 1k, 13k and 1M faces; k = 10 marked CUFS ones 14 % of the
time at 1k (a few CUFS photos among LFW ones stand out from the 10th), and the distance
tables 0.0-2.5 %.

Sketches like this (`GROUPINGS`). The present-person rates (marked, top 1 / 10 / 50)
are also measured in groups of searches, each group's table the same computation on its
searches alone, and a search is told its own group's figures. The groups are cut at the
quartiles of how closely each train sketch's readings agree (`core.query.reading_spread`),
or, with `--groups hand`, by the hand each raw sketch's descriptor lies nearest (the mean
descriptor of each train set's sketches, FS2K by drawing style, the synthetic styles as
one; `hand_labels`). With `--groups set` a sketch is told the set it lies nearest (CUFS,
FS2K, synthetic), at the rates of that set's hardest hand among the searches like it
(`hardest_parts`): FS2K's styles cannot be told apart from a sketch (the nearest style is
right for two in three of its style-0 test sketches, and a style the train split never
pairs with a photo source is taken for the easiest), and a set's hardest style bounds its
rates whatever mix of styles a new artist's sketches hold. The lab record compares the
three on test searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core import search_rates as sr
from sketchlab.core.drawn import TWO_WAY, pair, row_distances, search_distances

log = logging.getLogger(__name__)

SIZES = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
# Wide enough for adapted queries, which sit farther from every photo than plain ones.
THRESHOLDS = np.round(np.arange(0.20, 1.6001, 0.005), 3)
SYNTHETIC = 1_000_000 - 10_000  # with ~14k real faces this covers galleries of 1M
FOLDS = 3
REFERENCE_RANK = 2  # read distances against the next person's (measured: 2 holds, 10 did not)
RATIOS = np.round(np.arange(0.70, 1.0001, 0.002), 3)
DEPTH = 4_000  # nearest strangers kept per query and pool: enough for 10 in a 1% sample
REPLICATES = 32
SPREAD_GROUPS = 4  # present-person rates by quartile of how closely the readings agree
GROUPINGS = ("spread", "hand", "set")  # how "sketches like this" are cut (`measure`)
# The hands train searches are grouped by (`hand_labels`), as a search is told them.
HAND_NAMES = {"cufs_train": "CUFS", "fs2k_train": "FS2K style {style}",
              "lfw_synth": "synthetic", "celeba_synth": "synthetic"}
# Fewer searches of a hand than this are too few to bound a set's rates with
# (`hardest_parts`): about +-10 points at a 50 % rate.
MIN_HAND_SEARCHES = 20
# How tables cut by set say so in their source text (`measure_pooled`, `held_out_rates`).
SET_BOUND_WORDS = ("; sketches like this: those drawn most like the same set, each set's "
                   "present-person rates those of its hardest hand")
# Absent-person rates (FPIR, and so the threshold) are read from the hand-drawn train
# sketches: people search hand-drawn sketches, and at one threshold synthetic sketches
# marked absent people 5.3-7.1 % of the time where hand-drawn ones marked them 0.8-4.4 %
# (models/*-lab.md). Present-person rates stay pooled over every train set: the
# hand-drawn train sketches were all trained on, and their true person ranks higher than
# a new sketch's (FS2K train top 10 at 13k: 57 %, FS2K test: 49 %).
ABSENT_SETS = ("cufs_train", "fs2k_train")

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    n, k = np.asarray(n, np.float64), np.asarray(k, np.float64)
    bad = (k < 0) | (k > n)
    out = _lgamma(n + 1) - _lgamma(np.clip(k, 0, None) + 1) - _lgamma(
        np.clip(n - k, 0, None) + 1)
    return np.where(bad, -np.inf, out)


PHOTOS_PER_PERSON = 600  # columns of `nearer_people`; LFW's most photographed has 530


def _people_ids(bank_person: np.ndarray | None, n: int) -> np.ndarray:
    """Who each bank photo is of, as codes 0..P-1 (default: every photo its own person)."""
    if bank_person is None:
        return np.arange(n)
    return np.unique(np.asarray(bank_person), return_inverse=True)[1].ravel()


def _nearer_people(person: np.ndarray, cols: int = PHOTOS_PER_PERSON) -> np.ndarray:
    """(cols,): how many people have exactly c photos among `person` (column c - 1; the
    last column also holds anyone with more)."""
    per = np.bincount(person)
    per = np.minimum(per[per > 0], cols)
    return np.bincount(per - 1, minlength=cols)[:cols]


def _synthetic_nearer(near: np.ndarray, per_person: int) -> np.ndarray:
    """(Q, per_person) from a (Q, chunk) mask of synthetic faces nearer than the mate, the
    chunk starting at a person's first photo: people with c of them nearer."""
    q_n, m = near.shape
    pad = -m % per_person
    counts = np.pad(near, ((0, 0), (0, pad))).reshape(q_n, -1, per_person).sum(2)
    return np.stack([(counts == c).sum(1) for c in range(1, per_person + 1)], axis=1)


def _synthetic_chunk(q_n: int, per_person: int, least: int = 1_000) -> int:
    """Synthetic faces compared at a time (~200 MB of distances), a whole number of
    people."""
    chunk = max(least, 50_000_000 // max(q_n, 1))
    return chunk - chunk % per_person


@dataclass
class Counts:
    """Per query: faces of other people within each threshold (real pool, synthetic pool),
    and the people nearer than the mate by how many of their photos are."""

    real_le_t: np.ndarray  # (Q, T)
    syn_le_t: np.ndarray  # (Q, T)
    nearer_people: np.ndarray  # (Q, PHOTOS_PER_PERSON) real pool, as `_nearer_people`
    syn_nearer: np.ndarray  # (Q, synthetic photos a person)
    d_mate: np.ndarray  # (Q,)
    n_real: np.ndarray  # (Q,) real faces of other people in the pool
    n_syn: int


def count_faces(queries: np.ndarray, mates: np.ndarray, bank: np.ndarray,
                non_mate: np.ndarray, synthetic: np.ndarray,
                bank_person: np.ndarray | None = None,
                synthetic_per_person: int = 2) -> Counts:
    """`non_mate` (Q, M) marks the bank faces of other people for each query;
    `bank_person` and `synthetic_per_person` say who the faces are of (as
    `nearest_strangers`)."""
    t = THRESHOLDS
    q_n = len(queries)
    person = _people_ids(bank_person, len(bank))
    d_mate = row_distances(queries, mates)
    real_le = np.zeros((q_n, len(t)), np.int64)
    nearer = np.zeros((q_n, PHOTOS_PER_PERSON), np.int64)
    for i, q in enumerate(queries):
        cols = np.flatnonzero(non_mate[i])
        d = search_distances(q, bank)[cols]
        real_le[i] = np.searchsorted(np.sort(d), t, side="right")
        nearer[i] = _nearer_people(person[cols[d < d_mate[i]]])
    syn_le = np.zeros((q_n, len(t)), np.int64)
    syn_nearer = np.zeros((q_n, synthetic_per_person), np.int64)
    step = float(t[1] - t[0])
    q32 = queries.astype(np.float32)
    chunk = _synthetic_chunk(q_n, synthetic_per_person)
    for start in range(0, len(synthetic), chunk):
        s = synthetic[start:start + chunk]
        d = search_distances(q32, s)
        syn_nearer += _synthetic_nearer(d < d_mate[:, None], synthetic_per_person)
        # bin = index of the first threshold >= d (the grid is uniform), len(t) past it
        b = np.clip(np.ceil((d - t[0]) / step - 1e-6), 0, len(t)).astype(np.int64)
        b += (np.arange(q_n) * (len(t) + 1))[:, None]
        syn_le += np.bincount(b.ravel(), minlength=q_n * (len(t) + 1)).reshape(
            q_n, len(t) + 1)[:, :len(t)]
    syn_le = np.cumsum(syn_le, axis=1)
    return Counts(real_le, syn_le, nearer, syn_nearer, d_mate, non_mate.sum(1),
                  len(synthetic))


@dataclass
class Nearest:
    """Per query: its DEPTH nearest strangers in the real and synthetic pools (sorted,
    inf-padded) with the person each face is of, and the people nearer than the mate
    behind the rank rates (as in `Counts`)."""

    real: np.ndarray  # (Q, DEPTH)
    syn: np.ndarray  # (Q, DEPTH)
    nearer_people: np.ndarray  # (Q, PHOTOS_PER_PERSON)
    syn_nearer: np.ndarray  # (Q, synthetic photos a person)
    d_mate: np.ndarray  # (Q,)
    n_real: np.ndarray  # (Q,)
    n_syn: int
    real_person: np.ndarray  # (Q, DEPTH) person codes (>= 0) of `real`
    syn_person: np.ndarray  # (Q, DEPTH) person codes (< 0) of `syn`


def nearest_strangers(queries: np.ndarray, mates: np.ndarray, bank: np.ndarray,
                      non_mate: np.ndarray, synthetic: np.ndarray, depth: int = DEPTH,
                      bank_person: np.ndarray | None = None,
                      synthetic_per_person: int = 2) -> Nearest:
    """`bank_person`: who each bank photo is of (default: every photo its own person);
    synthetic faces come `synthetic_per_person` to a person, in order
    (`core.synthetic_descriptors.generate`). The app reads its reference row one person
    at a time, so the tables must too: two photos of one stranger are one row."""
    q_n = len(queries)
    person = _people_ids(bank_person, len(bank))
    d_mate = row_distances(queries, mates)
    real = np.full((q_n, depth), np.inf)
    real_person = np.zeros((q_n, depth), np.int64)
    nearer = np.zeros((q_n, PHOTOS_PER_PERSON), np.int64)
    syn_nearer = np.zeros((q_n, synthetic_per_person), np.int64)
    for i, q in enumerate(queries):
        cols = np.flatnonzero(non_mate[i])
        d = search_distances(q, bank)[cols]
        nearer[i] = _nearer_people(person[cols[d < d_mate[i]]])
        order = np.argsort(d, kind="stable")[:depth]
        real[i, :len(order)] = d[order]
        real_person[i, :len(order)] = person[cols[order]]
    syn = np.full((q_n, depth), np.inf)
    syn_idx = np.zeros((q_n, depth), np.int64)
    q32 = queries.astype(np.float32)
    chunk = _synthetic_chunk(q_n, synthetic_per_person, least=depth + synthetic_per_person)
    for start in range(0, len(synthetic), chunk):
        s = synthetic[start:start + chunk]
        d = search_distances(q32, s)
        syn_nearer += _synthetic_nearer(d < d_mate[:, None], synthetic_per_person)
        both = np.concatenate([syn, d], axis=1)
        both_idx = np.concatenate([syn_idx, np.broadcast_to(
            np.arange(start, start + len(s)), d.shape)], axis=1)
        keep = min(depth, both.shape[1])
        part = np.argpartition(both, keep - 1, axis=1)[:, :keep]
        syn[:, :keep] = np.take_along_axis(both, part, axis=1)
        syn_idx[:, :keep] = np.take_along_axis(both_idx, part, axis=1)
    order = np.argsort(syn, axis=1, kind="stable")
    syn = np.take_along_axis(syn, order, axis=1)
    syn_person = -1 - np.take_along_axis(syn_idx, order, axis=1) // synthetic_per_person
    return Nearest(real, syn, nearer, syn_nearer, d_mate, non_mate.sum(1), len(synthetic),
                   real_person, syn_person)


def _thinned(sorted_d: np.ndarray, person: np.ndarray, p: np.ndarray, m: int, reps: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(Q, reps, m) twice: the m nearest of each row kept with probability p (Q,), reps
    times, and their persons; inf (person 0) where the row ran out."""
    q_n, depth = sorted_d.shape
    # inf columns up to m, and at least one past the row: where a thinned row runs out
    pad = ((0, 0), (0, max(depth, m) + 1 - depth))
    d_all = np.pad(sorted_d, pad, constant_values=np.inf)
    who_all = np.pad(person, pad)
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    out = np.full((q_n, reps, m), np.inf)
    who = np.zeros((q_n, reps, m), np.int64)
    full = p >= 1.0
    out[full] = d_all[full, None, :m]
    who[full] = who_all[full, None, :m]
    some = np.flatnonzero((p > 0) & ~full)
    if len(some):
        gaps = rng.geometric(p[some, None, None], size=(len(some), reps, m))
        pos = np.minimum(np.cumsum(gaps, axis=2) - 1, d_all.shape[1] - 1)
        out[some] = np.take_along_axis(d_all[some][:, None, :], pos, axis=2)
        who[some] = np.take_along_axis(who_all[some][:, None, :], pos, axis=2)
    return out, who


def _kth_person(d: np.ndarray, who: np.ndarray, k: int) -> np.ndarray:
    """(Q, R): in lists sorted along the last axis, the distance of the k-th distinct
    person (their nearest photo), inf when fewer than k are in the list."""
    out = np.full(d.shape[:2], np.inf)
    count = np.zeros(d.shape[:2], np.int64)
    for j in range(d.shape[2]):
        new = np.isfinite(d[:, :, j]) & ~(who[:, :, :j] == who[:, :, j:j + 1]).any(axis=2)
        count += new
        hit = new & (count == k) & np.isinf(out)
        out[hit] = d[:, :, j][hit]
    return out


def check_reference_rank(k: int) -> None:
    """Rank 1 is the candidate itself (every ratio 1); past the list the app never reads."""
    if not 2 <= k <= sr.LIST_LENGTH:
        raise ValueError(f"--reference-rank must be 2 to {sr.LIST_LENGTH} (the list shown): "
                         f"no reference rank {k}")


def relative_rates(n: Nearest, sizes: Sequence[int] = SIZES, k: int = REFERENCE_RANK,
                   reps: int = REPLICATES, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FPIR (S, R), TPIR (S, R), hit rates (S, 3)) over RATIOS: an absent person's search
    marks its top face when that face is within ratio x the k-th nearest person's
    distance; a present person is marked when the mate is (it is then among the first
    k - 1 people). People, not photos, as the app's list counts them."""
    check_reference_rank(k)
    m = 8 * k  # faces looked at per list: enough for k people unless one has many photos
    rng = np.random.default_rng(seed)
    r_pool = n.n_real.astype(np.float64)
    fpir, tpir = np.zeros((len(sizes), len(RATIOS))), np.zeros((len(sizes), len(RATIOS)))
    for si, size in enumerate(sizes):
        lists = []
        for draw in (size, size - 1):  # absent: N strangers; present: the mate + N - 1
            p_real = np.minimum(1.0, draw / r_pool)
            p_syn = np.maximum(draw - r_pool, 0.0) / max(n.n_syn, 1)
            d_r, w_r = _thinned(n.real, n.real_person, p_real, m, reps, rng)
            d_s, w_s = _thinned(n.syn, n.syn_person, p_syn, m, reps, rng)
            d, w = np.concatenate([d_r, d_s], axis=2), np.concatenate([w_r, w_s], axis=2)
            order = np.argsort(d, axis=2, kind="stable")[:, :, :m]
            lists.append((np.take_along_axis(d, order, axis=2),
                          np.take_along_axis(w, order, axis=2)))
        (absent, absent_who), (present, present_who) = lists
        with np.errstate(invalid="ignore", divide="ignore"):
            r_absent = (absent[:, :, 0] / _kth_person(absent, absent_who, k)).ravel()
            r_mate = (n.d_mate[:, None] / _kth_person(present, present_who, k - 1)).ravel()
        r_absent = np.sort(np.nan_to_num(r_absent, nan=1.0))
        r_mate = np.sort(np.nan_to_num(r_mate, nan=np.inf))
        fpir[si] = np.searchsorted(r_absent, RATIOS, side="right") / len(r_absent)
        tpir[si] = np.searchsorted(r_mate, RATIOS, side="right") / len(r_mate)
    return fpir, tpir, hit_rates(n, sizes)


def _p_none(n_pool: np.ndarray, hits: np.ndarray, draw: np.ndarray | int) -> np.ndarray:
    """P(no hit) drawing `draw` of `n_pool` faces without replacement, `hits` of them hits."""
    draw = np.broadcast_to(np.asarray(draw, np.float64), np.broadcast(n_pool, hits).shape)
    lp = _log_comb(n_pool - hits, draw) - _log_comb(n_pool, draw)
    return np.exp(lp)


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])


def _add_binomial(pmf: np.ndarray, m: np.ndarray, q: np.ndarray, lf: np.ndarray
                  ) -> np.ndarray:
    """pmf (R, K) of a count X, truncated at K - 1: that of X + Binomial(m, q) (R rows)."""
    k = pmf.shape[1]
    x = np.arange(k)[None]
    m = m[:, None].astype(np.int64)
    q = np.clip(q, 1e-300, 1.0)[:, None]
    rest = np.clip(m - x, 0, None)
    log_b = (lf[m] - lf[np.minimum(x, m)] - lf[rest]
             + x * np.log(q) + rest * np.log1p(-np.minimum(q, 1 - 1e-16)))
    b = np.exp(np.where(x <= m, log_b, -np.inf))
    b = np.where((q >= 1.0) & (x == m), 1.0, np.where(q >= 1.0, 0.0, b))
    out = np.zeros_like(pmf)
    for j in range(k):
        out[:, j:] += pmf[:, :k - j] * b[:, j:j + 1]
    return out


def _mate_fewer(c: Counts | Nearest, n: int, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """Per query, P(fewer than k other people nearer than the mate) in a mated gallery of
    n faces: the mate and n - 1 others, drawn face by face from the real pool while it
    lasts, then from the synthetic one. A person with c photos nearer than the mate is
    nearer when any of them is drawn: 1 - (1 - p)^c."""
    r_pool = c.n_real.astype(np.float64)
    others = float(n - 1)
    p_real = np.minimum(1.0, others / np.maximum(r_pool, 1.0))
    p_syn = np.maximum(others - r_pool, 0.0) / max(c.n_syn, 1)
    kmax = max(ks)
    lf = _log_factorials(int(max(c.nearer_people.max(initial=0), c.syn_nearer.max(initial=0))))
    pmf = np.zeros((len(r_pool), kmax))
    pmf[:, 0] = 1.0
    for p, people in ((p_real, c.nearer_people), (p_syn, c.syn_nearer)):
        for col in np.flatnonzero(people.any(axis=0)):
            rows = np.flatnonzero(people[:, col])
            q = 1.0 - (1.0 - p[rows]) ** (col + 1)
            pmf[rows] = _add_binomial(pmf[rows], people[rows, col], q, lf)
    cdf = np.clip(np.cumsum(pmf, axis=1), 0.0, 1.0)
    return {k: cdf[:, k - 1] for k in ks}


def hit_rates(c: Counts | Nearest, sizes: Sequence[int]) -> np.ndarray:
    """(S, 3): the mate at rank 1, within 10, within 50, at each gallery size."""
    out = np.zeros((len(sizes), 3))
    for si, n in enumerate(sizes):
        fewer = _mate_fewer(c, n, (1, 10, 50))
        out[si] = [fewer[1].mean(), fewer[10].mean(), fewer[50].mean()]
    return out


def rates(c: Counts, sizes: Sequence[int] = SIZES, list_length: int = sr.LIST_LENGTH
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FPIR (S, T), TPIR (S, T), hit rates (S, 3)) at each gallery size."""
    t = THRESHOLDS
    fpir, tpir, hits = (np.zeros((len(sizes), len(t))), np.zeros((len(sizes), len(t))),
                        np.zeros((len(sizes), 3)))
    r_pool = c.n_real.astype(np.float64)
    mate_in = c.d_mate[:, None] <= t[None]  # (Q, T)
    ks = sorted({1, 10, 50, list_length})  # each rank cut computed once
    for si, n in enumerate(sizes):
        if n <= r_pool.min():
            none = _p_none(r_pool[:, None], c.real_le_t, n)
        else:
            extra = np.maximum(n - r_pool, 0)
            f_syn_t = c.syn_le_t / c.n_syn
            none = np.where(c.real_le_t == 0, 1.0, 0.0) * np.exp(
                extra[:, None] * np.log1p(-np.clip(f_syn_t, 0, 1 - 1e-12)))
        fewer = _mate_fewer(c, n, ks)
        fpir[si] = 1.0 - none.mean(axis=0)
        tpir[si] = (mate_in * fewer[list_length][:, None]).mean(axis=0)
        hits[si] = [fewer[1].mean(), fewer[10].mean(), fewer[50].mean()]
    return fpir, tpir, hits


# --- queries ---------------------------------------------------------------------------------
def out_of_fold_adapted(data: Any, cfg: Any, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each train query moved by an adapter fitted without its person."""
    from trainer.adapter import fit

    people = np.unique(data.query_id)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(people).tolist(),
                       np.arange(len(people)) % folds, strict=True))
    fold = np.array([fold_of[q] for q in data.query_id.tolist()])
    out = np.empty_like(data.fused)
    for f in range(folds):
        rows = np.flatnonzero(fold == f)
        a = fit(data, cfg, np.flatnonzero(fold != f))
        out[rows] = a(data.fused[rows], data.mean[rows], data.raw[rows])
        log.info("fold %d of %d: %d queries", f + 1, folds, len(rows))
    return out


def synthetic_pool(data: Any, n: int = SYNTHETIC, seed: int = 7, two_way: bool = False
                   ) -> np.ndarray:
    """Faces fitted to the bank's LFW train photos (colour block: LFW is grey anyway);
    `two_way`: pairs of a face's photo and drawing descriptors (`core.drawn.pair`), fitted
    jointly so a synthetic face's drawing goes with its photo as a real one's does."""
    from trainer.adapter import lfw_train_photos

    files, keys = lfw_train_photos()
    bank = pair(data.bank, data.drawn) if two_way else data.bank
    return lfw_like_faces(bank[:len(files)], keys, n, seed)


def lfw_like_faces(lfw: np.ndarray, keys: list[str], n: int = SYNTHETIC, seed: int = 7
                   ) -> np.ndarray:
    """`n` synthetic faces fitted to LFW train's descriptors (`lfw`, one row a photo of
    person `keys`), two photos a synthetic person."""
    from sketchlab.core import synthetic_descriptors as syn

    return syn.generate(syn.fit(lfw, keys), n, seed=seed, photos_per_identity=2)


SET_WORDS = {"cufs_train": "CUFS", "fs2k_train": "FS2K", "lfw_synth": "synthetic LFW",
             "celeba_synth": "synthetic CelebA"}


def stored_tables(loaded: Any) -> tuple[dict[str, sr.SearchCalibration], dict[str, Any]]:
    """The 1:N tables a loaded model file carries, and what they were read with."""
    if sr.METADATA_KEY not in loaded.metadata:
        raise ValueError(f"{loaded.path} holds no 1:N tables: `search-rates --write` "
                         "measures them")
    return sr.loads(loaded.metadata[sr.METADATA_KEY])


def set_words(name: str) -> str:
    """A query set in words; a held-out fold of one (`trainer.held_out_rates`) says so."""
    from trainer.data.folds import FOLD_MARK

    base, _, fold = name.partition(FOLD_MARK)
    return SET_WORDS[base] + (f" (held-out people, fold {fold.replace('of', ' of ')})"
                              if fold else "")


def _rows(per_query: Any, rows: np.ndarray) -> Any:
    """`Counts` or `Nearest` of only these queries (every array field is per query)."""
    return dataclasses.replace(per_query, **{
        f.name: getattr(per_query, f.name)[rows] for f in dataclasses.fields(per_query)
        if isinstance(getattr(per_query, f.name), np.ndarray)})


def joined(parts: Sequence[Any]) -> Any:
    """`Counts` or `Nearest` of several blocks of searches, one after the other: each
    search keeps its own faces, so searches against different galleries (each fold's
    drawings) read as one set of searches. Their synthetic pools must be as large."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if len({p.n_syn for p in parts}) != 1 or len({type(p) for p in parts}) != 1:
        raise ValueError("searches joined must be of one kind against as many synthetic faces")
    return dataclasses.replace(first, **{
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in dataclasses.fields(first) if isinstance(getattr(first, f.name), np.ndarray)})


def hand_labels(data: Any, styles: dict[str, str] | None = None) -> np.ndarray:
    """(N,) the hand of each train search, as users are told it: its set's name
    (`HAND_NAMES`), FS2K's by the drawing style of each person (`styles`, default: as
    FS2K's manifest gives them)."""
    from trainer.data.folds import base_set

    if styles is None and any(base_set(g) == "fs2k_train" for g in data.group):
        from sketchlab.core.manifest import read_manifest
        from trainer.adapter import FS2K

        styles = {str(r.identity): r.style for r in read_manifest(FS2K, "train")}
    style = styles or {}
    ids = data.identity if data.identity is not None else [""] * len(data.group)
    return np.array([HAND_NAMES.get(base_set(g), g).format(style=style.get(str(i), "?"))
                     for g, i in zip(data.group, ids, strict=True)], dtype=object)


def set_labels(data: Any) -> np.ndarray:
    """(N,) the set of each train search's hand, FS2K's styles as one (`HAND_NAMES`)."""
    from trainer.data.folds import base_set

    return np.array([HAND_NAMES.get(base_set(g), g).partition(" style")[0]
                     for g in data.group], dtype=object)


def hardest_parts(rows: np.ndarray, sets: np.ndarray, hands: np.ndarray, name: str,
                  least: int = MIN_HAND_SEARCHES) -> list[np.ndarray]:
    """The searches a group of sketches drawn most like set `name` (`rows`) is stated at:
    each of the set's own hands among them (`sets`, `hands`: every search's labels) with
    `least` searches or more, the group told the least rates of any (`_tables`); all of
    `rows` when none has so many."""
    mine = rows[sets[rows] == name]
    parts = [mine[hands[mine] == h] for h in sorted({str(x) for x in hands[mine]})]
    return [p for p in parts if len(p) >= least] or [rows]


def hand_centroids(raw: np.ndarray, labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The hands (names, sorted) and the mean raw-sketch descriptor of each one's searches."""
    names = tuple(sorted({str(x) for x in labels}))
    return names, np.stack([np.asarray(raw, np.float64)[labels == n].mean(0) for n in names])


def spread_edges(spread: np.ndarray, groups: int = SPREAD_GROUPS) -> np.ndarray:
    """The cuts between `groups` equal shares of the searches by reading spread."""
    return np.quantile(spread, np.arange(1, groups) / groups)


def _tables(per_query: Any, reference_rank: int, sizes: Sequence[int] = SIZES,
            seed: int = 0, groups: np.ndarray | None = None, n_groups: int = 0,
            absent: np.ndarray | None = None,
            parts: Sequence[Sequence[np.ndarray]] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """(grid, FPIR, TPIR, hits, by group) of searches' faces (`faces_near`): distance
    thresholds (reference_rank 0), or ratios to the search's reference_rank-th person.
    `groups` (Q,) in 0..n_groups-1: the same (FPIR, TPIR, hits) of each group's searches
    alone; or `parts`, each group's sets of searches (`hardest_parts`), the group's
    table the worst of theirs (the most FPIR, the least TPIR and hits). `absent` (indices
    into the queries): the FPIR is read from these searches only."""
    grid, table = _reader(per_query, reference_rank, sizes, seed)
    if parts is None and groups is not None:
        parts = [[np.flatnonzero(groups == g)] for g in range(n_groups)]
    by_group = [] if parts is None else [_worst([table(p) for p in ps]) for ps in parts]
    fpir, tpir, hits = table(None)
    if absent is not None:
        fpir = table(np.asarray(absent))[0]
    return grid, fpir, tpir, hits, by_group


def _worst(tables: Sequence[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The least hopeful of several (FPIR, TPIR, hits) tables, entry by entry."""
    if len(tables) == 1:
        return tables[0]
    fpir, tpir, hits = zip(*tables, strict=True)
    return np.max(fpir, 0), np.min(tpir, 0), np.min(hits, 0)


def faces_near(queries: np.ndarray, mates: np.ndarray, bank: np.ndarray,
               non_mate: np.ndarray, synthetic: np.ndarray, reference_rank: int,
               bank_person: np.ndarray) -> Counts | Nearest:
    """What each search meets, as a reading needs it: faces within each distance
    threshold (reference_rank 0, `count_faces`), or its nearest strangers."""
    if reference_rank:
        return nearest_strangers(queries, mates, bank, non_mate, synthetic,
                                 bank_person=bank_person)
    return count_faces(queries, mates, bank, non_mate, synthetic, bank_person)


def _reading(queries: np.ndarray, mates: np.ndarray, bank: np.ndarray, non_mate: np.ndarray,
             synthetic: np.ndarray, reference_rank: int, bank_person: np.ndarray,
             sizes: Sequence[int] = SIZES, seed: int = 0) -> tuple[np.ndarray, Any]:
    """The grid of one reading and `table(rows)`: (FPIR, TPIR, hits) of those searches
    (None: all), the faces counted once however many ways the searches are grouped."""
    return _reader(faces_near(queries, mates, bank, non_mate, synthetic, reference_rank,
                              bank_person), reference_rank, sizes, seed)


def _reader(per_query: Any, reference_rank: int, sizes: Sequence[int] = SIZES, seed: int = 0
            ) -> tuple[np.ndarray, Any]:
    """`_reading` of faces already found (`faces_near`, or several blocks `joined`)."""
    def rates_of(c: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return relative_rates(c, sizes, reference_rank, seed=seed) if reference_rank else \
            rates(c, sizes)

    def table(rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return rates_of(per_query if rows is None else _rows(per_query, rows))

    return (RATIOS if reference_rank else THRESHOLDS), table


@dataclass
class Searches:
    """A block of train searches read one way: `data`'s rows `rows` (None: all) as
    `queries` (kind -> (N, D) descriptors), against `bank` (None: `data.bank`) then the
    synthetic faces `synthetic`. Blocks read by different networks (each held-out fold's
    generator and drawer) are measured as one set of searches (`measure_pooled`)."""

    data: Any
    queries: dict[str, np.ndarray]
    synthetic: np.ndarray
    rows: np.ndarray | None = None
    bank: np.ndarray | None = None

    @property
    def idx(self) -> np.ndarray:
        return np.arange(len(self.data.target)) if self.rows is None else self.rows

    @property
    def searched(self) -> np.ndarray:
        return self.data.bank if self.bank is None else self.bank

    def faces(self, kind: str, reference_rank: int) -> Counts | Nearest:
        idx, bank = self.idx, self.searched
        return faces_near(self.queries[kind][idx], bank[self.data.target[idx]], bank,
                          _non_mates(self.data, idx), self.synthetic, reference_rank,
                          self.data.bank_id)


def measure(data: Any, queries: dict[str, np.ndarray], synthetic: np.ndarray,
            rows: np.ndarray | None = None, sets: Sequence[str] = tuple(SET_WORDS),
            reference_rank: int = 0, absent_sets: Sequence[str] | None = ABSENT_SETS,
            bank: np.ndarray | None = None, read_by: str = "", groups_by: str = "spread"
            ) -> dict[str, sr.SearchCalibration]:
    """The tables of each query kind from the train searches `rows` (`measure_pooled` of
    one block). `bank`: the faces searched, if not `data.bank` (two-way pairs,
    `core.drawn.pair`)."""
    return measure_pooled([Searches(data, queries, synthetic, rows, bank)], sets,
                          reference_rank, absent_sets, read_by, groups_by)


def measure_pooled(blocks: Sequence[Searches], sets: Sequence[str] = tuple(SET_WORDS),
                   reference_rank: int = 0, absent_sets: Sequence[str] | None = ABSENT_SETS,
                   read_by: str = "", groups_by: str = "spread", drawn_by: str = ""
                   ) -> dict[str, sr.SearchCalibration]:
    """The tables of each query kind from the searches of every block: absent-person rates
    from those of `absent_sets` (None: all of them), present-person rates from all, and,
    when the searches are the model's own readings (`data.spread` set), by group of
    sketches like this: cut by `groups_by` ("spread", "hand" or "set", `GROUPINGS`), the
    cut set by every block's searches together. `read_by`: how the sketches were read, if
    not by the model; `drawn_by`: who drew a two-way gallery, if not the model's drawer
    (for the source text)."""
    if not blocks or len({tuple(b.queries) for b in blocks}) != 1:
        raise ValueError("every block of searches must be read as the same kinds")
    if groups_by not in GROUPINGS:
        raise ValueError(f"groups_by must be one of {GROUPINGS}, not {groups_by!r}")
    group = np.concatenate([np.asarray(b.data.group, object)[b.idx] for b in blocks])
    n = len(group)
    searched = ("; two-way: each face also drawn as a sketch" + drawn_by
                + " and compared with the sketch as drawn"
                if any(b.searched.shape[1] != b.data.bank.shape[1] for b in blocks) else "")
    absent = None
    absent_words = ""
    if absent_sets is not None and not set(sets) <= set(absent_sets):
        absent = np.flatnonzero(np.isin(group, list(absent_sets)))
        if not len(absent):
            raise ValueError(f"none of the searches is of {', '.join(absent_sets)}")
        absent_words = (f"; absent-person rates from the {len(absent):,} "
                        f"{listed(set_words(x) for x in absent_sets)} ones")
    cut: dict[str, Any] = {}
    groups = None
    n_groups = 0
    parts = None
    bound = ""
    if all(b.data.spread is not None for b in blocks) and groups_by in ("hand", "set"):
        raw = np.concatenate([b.data.raw[b.idx] for b in blocks])
        hands = np.concatenate([hand_labels(b.data)[b.idx] for b in blocks])
        labels = hands if groups_by == "hand" else \
            np.concatenate([set_labels(b.data)[b.idx] for b in blocks])
        names, centroids = hand_centroids(raw, labels)
        groups = sr.hand_groups(centroids, raw)
        cut, n_groups = {"hand_centroids": centroids, "hand_names": names}, len(names)
        if groups_by == "set":
            parts = [hardest_parts(np.flatnonzero(groups == g), labels, hands, name)
                     for g, name in enumerate(names)]
            bound = SET_BOUND_WORDS
    elif all(b.data.spread is not None for b in blocks):
        spread = np.concatenate([b.data.spread[b.idx] for b in blocks])
        edges = spread_edges(spread)
        groups = sr.spread_groups(edges, spread)
        cut, n_groups = {"spread_edges": edges}, SPREAD_GROUPS
    out = {}
    for kind in blocks[0].queries:
        grid, fpir, tpir, hits, by_group = _tables(
            joined([b.faces(kind, reference_rank) for b in blocks]), reference_rank,
            groups=groups, n_groups=n_groups, absent=absent, parts=parts)
        grouped = {} if groups is None else {
            **cut, "tpir_by_spread": np.stack([g[1] for g in by_group], 1),
            "hits_by_spread": np.stack([g[2] for g in by_group], 1)}
        out[kind] = sr.SearchCalibration(
            kind, np.array(SIZES, np.float64), grid.astype(np.float64), fpir, tpir,
            hits, n, n if absent is None else len(absent),
            f"{n:,} train sketch searches ({listed(set_words(x) for x in sets)} "
            f"sketches; colour and grey){read_by}{absent_words}, galleries of real photos then "
            f"synthetic faces{searched}{bound}",
            reference_rank=reference_rank, **grouped)
        t13 = out[kind].threshold_for(0.05, 13_000)
        log.info("%s (reference rank %d): FPIR 5%% threshold at 13k = %.3f", kind,
                 reference_rank, t13)
        for g, (f_g, _, h_g) in enumerate(by_group):  # the FPIR stays one table: shown here
            log.info("  %s (%d searches): FPIR at that threshold %.3f, top 10 at 13k %.3f",
                     out[kind].group_name(g), int((groups == g).sum()),  # type: ignore[union-attr]
                     float(np.interp(t13, grid, _interp_13k(f_g))), float(_interp_13k(h_g)[1]))
    return out


def _non_mates(data: Any, idx: np.ndarray) -> np.ndarray:
    """(Q, M): the bank faces each query's search holds that are of other people. A grey
    query searches the grey block of the bank, a colour one the colour block."""
    non_mate = data.bank_id[None, :] != data.query_id[idx, None]
    block = np.arange(len(data.bank)) >= len(data.bank) // 2
    return non_mate & (block[None, :] == data.grey[idx, None])


def trained_lfw_photos() -> set[str]:
    """The LFW photos the default recipe's synthetic source trains on
    (`trainer/configs/default.toml`: its seeded subset of LFW train)."""
    from sketchlab.core.manifest import read_manifest
    from trainer.config import load_config
    from trainer.data.align_cache import select_rows

    cfg = load_config(Path(__file__).parent / "configs" / "default.toml")
    src = next(s for s in cfg.sources if s.name == "lfw")
    return {str(r.photo) for r in select_rows(read_manifest(src.manifest, src.split),
                                              src.max_items)}


def by_query_set(data: Any, stated: sr.SearchCalibration, queries: np.ndarray,
                 synthetic: np.ndarray, rows: np.ndarray, sketched: np.ndarray,
                 trained: set[str]) -> list[dict[str, Any]]:
    """Each train set's own rates at the stated thresholds: what the pooled 5 % is made
    of. Synthetic LFW sketches are split by whether the generator trained on the photo
    sketched (`sketched`: each row's drawn-from photo, `TrainData.sketched`), to see
    whether searches of sketches the generator saw read differently from unseen ones."""
    group = np.asarray(data.group, object)[rows].copy()
    lfw = group == "lfw_synth"
    seen = np.array([p in trained for p in sketched[rows]])
    group[lfw & seen] = "lfw_synth, photo trained on"
    group[lfw & ~seen] = "lfw_synth, photo not trained on"
    return rates_at_stated(data, stated, queries, synthetic, rows, group)


def rates_at_stated(data: Any, stated: sr.SearchCalibration, queries: np.ndarray,
                    synthetic: np.ndarray, rows: np.ndarray, group: np.ndarray,
                    bank: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The rates of each `group` (a label per row of `rows`) of train searches at the
    thresholds `stated` gives at 1k, 13k and 1M faces (FPIR 5 %). `bank`: the faces
    searched, if not `data.bank` (two-way pairs)."""
    names = sorted(set(group))
    codes = np.array([names.index(g) for g in group])
    faces = Searches(data, {"": queries}, synthetic, rows, bank).faces(
        "", stated.reference_rank)
    grid, _, _, _, parts = _tables(faces, stated.reference_rank, TEST_SIZES, groups=codes,
                                   n_groups=len(names))
    thresholds = [stated.threshold_for(sr.DEFAULT_FPIR, n) for n in TEST_SIZES]
    out = []
    for name, (fpir, tpir, hits) in zip(names, parts, strict=True):
        for si, (n, t) in enumerate(zip(TEST_SIZES, thresholds, strict=True)):
            out.append({"set": name, "n": int((group == name).sum()), "gallery": n,
                        "fpir": round(float(np.interp(t, grid, fpir[si])), 4),
                        "tpir": round(float(np.interp(t, grid, tpir[si])), 4),
                        "top10": round(float(hits[si][1]), 4)})
    return out


# The unseen-artist reading (`--unseen-artist`): each hand-drawn train sketch read through
# the protocol generator that never saw its set (trainer/protocol), with that generator's
# own adapter, fitted without the set too. Neither part has seen the artist or the person,
# as with a new artist's sketch, so the stated rates can be read against such searches.
PROTOCOL = Path(__file__).parent / "protocol"
PROTOCOL_GENERATORS = {"cufs_train": "leave-out-cufs-10k.safetensors",
                       "fs2k_train": "leave-out-fs2k.safetensors"}
# When the search draws the gallery with a network, the unseen-artist rates draw it with
# one that never saw the set either (trainer/configs/drawing-leave-out-*.toml): a drawer
# trained on an artist's pairs draws the train photos as that artist drew them.
PROTOCOL_DRAWERS = {"cufs_train": "drawing-leave-out-cufs.safetensors",
                    "fs2k_train": "drawing-leave-out-fs2k.safetensors"}
TEST_OF = {"cufs_train": "cufs_cuhk", "fs2k_train": "fs2k"}  # each train set's test set


def unseen_artist_queries(data: Any, models: dict[str, Path] | None = None,
                          root: Path = Path("runs/descriptors")
                          ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """({"variants", "adapted"} descriptors, rows, what read them): the rows of `data` of
    each hand-drawn set in `models` (default PROTOCOL_GENERATORS), read through that set's
    generator from its descriptor pack (described first when missing); other rows are NaN.
    The packs must list the same sketches, in the same order, as `data`'s."""
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.query import fuse
    from trainer.adapter import (
        describe,
        model_ink_gamma,
        model_raw_weight,
        pack_dir,
        train_sets,
    )
    from trainer.descriptors import load_pack
    from trainer.evaluate import adapter_of

    models = models or {k: PROTOCOL / v for k, v in PROTOCOL_GENERATORS.items()}
    group = np.asarray(data.group)
    out = {k: np.full_like(data.fused, np.nan) for k in ("variants", "adapted")}
    made_by: dict[str, Any] = {}
    for name, path in models.items():
        loaded = load_generator(path)
        adapter = adapter_of(loaded)
        if adapter is None:
            raise ValueError(f"{path} carries no query adapter: `adapter write` stores one")
        pack = pack_dir(loaded.sha256, root, model_ink_gamma(loaded.path)) / f"{name}.npz"
        if not pack.is_file():  # described once, then read from the pack
            describe(str(path), [s for s in train_sets() if s.name == name], root=root)
        d = load_pack(pack, loaded.sha256)[0][name]
        w = model_raw_weight(loaded)  # as `evaluate` reads it
        made_by[name] = {"model": path.name, "model_sha256": loaded.sha256,
                         "adapter_sha256": adapter.sha256}
        for grey, var, raw in ((False, d.variants, d.raw), (True, d.variants_grey, d.raw_grey)):
            rows = np.flatnonzero((group == name) & (data.grey == grey))
            if len(rows) != len(raw) or not np.allclose(raw, data.raw[rows], atol=1e-4):
                raise ValueError(f"{pack} does not list {name}'s sketches as the model's "
                                 "packs do")
            fused = fuse(var, raw, w)
            out["variants"][rows] = fused
            out["adapted"][rows] = adapter(fused, var.mean(axis=1), raw)
    rows = np.flatnonzero(np.isin(group, list(models)))
    return out, rows, made_by


def measure_by_set(data: Any, queries: dict[str, np.ndarray], rows: np.ndarray,
                   drawings: dict[str, tuple[np.ndarray, np.ndarray]], reference_rank: int,
                   read_by: str = "") -> dict[str, sr.SearchCalibration]:
    """Two-way tables of searches whose gallery is drawn differently for each query set:
    `drawings` maps a set to (the bank drawn for its searches, (M, 128); the synthetic
    two-way faces fitted to that bank). Each set's searches meet their own drawings and
    are measured together (`measure_pooled`; every search an absent-person one too)."""
    group = np.asarray(data.group)
    blocks = [Searches(data, queries, synthetic, rows[group[rows] == name],
                       pair(data.bank, drawn))
              for name, (drawn, synthetic) in drawings.items() if (group[rows] == name).any()]
    if not blocks:
        raise ValueError("none of the searches is of a set with a drawing")
    return measure_pooled(blocks, tuple(drawings), reference_rank, None, read_by,
                          drawn_by=", for each set's searches by a drawing network that "
                                   "never saw that set,")


def _interp_13k(table: np.ndarray) -> np.ndarray:
    return sr.interp_size(table, np.array(SIZES, np.float64), 13_000)


def listed(words: Any) -> str:
    w = list(words)
    return w[0] if len(w) == 1 else ", ".join(w[:-1]) + " and " + w[-1]


TEST_SIZES = (1_000, 13_000, 1_000_000)


def test_check(loaded: Any, kinds: dict[str, sr.SearchCalibration],
               pools: dict[str, np.ndarray], workers: int = 2, fpir: float = sr.DEFAULT_FPIR,
               unseen: dict[str, Any] | None = None, drawer: str = "",
               unseen_drawn: dict[str, tuple[str, np.ndarray]] | None = None,
               query_kinds: Sequence[str] = (), by_group: bool = False
               ) -> list[dict[str, Any]]:
    """The stated rates against the same rates measured on held-out test searches: CUFS
    and FS2K test sketches (the app's searched descriptor), each set against its own test
    photos + every LFW photo (colour with colour, grey with grey), mated and with the
    person's photo left out, galleries of 1k, 13k and 1M faces built as in `measure`.
    A stated present-person rate is the mean of what each search is told (its own spread
    group's figure, when the tables are grouped); `by_spread` compares group by group. `pools`:
    the synthetic faces by search ("" one-way; TWO_WAY pairs, checked when the tables
    hold that kind). `unseen` (test set -> the loaded generator that never saw it): the
    rates stated for an artist never seen (`sr.UNSEEN_ARTIST` kinds) against that set's
    test sketches read through it, with its own adapter, at this model's thresholds
    (read with fp32 PyTorch, as `evaluate` reads the protocol generators). `drawer`: the
    network that draws the gallery for the two-way search ("" the pencil filter);
    `unseen_drawn` (test set -> (drawer file, synthetic two-way faces)): for the
    unseen-artist searches, the gallery drawn by a network that never saw the set.
    `query_kinds`: the query kinds checked (default: the one the app searches with).
    `by_group`: each row also checked group by group (`evaluate.group_of`: CUFS by sex,
    FS2K by drawing style), since a set's rates hide groups that differ several-fold."""
    from sketchlab.core.manifest import read_manifest
    from trainer.adapter import LFW, embed_drawn, embed_gallery_photos
    from trainer.evaluate import adapter_of, group_of

    lfw = read_manifest(LFW)
    out = []
    for name, manifest in (("cufs_cuhk", "$DATA/cufs_cuhk/manifest.csv"),
                           ("fs2k", "$DATA/fs2k/manifest.csv")):
        rows = [r for r in read_manifest(manifest, "test") if r.sketch is not None]
        labels = np.array([group_of(r) for r in rows]) if by_group else None
        app_kind = "adapted" if adapter_of(loaded) is not None else "variants"
        checked = list(query_kinds) or [app_kind]
        searches = [w for w in pools if any(k + w in kinds for k in checked)]
        files = [r.photo for r in rows] + [r.photo for r in lfw]
        photos = embed_gallery_photos(files, workers, drawn=TWO_WAY in searches,
                                      drawer=drawer)
        ids = np.array([f"{name}/{r.identity}" for r in rows] + [f"lfw/{r.identity}"
                                                                 for r in lfw])
        readers = [("", loaded)]
        if unseen and name in unseen:
            readers.append((sr.UNSEEN_ARTIST, unseen[name]))
        for suffix, reader in readers:
            found = _read_test(reader, rows, f"{name}_test", workers, fp32=bool(suffix))
            seen_by, pools_by = photos, pools
            if suffix and unseen_drawn and name in unseen_drawn and TWO_WAY in searches:
                file, synthetic = unseen_drawn[name]
                seen_by = {**photos, "drawn": embed_drawn(files, workers, file)}
                pools_by = {**pools, TWO_WAY: synthetic}
            for one_way in checked:
                out += _check_set(name, found, seen_by, ids, len(rows), kinds, pools_by,
                                  one_way, [w for w in searches if one_way + w + suffix in kinds],
                                  suffix, fpir, labels)
    return out


def _read_test(loaded: Any, rows: list[Any], pack: str, workers: int, fp32: bool
               ) -> dict[str, Any]:
    """The app's descriptors of test sketches through `loaded` (with its adapter); `fp32`:
    read with fp32 PyTorch, the environment restored after."""
    from trainer.evaluate import adapter_of, engine_env, identification_queries

    with engine_env("torch", "fp32") if fp32 else engine_env(None, None):
        return identification_queries(loaded, rows, pack, workers, adapter_of(loaded))


# Which of the test searches' descriptors (`trainer.evaluate.identification_queries`) each
# query kind searches with.
FOUND_KEY = {"adapted": "searched", "variants": "fused", "raw": "raw"}


def _check_set(name: str, found: dict[str, Any], photos: dict[str, np.ndarray],
               ids: np.ndarray, n_rows: int, kinds: dict[str, sr.SearchCalibration],
               pools: dict[str, np.ndarray], one_way: str, searches: list[str], suffix: str,
               fpir: float, labels: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One test set's check rows: for each search (one-way, two-way) and colour/grey, the
    rates stated by `kind + suffix` at the threshold `kind` sets, against those measured.
    `labels` (one per search): the same check of each group's searches alone (`by_group`:
    what those searches were told, and what they found)."""
    out = []
    qid = ids[:n_rows]
    non_mate = ids[None, :] != qid[:, None]
    for way, grey in ((w, g) for w in searches for g in (False, True)):
        kind, synthetic = one_way + way, pools[way]
        bank = photos["grey" if grey else "colour"]
        q = found[FOUND_KEY[one_way] + ("_grey" if grey else "")]
        spread = found["spread_grey" if grey else "spread"]
        raw = found["raw_grey" if grey else "raw"]
        if way:
            bank = pair(bank, photos["drawn"])
            q = pair(q, raw)
        sets_threshold, stated = kinds[kind], kinds[kind + suffix]
        groups = stated.groups_of(spread, raw)
        grid, table = _reading(q, bank[:n_rows], bank, non_mate, synthetic,
                               stated.reference_rank, ids, TEST_SIZES, seed=1)
        fpir_m, tpir_m, hits_m = table(None)
        by_spread = [] if groups is None else [
            table(np.flatnonzero(groups == g)) for g in range(stated.n_groups)]
        by_label = {} if labels is None else {
            str(g): (labels == g, table(np.flatnonzero(labels == g))) for g in np.unique(labels)}
        for si, n in enumerate(TEST_SIZES):
            t = sets_threshold.threshold_for(fpir, n)
            row = {"set": name, "images": "grey" if grey else "colour", "gallery": n,
                   "kind": one_way,
                   "search": ("two-way" if way else "one-way") + (
                       ", unseen artist" if suffix else ""),
                   "threshold": round(t, 4),
                   "fpir_stated": round(stated.fpir_at(t, n), 4),
                   "fpir_measured": round(float(np.interp(t, grid, fpir_m[si])), 4),
                   **_present_rates(stated, t, n, spread, raw, grid, tpir_m[si], hits_m[si]),
                   "n": n_rows}
            if groups is not None:
                row["by_spread"] = [
                    {"group": stated.group_name(g), "n": int((groups == g).sum()),
                     **_present_rates(stated, t, n, spread[groups == g], raw[groups == g],
                                      grid, tpir_g[si], hits_g[si])}
                    for g, (_, tpir_g, hits_g) in enumerate(by_spread) if (groups == g).any()]
            if by_label:
                row["by_group"] = [_with_intervals({
                    "group": g, "n": int(m.sum()), "fpir_stated": row["fpir_stated"],
                    "fpir_measured": round(float(np.interp(t, grid, fpir_g[si])), 4),
                    **_present_rates(stated, t, n, spread[m], raw[m], grid, tpir_g[si],
                                     hits_g[si])})
                    for g, (m, (fpir_g, tpir_g, hits_g)) in by_label.items()]
            out.append(_with_intervals(row))
    return out


def _with_intervals(row: dict[str, Any]) -> dict[str, Any]:
    """The 95 % interval of each measured FPIR and FNIR over the row's n searches, and how
    the stated rate reads against it (`trainer.intervals.agreement`)."""
    from trainer.intervals import agreement, wilson

    for k in ("fpir", "fnir"):
        m = row[f"{k}_measured"]
        row[f"{k}_interval"] = [round(x, 4) for x in wilson(m, row["n"])]
        row[f"{k}_agreement"] = agreement(row[f"{k}_stated"], m, row["n"])
    return row


def _present_rates(stated: sr.SearchCalibration, t: float, n: int, spread: np.ndarray,
                   raw: np.ndarray, grid: np.ndarray, tpir_m: np.ndarray, hits_m: np.ndarray
                   ) -> dict[str, float]:
    """FNIR and top 10 / 50, stated (the mean of what each search is told: its group's
    figure, by its spread and raw descriptor) and measured."""
    told_tpir = np.mean([stated.tpir_at(t, n, float(s), r) for s, r in zip(spread, raw,
                                                                           strict=True)])
    told = np.mean([[stated.hits(n, float(s), r)[k] for k in (10, 50)]
                    for s, r in zip(spread, raw, strict=True)], axis=0)
    return {"fnir_stated": round(1 - float(told_tpir), 4),
            "fnir_measured": round(1 - float(np.interp(t, grid, tpir_m)), 4),
            "top10_stated": round(float(told[0]), 4),
            "top10_measured": round(float(hits_m[1]), 4),
            "top50_stated": round(float(told[1]), 4),
            "top50_measured": round(float(hits_m[2]), 4)}


def format_check(rows: list[dict[str, Any]]) -> str:
    """The check as a Markdown table: each measured FPIR and FNIR with its 95 % interval
    and whether the stated rate is within 2 points, inside that interval, or outside."""
    kinds = len({r.get("kind") for r in rows}) > 1
    lines = ["| set | images | search | " + ("query | " if kinds else "") + "gallery | "
             "threshold (distance, or ratio to the k-th row) | FPIR stated / measured (95 % "
             "interval) | FNIR stated / measured (95 % interval) | top-10 stated / measured | "
             "top-50 stated / measured |",
             "|" + "---|" * (10 if kinds else 9)]
    for r in rows:
        lines.append(f"| {r['set']} (n={r['n']}) | {r['images']} | "
                     f"{r.get('search', 'one-way')} | "
                     + (f"{r.get('kind', '')} | " if kinds else "") + f"{r['gallery']:,} | "
                     f"{r['threshold']:.3f} | {_rate(r, 'fpir')} | {_rate(r, 'fnir')} | "
                     f"{_p(r['top10_stated'])} / {_p(r['top10_measured'])} | "
                     f"{_p(r['top50_stated'])} / {_p(r['top50_measured'])} |")
    return "\n".join(lines)


def format_by_group(rows: list[dict[str, Any]]) -> str:
    """The check's rows group by group (`test_check(by_group=True)`), as a Markdown table:
    one threshold per row, so the FPIR stated is the set's; the rest is what each group's
    searches were told against what they found."""
    lines = ["| set | images | search | gallery | group | FPIR stated / measured (95 % "
             "interval) | FNIR stated / measured (95 % interval) | top-10 stated / measured |",
             "|" + "---|" * 8]
    for r in rows:
        for g in r.get("by_group", []):
            lines.append(
                f"| {r['set']} | {r['images']} | {r.get('search', 'one-way')} | "
                f"{r['gallery']:,} | {g['group']} (n={g['n']}) | {_rate(g, 'fpir')} | "
                f"{_rate(g, 'fnir')} | {_p(g['top10_stated'])} / {_p(g['top10_measured'])} |")
    return "\n".join(lines)


def _p(x: float) -> str:
    return f"{100 * x:.1f} %"


def _rate(r: dict[str, Any], k: str) -> str:
    """A stated / measured rate with the measured one's 95 % interval and the agreement."""
    low, high = r[f"{k}_interval"]
    return (f"{_p(r[f'{k}_stated'])} / {_p(r[f'{k}_measured'])} "
            f"({100 * low:.1f}-{100 * high:.1f}, {r[f'{k}_agreement']})")


def format_by_set(rows: list[dict[str, Any]], kinds: bool = False) -> str:
    lines = ["| " + ("search | " if kinds else "") + "train set | n | gallery | absent person "
             "marked | present person marked | true person in top 10 |",
             "|" + "---|" * (7 if kinds else 6)]
    for r in rows:
        lines.append("| " + (f"{r['kind']} | " if kinds else "") +
                     f"{r['set']} | {r['n']} | {r['gallery']:,} | {100 * r['fpir']:.1f} % | "
                     f"{100 * r['tpir']:.1f} % | {100 * r['top10']:.1f} % |")
    return "\n".join(lines)


def drawer_args(args: argparse.Namespace) -> list[str]:
    """`--drawer` as model files ([] for the pencil filter, its default); a drawer draws
    the gallery of the two-way search only, and only `--present-from` takes several
    (one for each fold)."""
    from trainer.evaluate import model_path

    given = [x for x in args.drawer or [] if x != "pencil"]
    if not given:
        return []
    if not args.two_way:
        raise ValueError("a drawer draws the gallery for the two-way search: add --two-way")
    if len(given) > 1 and not args.present_from:
        raise ValueError("one --drawer draws the gallery (several only with --present-from, "
                         "one for each fold)")
    return [str(model_path(x)) for x in given]


def main(args: argparse.Namespace) -> int:
    from sketchlab.core.checkpoint import load_generator, update_metadata
    from sketchlab.core.drawn import PENCIL, Drawing, two_way_fields
    from trainer.adapter import (
        TRAIN_SETS,
        FitConfig,
        drawn_bank,
        load_train_data,
        model_ink_gamma,
        model_raw_weight,
        pack_dir,
    )
    from trainer.evaluate import adapter_of, model_path

    if args.stored:
        return stored_check_main(args)
    # the options first: the descriptors take minutes to load
    sets = tuple(args.query_sets or TRAIN_SETS)
    absent_sets = None if args.absent_sets == ["all"] else tuple(args.absent_sets or ABSENT_SETS)
    unknown = (set(sets) | set(absent_sets or ())) - set(TRAIN_SETS)
    if unknown:
        raise ValueError(f"unknown query set(s) {sorted(unknown)}; choose from {TRAIN_SETS}")
    if absent_sets is not None and not set(sets) & set(absent_sets):
        raise ValueError("none of the query sets is one the absent-person rates are read "
                         f"from ({', '.join(absent_sets)}); add one or pass --absent-sets all")
    reference_rank = (args.reference_rank or REFERENCE_RANK) if args.reading == "relative" \
        else 0
    if reference_rank:
        check_reference_rank(reference_rank)
    drawer = next(iter(drawer_args(args)), "")
    drawing = Drawing.by_network(drawer) if drawer else PENCIL
    path = model_path(args.model)
    loaded = load_generator(path)
    w = model_raw_weight(loaded)
    data = load_train_data(pack_dir(loaded.sha256, ink_gamma=model_ink_gamma(loaded.path)),
                           TRAIN_SETS, w, args.workers, drawn=args.two_way, drawer=drawer)
    pool = np.flatnonzero(np.isin(np.asarray(data.group), sets))
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(pool, min(args.max_queries, len(pool)), replace=False))
    queries = {"variants": data.fused, "raw": data.raw}
    adapter = adapter_of(loaded)
    if adapter is not None:
        cfg = FitConfig(**adapter.info["fit"])
        queries["adapted"] = out_of_fold_adapted(data, cfg)
    synthetic = synthetic_pool(data)
    kinds = measure(data, queries, synthetic, rows, sets, reference_rank, absent_sets,
                    groups_by=args.groups)
    pools = {"": synthetic}
    banks = {"": data.bank}  # the faces each search compares with, by way
    extra = {"model_sha256": loaded.sha256,
             "adapter_sha256": adapter.sha256 if adapter is not None else ""}
    if args.two_way:  # the same searches, the gallery drawn as sketches too (core.drawn)
        pools[TWO_WAY] = synthetic_pool(data, two_way=True)
        banks[TWO_WAY] = pair(data.bank, data.drawn)
        kinds.update(measure(data, {k + TWO_WAY: pair(q, data.raw) for k, q in queries.items()},
                             pools[TWO_WAY], rows, sets, reference_rank, absent_sets,
                             bank=banks[TWO_WAY], groups_by=args.groups))
        extra["two_way"] = two_way_fields(drawing.model)
    unseen_drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if args.unseen_artist:  # the same searches by an artist never seen: their own kinds
        unseen, hand, extra["unseen_artist"] = unseen_artist_queries(data)
        plain = dataclasses.replace(data, spread=None)  # the model's own readings' groups
        read_by = (", each read through a generator of this recipe that never saw its set "
                   "(and its own query adapter, fitted without it)")
        if args.two_way and drawer:  # each set's gallery drawn by a network that never saw it
            for name, file in PROTOCOL_DRAWERS.items():
                d = drawn_bank(data, str(PROTOCOL / file), args.workers)
                unseen_drawn[name] = (d, synthetic_pool(dataclasses.replace(data, drawn=d),
                                                        two_way=True))
                extra["unseen_artist"][name]["drawer"] = file
                extra["unseen_artist"][name]["drawn_model"] = Drawing.by_network(
                    PROTOCOL / file).model
        for way, synth in pools.items():
            queries_u = {k + way + sr.UNSEEN_ARTIST: pair(q, data.raw) if way else q
                         for k, q in unseen.items() if k + way in kinds}
            if way and unseen_drawn:
                kinds.update(measure_by_set(plain, queries_u, hand, unseen_drawn,
                                            reference_rank, read_by))
                continue
            kinds.update(measure(plain, queries_u, synth, hand, tuple(PROTOCOL_GENERATORS),
                                 reference_rank, None, bank=banks[way], read_by=read_by))
    if args.write:
        update_metadata(path, {sr.METADATA_KEY: sr.dumps(kinds, extra)})
        from sketchlab.core.model_catalog import DRAWERS, find_drawer, search_dirs

        if args.two_way and find_drawer(drawing.model) is None:
            log.warning("%s is not installed in a %r folder beside the models (%s): the app "
                        "searches one way with this model until it is", drawer, DRAWERS,
                        ", ".join(map(str, search_dirs())))
    report = {k: {"threshold_at_5pct": {n: round(c.threshold_for(0.05, n), 4)
                                        for n in (1_000, 13_000, 1_000_000)},
                  "hits": {n: c.hits(n) for n in (1_000, 13_000, 1_000_000)},
                  **({} if not c.n_groups else {
                      "groups": [c.group_name(g) for g in range(c.n_groups)],
                      "hits_by_group_13k": sr.interp_size(
                          c.hits_by_spread, c.sizes, 13_000).round(4).tolist()})}
              for k, c in kinds.items()}
    if args.by_set:
        kind = "adapted" if "adapted" in kinds else "variants"
        report["by_set"] = by_query_set(data, kinds[kind], queries[kind], pools[""], rows,
                                        data.sketched, trained_lfw_photos())
    if args.unseen_artist and args.by_set:  # each set's own, at the stated thresholds
        label = np.asarray(data.group, object)[hand]
        report["unseen_artist_by_set"] = []
        for kind, q in unseen.items():
            for way in (w for w in pools if kind + w in kinds):
                q_way = pair(q, data.raw) if way else q
                parts = ([(hand[label == n], label[label == n], pair(data.bank, d), s)
                          for n, (d, s) in unseen_drawn.items()] if way and unseen_drawn else
                         [(hand, label, banks[way], pools[way])])
                for rows_s, label_s, bank_s, synth_s in parts:
                    report["unseen_artist_by_set"] += [
                        {"kind": kind + way, **r} for r in rates_at_stated(
                            data, kinds[kind + way], q_way, synth_s, rows_s, label_s,
                            bank_s)]
    if args.test:
        report["test"] = test_check(
            loaded, kinds, pools, args.workers, unseen={
                TEST_OF[train]: load_generator(PROTOCOL / file)
                for train, file in PROTOCOL_GENERATORS.items()} if args.unseen_artist else None,
            drawer=drawer, unseen_drawn={
                TEST_OF[train]: (str(PROTOCOL / PROTOCOL_DRAWERS[train]), s)
                for train, (_, s) in unseen_drawn.items()}, by_group=args.by_group)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items()
                      if k not in ("test", "by_set", "unseen_artist_by_set")}, indent=2))
    if args.by_set:
        print(format_by_set(report["by_set"]))
    if "unseen_artist_by_set" in report:
        print(format_by_set(report["unseen_artist_by_set"], kinds=True))
    if args.test:
        print(format_check(report["test"]))
        print_by_group(args, report["test"])
    return 0


def stored_drawing(extra: dict[str, Any]) -> str:
    """The drawing (`core.drawn.Drawing.model`) stored two-way tables were read on: the
    pencil filter's for tables with no two-way kind, or older than the field."""
    from sketchlab.core.drawn import PENCIL

    return str(extra.get("two_way", {}).get("drawn_model", PENCIL.model))


def stored_drawer(extra: dict[str, Any]) -> str:
    """The drawing network stored two-way tables were read on, as installed beside the
    models ("" for the pencil filter, or tables with no two-way kind)."""
    from sketchlab.core.model_catalog import find_drawer

    if "two_way" not in extra:
        return ""
    drawing = find_drawer(stored_drawing(extra))
    if drawing is None:
        raise ValueError("the drawing network the two-way tables were read on is not "
                         "installed in a `drawers` folder beside the models")
    return str(drawing.drawer) if drawing.drawer else ""


def test_pools(two_way: bool, drawer: str, workers: int) -> dict[str, np.ndarray]:
    """The synthetic faces test searches meet beyond the real ones, by way, fitted to every
    LFW train photo (and its drawing by `drawer`, "" the pencil filter)."""
    from trainer.adapter import embed_gallery_photos, lfw_train_photos

    files, keys = lfw_train_photos()
    lfw = embed_gallery_photos(files, workers, drawn=two_way, drawer=drawer)
    pools = {"": lfw_like_faces(lfw["colour"], keys)}
    if two_way:
        pools[TWO_WAY] = lfw_like_faces(pair(lfw["colour"], lfw["drawn"]), keys)
    return pools


def stored_check_main(args: argparse.Namespace) -> int:
    """`search-rates --stored --test`: the tables stored in the model file against the
    held-out test searches, with no train search read (minutes, not an hour)."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.evaluate import model_path

    if not args.test:
        raise ValueError("--stored checks the stored tables: add --test")
    loaded = load_generator(model_path(args.model))
    kinds, extra = stored_tables(loaded)
    two_way = any(k.endswith(TWO_WAY) for k in kinds)
    drawer = stored_drawer(extra) if two_way else ""
    pools = test_pools(two_way, drawer, args.workers)
    report = {"test": test_check(loaded, kinds, pools, args.workers, drawer=drawer,
                                 by_group=args.by_group)}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_check(report["test"]))
    print_by_group(args, report["test"])
    return 0


def print_by_group(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    if args.by_group:
        print("\nGroup by group (CUFS by sex, FS2K by drawing style):\n"
              + format_by_group(rows))
