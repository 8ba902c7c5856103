"""The 1:N rates are computed exactly from per-query counts: check them against galleries
actually drawn at random."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sketchlab.core import search_rates as sr
from trainer.search_rates import THRESHOLDS, Counts, count_faces, rates


def test_rates_match_drawn_galleries() -> None:
    rng = np.random.default_rng(0)
    q, dim, pool = 40, 8, 400
    queries = rng.normal(size=(q, dim)).astype(np.float32) * 0.1
    mates = queries + rng.normal(size=(q, dim)).astype(np.float32) * 0.08
    bank = np.concatenate([mates, rng.normal(size=(pool, dim)).astype(np.float32) * 0.15])
    non_mate = np.ones((q, len(bank)), bool)
    non_mate[np.arange(q), np.arange(q)] = False  # a query's own mate is no stranger
    synthetic = rng.normal(size=(2_000, dim)).astype(np.float32) * 0.15
    c = count_faces(queries, mates, bank, non_mate, synthetic)
    assert isinstance(c, Counts)
    ti = int(np.searchsorted(THRESHOLDS, 0.24))
    fpir, _, hits = rates(c, sizes=(30, 1_000))  # within the real pool, and past it
    drawn_fp: dict[int, list[bool]] = {30: [], 1_000: []}
    drawn_top1: dict[int, list[bool]] = {30: [], 1_000: []}
    for i in range(q):
        strangers = bank[np.flatnonzero(non_mate[i])]
        d_mate = np.linalg.norm(queries[i] - mates[i])
        for _ in range(100):
            small = strangers[rng.choice(len(strangers), 30, replace=False)]
            big = np.concatenate([strangers, synthetic[rng.choice(
                len(synthetic), 1_000 - len(strangers), replace=False)]])
            for n, g in ((30, small), (1_000, big)):
                d = np.linalg.norm(g - queries[i], axis=1)
                drawn_fp[n].append(d.min() <= THRESHOLDS[ti])
                drawn_top1[n].append((d[:n - 1] < d_mate).sum() == 0)
    for si, n in enumerate((30, 1_000)):
        assert abs(fpir[si, ti] - np.mean(drawn_fp[n])) < 0.03, n
        assert abs(hits[si, 0] - np.mean(drawn_top1[n])) < 0.03, n
    assert 0.1 < fpir[0, ti] < 0.9 and fpir[1, ti] > fpir[0, ti]
    assert (np.diff(fpir, axis=1) >= -1e-12).all()  # a looser threshold never marks fewer


def _people(rng: np.random.Generator, n: int, dim: int, per: np.ndarray) -> np.ndarray:
    """n photos of people with `per` photos each, in order: each a centre + a small spread."""
    centres = rng.normal(size=(len(per), dim)) * 0.15
    return (np.repeat(centres, per, axis=0)[:n] + rng.normal(size=(n, dim)) * 0.06
            ).astype(np.float32)


def _distinct(d: np.ndarray, who: np.ndarray) -> np.ndarray:
    """Sorted distances of each person's nearest photo (the app's list, one row a person)."""
    order = np.argsort(d, kind="stable")
    _, first = np.unique(who[order], return_index=True)
    return np.sort(d[order][first])


@dataclass
class _World:
    """Queries with their mates, strangers with several photos each (the real pool), and
    synthetic faces two to a person; bank = the mates, then the strangers."""

    queries: np.ndarray
    mates: np.ndarray
    strangers: np.ndarray
    stranger_of: np.ndarray
    synthetic: np.ndarray
    synthetic_of: np.ndarray

    @property
    def bank(self) -> np.ndarray:
        return np.concatenate([self.mates, self.strangers])

    @property
    def bank_person(self) -> np.ndarray:
        return np.concatenate([-1 - np.arange(len(self.queries)), self.stranger_of])

    @property
    def non_mate(self) -> np.ndarray:
        q = len(self.queries)
        out = np.ones((q, q + len(self.strangers)), bool)
        out[np.arange(q), np.arange(q)] = False  # a query's own mate is no stranger
        return out

    def d_mate(self, i: int) -> float:
        return float(np.linalg.norm(self.queries[i] - self.mates[i]))

    def draw(self, i: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Distances from query i to n strangers drawn at random (the real pool first, then
        synthetic faces), and who each is."""
        d_all = np.linalg.norm(self.strangers - self.queries[i], axis=1)
        pool = len(self.strangers)
        if n <= pool:
            pick = rng.choice(pool, n, replace=False)
            return d_all[pick], self.stranger_of[pick]
        pick = rng.choice(len(self.synthetic), n - pool, replace=False)
        d_syn = np.linalg.norm(self.synthetic[pick] - self.queries[i], axis=1)
        return (np.concatenate([d_all, d_syn]),
                np.concatenate([self.stranger_of, self.synthetic_of[pick]]))


def _world(rng: np.random.Generator, q: int, dim: int, pool: int, mate_spread: float,
           photos: tuple[int, int], n_synthetic: int) -> _World:
    """Many dimensions make distances bunch up, as descriptors' do."""
    queries = rng.normal(size=(q, dim)).astype(np.float32) * 0.1
    mates = queries + rng.normal(size=(q, dim)).astype(np.float32) * mate_spread
    per = rng.integers(*photos, size=pool)
    strangers = _people(rng, pool, dim, per)
    synthetic = _people(rng, n_synthetic, dim, np.full(n_synthetic // 2, 2))
    return _World(queries, mates, strangers, np.repeat(np.arange(len(per)), per)[:pool],
                  synthetic, 10_000 + np.arange(n_synthetic) // 2)


@pytest.mark.parametrize("k", [2, 10])
def test_relative_rates_match_drawn_galleries(k: int) -> None:
    """The ratio reading (distance / the search's k-th nearest person), drawn by thinning
    each query's nearest strangers, against galleries actually drawn at random, where a
    stranger may have several photos (one row of the list, as the app shows them)."""
    from trainer.search_rates import RATIOS, nearest_strangers, relative_rates

    rng = np.random.default_rng(1)
    w = _world(rng, 30, 48, 600, 0.13, (1, 4), 3_000)  # 1-3 photos a stranger
    near = nearest_strangers(w.queries, w.mates, w.bank, w.non_mate, w.synthetic, depth=400,
                             bank_person=w.bank_person)
    sizes = (100, 2_000)  # a sample of the real pool, and all of it plus synthetic faces
    fpir, tpir, _ = relative_rates(near, sizes, k, reps=64)
    ri = min(int(np.searchsorted(fpir[0], 0.2)), len(RATIOS) - 1)  # a ratio in mid-range
    fp: dict[int, list[bool]] = {n: [] for n in sizes}
    tp: dict[int, list[bool]] = {n: [] for n in sizes}
    for i in range(len(w.queries)):
        d_mate = w.d_mate(i)
        for _ in range(60):
            for n in sizes:
                d, who = w.draw(i, n, rng)
                rows = _distinct(d, who)
                fp[n].append(rows[0] <= RATIOS[ri] * rows[k - 1])  # absent: top stranger marked
                drop = rng.integers(len(d))  # the mate + n - 1 others
                others = _distinct(np.delete(d, drop), np.delete(who, drop))
                present = np.sort(np.append(others, d_mate))
                tp[n].append(d_mate <= RATIOS[ri] * present[k - 1])
    for si, n in enumerate(sizes):
        assert abs(fpir[si, ri] - np.mean(fp[n])) < 0.03, (n, fpir[si, ri], np.mean(fp[n]))
        assert abs(tpir[si, ri] - np.mean(tp[n])) < 0.04, (n, tpir[si, ri], np.mean(tp[n]))
    assert 0.01 < fpir[0, ri] < 0.9 and 0.05 < tpir[0, ri] < 0.95
    assert (np.diff(fpir, axis=1) >= 0).all() and (np.diff(tpir, axis=1) >= 0).all()


def test_two_photos_of_one_stranger_are_one_row() -> None:
    """Read face by face, a stranger's second photo would be the reference and hide how far
    the top stranger stands out; the app reads the next person."""
    from trainer.search_rates import nearest_strangers, relative_rates

    q = np.zeros((1, 4), np.float32)
    mate = np.array([[0.5, 0, 0, 0]], np.float32)
    bank = np.array([[0.5, 0, 0, 0], [1.0, 0, 0, 0], [0, 1.01, 0, 0], [0, 0, 2.0, 0]],
                    np.float32)
    non_mate = np.array([[False, True, True, True]])
    args = (q, mate, bank, non_mate, bank[:0])
    same = nearest_strangers(*args, depth=3, bank_person=np.array([0, 1, 1, 2]))
    apart = nearest_strangers(*args, depth=3, bank_person=np.array([0, 1, 2, 3]))
    f_same, _, _ = relative_rates(same, (3,), 2, reps=4)
    f_apart, _, _ = relative_rates(apart, (3,), 2, reps=4)
    # strangers at 1.0 and 1.01: ratio 0.99 face by face; with both photos one person the
    # next person is at 2.0 (ratio 0.5), which every ratio threshold >= 0.5 marks.
    assert f_apart[0, 0] == 0.0 and f_same[0, 0] == 1.0


@pytest.mark.parametrize("k", [1, 11])
def test_reference_rank_stays_in_the_list(k: int) -> None:
    """Rank 1 is the candidate itself (every ratio 1); past 10 the app never reads it."""
    from trainer.search_rates import nearest_strangers, relative_rates

    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, 8))
    bank = rng.normal(size=(40, 8))
    near = nearest_strangers(q, bank[:3], bank, np.ones((3, 40), bool), bank[:0], depth=20)
    with pytest.raises(ValueError, match="reference rank"):
        relative_rates(near, (10,), k)


@pytest.mark.parametrize("argv, says", [
    (["--reference-rank", "11"], "--reference-rank must be 2 to 10"),
    (["--query-sets", "cufs_test"], "unknown query set"),
    (["--absent-sets", "fs2k_test"], "unknown query set"),
    (["--query-sets", "lfw_synth", "--absent-sets", "cufs_train"], "none of the query sets"),
    (["--two-way", "--drawer", "a", "b"], "one --drawer draws the gallery"),
    (["--present-from", "g0", "g1", "--stored"], "drop --stored"),
    (["--present-from", "g0", "--drawer", "d0"], "add --two-way"),
])
def test_search_rates_refuses_bad_options_before_loading_anything(argv, says, monkeypatch):
    """A typo is reported at once, not after minutes of loading descriptors."""
    import trainer.adapter
    from trainer.__main__ import build_parser

    def must_not_load(*a, **k):
        raise AssertionError("loaded the descriptors before checking the options")

    monkeypatch.setattr(trainer.adapter, "load_train_data", must_not_load)
    args = build_parser().parse_args(["search-rates", *argv])
    with pytest.raises(ValueError, match=says):
        args.func(args)


def test_rank_rates_count_people_as_the_list_shows_them() -> None:
    """How far down the list the person is: a stranger with several photos nearer than
    the mate is one row above it, not several. Checked against galleries drawn at random
    and listed one row a person, inside the real pool and past it, in both readings."""
    from trainer.search_rates import hit_rates, nearest_strangers

    rng = np.random.default_rng(3)
    w = _world(rng, 30, 48, 900, 0.14, (3, 13), 4_000)  # 3-12 photos a stranger
    sizes = (300, 3_000)
    counted = count_faces(w.queries, w.mates, w.bank, w.non_mate, w.synthetic, w.bank_person)
    near = nearest_strangers(w.queries, w.mates, w.bank, w.non_mate, w.synthetic, depth=400,
                             bank_person=w.bank_person)
    drawn = {n: {1: [], 10: []} for n in sizes}
    faces_top10 = []
    for i in range(len(w.queries)):
        d_mate = w.d_mate(i)
        for _ in range(80):
            for n in sizes:
                d, who = w.draw(i, n - 1, rng)  # the mate + n - 1 others
                row = 1 + int((_distinct(d, who) < d_mate).sum())  # the mate's row
                drawn[n][1].append(row <= 1)
                drawn[n][10].append(row <= 10)
                if n == sizes[0]:
                    faces_top10.append((d < d_mate).sum() < 10)
    for c in (counted, near):
        hits = hit_rates(c, sizes)
        for si, n in enumerate(sizes):
            for col, k in ((0, 1), (1, 10)):
                want = np.mean(drawn[n][k])
                assert abs(hits[si, col] - want) < 0.03, (type(c).__name__, n, k,
                                                          hits[si, col], want)
    # the world is one where counting photos would understate the list's top 10
    assert np.mean(drawn[sizes[0]][10]) > np.mean(faces_top10) + 0.05


@pytest.mark.parametrize("reference_rank", [0, 2])
def test_rates_by_spread_group_are_each_groups_searches_alone(reference_rank: int) -> None:
    """The grouped present-person tables are the same computation on each group's
    searches; where a group's mates sit nearer, it finds them more often, and (counted
    exactly) the whole is the groups' mean weighted by their size."""
    from trainer.search_rates import _tables, faces_near

    rng = np.random.default_rng(5)
    w = _world(rng, 40, 48, 600, 0.08, (1, 4), 2_000)
    groups = np.repeat([0, 1], 20)
    mates = w.mates.copy()
    mates[20:] = w.queries[20:] + (w.mates[20:] - w.queries[20:]) * 2.5  # group 1: far
    bank = np.concatenate([mates, w.strangers])
    faces = faces_near(w.queries, mates, bank, w.non_mate, w.synthetic, reference_rank,
                       w.bank_person)
    _, _, tpir, hits, by_group = _tables(faces, reference_rank, sizes=(300, 3_000),
                                         groups=groups, n_groups=2)
    assert len(by_group) == 2
    (_, tpir0, hits0), (_, tpir1, hits1) = by_group
    assert (hits0[:, 1] > hits1[:, 1] + 0.2).all()
    assert tpir0[:, -1].mean() > tpir1[:, -1].mean()
    if reference_rank == 0:  # exact counts: the whole is the mean of its halves
        np.testing.assert_allclose(hits, (hits0 + hits1) / 2, atol=1e-12)
        np.testing.assert_allclose(tpir, (tpir0 + tpir1) / 2, atol=1e-12)
    assert _tables(faces, reference_rank, sizes=(300,))[-1] == []


def test_the_check_reads_each_measured_rate_against_its_interval():
    from trainer.search_rates import _with_intervals, format_check

    row = _with_intervals({"set": "fs2k", "images": "colour", "gallery": 13_000,
                           "threshold": 0.963, "fpir_stated": 0.05, "fpir_measured": 0.025,
                           "fnir_stated": 0.958, "fnir_measured": 0.977,
                           "top10_stated": 0.455, "top10_measured": 0.492,
                           "top50_stated": 0.668, "top50_measured": 0.706, "n": 1046})
    assert row["fpir_agreement"] == "outside"  # 2.5 points off, 1,046 searches
    assert row["fnir_agreement"] == "within"
    low, high = row["fpir_interval"]
    assert low < 0.025 < high < 0.05
    table = format_check([row])
    assert "5.0 % / 2.5 % (1.7-3.6, outside)" in table
    assert "95.8 % / 97.7 % (96.6-98.5, within)" in table


def test_rates_by_query_set_split_synthetic_lfw_by_what_the_generator_saw():
    """Each set's searches are read at the stated threshold on their own; synthetic LFW
    rows are told apart by whether their sketched photo was trained on."""
    from types import SimpleNamespace

    from trainer.search_rates import RATIOS, by_query_set

    rng = np.random.default_rng(3)
    q, dim = 24, 32
    queries = rng.normal(size=(q, dim)) * 0.1
    mates = queries + rng.normal(size=(q, dim)) * 0.02
    strangers = rng.normal(size=(300, dim)) * 0.1
    bank = np.concatenate([mates, strangers, mates, strangers])  # colour block, grey block
    half = len(bank) // 2
    bank_id = np.tile(np.arange(half), 2)
    grey = np.arange(q) >= q // 2
    data = SimpleNamespace(group=["cufs_train"] * 8 + ["lfw_synth"] * 16, bank=bank,
                           bank_id=bank_id, query_id=np.arange(q),
                           target=np.arange(q) + np.where(grey, half, 0), grey=grey)
    sketched = np.array([""] * 8 + [f"p{i}" for i in range(16)], object)
    trained = {f"p{i}" for i in range(0, 16, 2)}
    stated = sr.SearchCalibration("adapted", np.array([100.0, 1e6]), RATIOS.astype(float),
                                  np.tile(np.linspace(0, 1, len(RATIOS)), (2, 1)),
                                  np.zeros((2, len(RATIOS))), np.zeros((2, 3)), 1, 1, "t",
                                  reference_rank=2)
    synthetic = rng.normal(size=(2_000, dim)) * 0.1
    rows = by_query_set(data, stated, queries, synthetic, np.arange(q), sketched, trained)
    sets = {r["set"]: r["n"] for r in rows}
    assert sets == {"cufs_train": 8, "lfw_synth, photo trained on": 8,
                    "lfw_synth, photo not trained on": 8}
    assert len(rows) == 3 * 3  # three sizes each
    assert all(0.0 <= r[k] <= 1.0 for r in rows for k in ("fpir", "tpir", "top10"))
    # mates sit far nearer than any stranger: each set finds its people
    assert all(r["top10"] > 0.9 for r in rows if r["gallery"] == 1_000)


def _train_data(rng: np.random.Generator, groups: list[str], dim: int = 32):
    """A small stand-in for `load_train_data`: each query's mate, strangers, colour and
    grey blocks of the bank."""
    from types import SimpleNamespace

    q = len(groups)
    queries = rng.normal(size=(q, dim)) * 0.1
    mates = queries + rng.normal(size=(q, dim)) * 0.02
    strangers = rng.normal(size=(300, dim)) * 0.1
    bank = np.concatenate([mates, strangers, mates, strangers])  # colour block, grey block
    half = len(bank) // 2
    grey = np.arange(q) % 2 == 1
    data = SimpleNamespace(group=groups, bank=bank, bank_id=np.tile(np.arange(half), 2),
                           query_id=np.arange(q), grey=grey, spread=None,
                           target=np.arange(q) + np.where(grey, half, 0))
    return data, queries


def test_absent_person_rates_come_from_the_hand_drawn_searches_only() -> None:
    """The threshold is set where hand-drawn sketches mark an absent person 5 % of the
    time (people search hand-drawn sketches); how often a present person is found stays
    read from every train search."""
    from trainer.search_rates import ABSENT_SETS, measure

    rng = np.random.default_rng(4)
    groups = ["fs2k_train"] * 10 + ["cufs_train"] * 6 + ["lfw_synth"] * 16
    data, queries = _train_data(rng, groups)
    synthetic = rng.normal(size=(1_000, 32)) * 0.1
    hand = np.flatnonzero(np.isin(groups, ABSENT_SETS))
    both = measure(data, {"variants": queries}, synthetic)["variants"]
    alone = measure(data, {"variants": queries}, synthetic, rows=hand,
                    sets=ABSENT_SETS)["variants"]
    pooled = measure(data, {"variants": queries}, synthetic, absent_sets=None)["variants"]
    np.testing.assert_allclose(both.fpir, alone.fpir)  # counted exactly: the same searches
    np.testing.assert_allclose(both.tpir, pooled.tpir)
    np.testing.assert_allclose(both.hit_rates, pooled.hit_rates)
    assert not np.allclose(both.fpir, pooled.fpir)
    assert (both.n_nonmated, both.n_mated) == (16, 32)
    assert (pooled.n_nonmated, alone.n_nonmated) == (32, 16)
    assert ("sketches; colour and grey); absent-person rates from the 16 CUFS and FS2K ones"
            in both.source)
    assert "absent-person" not in alone.source + pooled.source
    with pytest.raises(ValueError, match="none of the searches"):
        measure(data, {"variants": queries}, synthetic, rows=np.flatnonzero(
            np.asarray(groups) == "lfw_synth"))



def test_present_person_rates_are_grouped_by_the_hand_each_sketch_is_drawn_most_like() -> None:
    """Asked to (`groups_by="hand"`), with the model's own readings, each train search
    goes to the hand its raw sketch's descriptor lies nearest; each hand's table is its
    searches alone, and a search drawn like a hand is told that hand's figures. The
    threshold stays one."""
    from trainer.search_rates import hand_labels, measure

    rng = np.random.default_rng(8)
    groups = ["fs2k_train"] * 16 + ["cufs_train"] * 8 + ["lfw_synth"] * 8
    data, queries = _train_data(rng, groups)
    data.identity = np.array([f"p{i % 8}" for i in range(len(groups))])
    styles = {f"p{i}": str(i % 2) for i in range(8)}  # FS2K people in styles 0 and 1
    labels = hand_labels(data, styles)
    assert sorted(set(labels)) == ["CUFS", "FS2K style 0", "FS2K style 1", "synthetic"]
    # each hand's raw sketches sit apart; FS2K style 0's mates are far off (hard to find)
    names = sorted(set(labels))
    data.raw = np.stack([np.eye(32)[names.index(x)] + rng.normal(size=32) * 0.01
                         for x in labels])
    far = labels == "FS2K style 0"
    data.bank[data.target[far]] = queries[far] + rng.normal(size=(far.sum(), 32)) * 0.2
    data.spread = rng.uniform(0.05, 0.2, len(groups))
    synthetic = rng.normal(size=(1_000, 32)) * 0.1
    from unittest import mock

    with mock.patch("trainer.search_rates.hand_labels", lambda d: labels):
        c = measure(data, {"variants": queries}, synthetic, groups_by="hand")["variants"]
    by_spread = measure(data, {"variants": queries}, synthetic)["variants"]
    plain = measure(_train_data(np.random.default_rng(8), groups)[0],
                    {"variants": queries}, synthetic, groups_by="hand")["variants"]
    assert c.hand_names == tuple(names) and c.spread_edges is None
    np.testing.assert_allclose(c.fpir, measure(data.__class__(**{**vars(data), "spread": None}),
                                               {"variants": queries}, synthetic)["variants"].fpir)
    top10 = {n: c.hits(1_000, raw=np.eye(32)[i])[10] for i, n in enumerate(names)}
    assert top10["FS2K style 0"] < top10["CUFS"] - 0.3
    assert plain.n_groups == 0  # not the model's own readings: pooled only
    assert by_spread.hand_names == () and by_spread.n_groups == 4  # the default cut
    np.testing.assert_allclose(by_spread.fpir, c.fpir)
    with pytest.raises(ValueError, match="groups_by"):
        measure(data, {"variants": queries}, synthetic, groups_by="style")


def test_a_set_is_told_the_rates_of_its_hardest_hand() -> None:
    """With `groups_by="set"` a search is told the set its raw sketch lies nearest (FS2K's
    styles as one, since a sketch's style cannot be told), at the least rates any of the
    set's hands measured among the searches drawn like it: a bound whatever mix of styles
    a new artist draws in. A hand with too few searches to bound with is left out."""
    from trainer.search_rates import MIN_HAND_SEARCHES, hardest_parts, measure

    rng = np.random.default_rng(11)
    n = MIN_HAND_SEARCHES
    groups = ["fs2k_train"] * (2 * n + 6) + ["cufs_train"] * n + ["lfw_synth"] * 8
    data, queries = _train_data(rng, groups)
    labels = np.array(["FS2K style 0"] * n + ["FS2K style 1"] * n + ["FS2K style 2"] * 6
                      + ["CUFS"] * n + ["synthetic"] * 8, dtype=object)
    hands = ["CUFS", "FS2K style 0", "FS2K style 1", "FS2K style 2", "synthetic"]
    data.raw = np.stack([np.eye(32)[hands.index(x)] + rng.normal(size=32) * 0.01
                         for x in labels])
    hard = labels == "FS2K style 0"  # its mates far off: a style that rarely finds its person
    data.bank[data.target[hard]] = queries[hard] + rng.normal(size=(hard.sum(), 32)) * 0.2
    data.spread = rng.uniform(0.05, 0.2, len(groups))
    synthetic = rng.normal(size=(1_000, 32)) * 0.1
    from unittest import mock

    with mock.patch("trainer.search_rates.hand_labels", lambda d: labels):
        by_set = measure(data, {"variants": queries}, synthetic, groups_by="set")["variants"]
        by_hand = measure(data, {"variants": queries}, synthetic, groups_by="hand")["variants"]
    assert by_set.hand_names == ("CUFS", "FS2K", "synthetic")
    np.testing.assert_allclose(by_set.fpir, by_hand.fpir)  # one threshold, however cut
    np.testing.assert_allclose(by_set.hit_rates, by_hand.hit_rates)
    fs2k, style = by_set.hand_names.index("FS2K"), by_hand.hand_names.index
    least = np.minimum(by_hand.hits_by_spread[:, style("FS2K style 0")],
                       by_hand.hits_by_spread[:, style("FS2K style 1")])  # style 2: too few
    np.testing.assert_allclose(by_set.hits_by_spread[:, fs2k], least)
    np.testing.assert_allclose(by_set.tpir_by_spread[:, fs2k], np.minimum(
        by_hand.tpir_by_spread[:, style("FS2K style 0")],
        by_hand.tpir_by_spread[:, style("FS2K style 1")]))
    assert least[2, 1] < by_hand.hits_by_spread[2, style("FS2K style 1"), 1]
    np.testing.assert_allclose(by_set.hits_by_spread[:, 0],
                               by_hand.hits_by_spread[:, style("CUFS")])
    # a search is told its set's figures: an easy style-1 sketch gets style 0's
    assert by_set.hits(1_000, raw=np.eye(32)[2])[10] == pytest.approx(
        by_hand.hits(1_000, raw=np.eye(32)[1])[10], abs=1e-9)
    assert "each set's present-person rates those of its hardest hand" in by_set.source
    # a set none of whose hands has enough searches is stated at all its searches
    rows = np.arange(5)
    sets_ = np.array(["FS2K"] * 5, dtype=object)
    assert [list(p) for p in hardest_parts(rows, sets_, labels[:5], "FS2K")] == [list(rows)]


def test_two_way_tables_reduce_to_one_way_when_the_drawings_say_nothing() -> None:
    """Two-way tables are the same computation on pairs (`core.drawn`): with every drawing
    and every raw sketch the same, the drawn distance is 0 and the tables are the one-way
    ones; the source says which search they describe."""
    from sketchlab.core.drawn import pair
    from trainer.search_rates import measure

    rng = np.random.default_rng(6)
    groups = ["fs2k_train"] * 12 + ["cufs_train"] * 4 + ["lfw_synth"] * 16
    data, queries = _train_data(rng, groups, dim=128)
    synthetic = rng.normal(size=(2_000, 128)) * 0.1
    one = measure(data, {"adapted": queries}, synthetic, reference_rank=2)["adapted"]
    same = np.zeros((1, 128))  # exactly 0 apart (no rounding in |a|^2 - 2ab + |b|^2)
    two = measure(data, {"adapted+drawn": pair(queries, np.repeat(same, len(groups), 0))},
                  pair(synthetic, np.repeat(same, len(synthetic), 0)), reference_rank=2,
                  bank=pair(data.bank, np.repeat(same, len(data.bank), 0)))["adapted+drawn"]
    for field in ("fpir", "tpir", "hit_rates"):
        np.testing.assert_allclose(getattr(two, field), getattr(one, field), atol=1e-6)
    assert "two-way" in two.source and "two-way" not in one.source


def test_unseen_artist_readings_replace_each_hand_drawn_sets_rows(tiny_model, tmp_path):
    """Each hand-drawn set's rows, colour and grey, are read from its protocol generator's
    own pack, fused at the raw-sketch share its adapter was fitted at (this one records
    none: the recipe's) and moved by that adapter; a pack that lists other sketches, or a
    generator without an adapter, is refused."""
    import shutil
    from types import SimpleNamespace

    from sketchlab.core.adapter import DIM, QueryAdapter
    from sketchlab.core.checkpoint import load_generator, update_metadata
    from sketchlab.core.query import fuse
    from trainer.adapter import RECIPE_RAW_WEIGHT, pack_dir
    from trainer.descriptors import QueryDescriptors, save_pack
    from trainer.search_rates import unseen_artist_queries

    rng = np.random.default_rng(5)
    model = tmp_path / "protocol.safetensors"
    shutil.copy(tiny_model, model)
    sha = load_generator(model).sha256
    raw = rng.normal(size=(6, DIM)).astype(np.float32)
    data = SimpleNamespace(group=["cufs_train"] * 4 + ["lfw_synth"] * 2,
                           grey=np.array([False, False, True, True, False, True]), raw=raw,
                           fused=np.zeros((6, DIM), np.float32))
    var = rng.normal(size=(2, 3, DIM)).astype(np.float32)
    var_grey = rng.normal(size=(2, 3, DIM)).astype(np.float32)
    pack = pack_dir(sha, tmp_path) / "cufs_train.npz"

    def save(raw_colour: np.ndarray) -> None:
        save_pack(pack, sha, {"cufs_train": QueryDescriptors(
            var, raw_colour, var_grey, raw[2:4], ["landmarks"] * 2)}, {
            "targets": np.array(["a", "b"]), "identities": np.array(["1", "2"]),
            "specs": np.array(["s/a.jpg||0", "s/b.jpg||0"])})

    save(raw[:2])
    models = {"cufs_train": model}
    with pytest.raises(ValueError, match="no query adapter"):
        unseen_artist_queries(data, models, tmp_path)
    h = 4
    b2 = np.full(DIM, 0.5, np.float32)
    adapter = QueryAdapter(np.zeros((DIM, 2 * DIM), np.float32), np.zeros((h, 2 * DIM),
                           np.float32), np.zeros(h, np.float32), np.zeros((DIM, h), np.float32),
                           b2, sha)
    update_metadata(model, adapter.metadata())
    out, rows, made_by = unseen_artist_queries(data, models, tmp_path)
    assert made_by["cufs_train"]["model_sha256"] == sha
    assert rows.tolist() == [0, 1, 2, 3]
    w = RECIPE_RAW_WEIGHT
    np.testing.assert_allclose(out["variants"][:2], fuse(var, raw[:2], w), atol=1e-6)
    np.testing.assert_allclose(out["variants"][2:4], fuse(var_grey, raw[2:4], w), atol=1e-6)
    np.testing.assert_allclose(out["adapted"][:4], out["variants"][:4] + 0.5, atol=1e-6)
    assert np.isnan(out["adapted"][4:]).all()  # the synthetic rows are not read again
    save(raw[:2] + 0.1)  # another set's sketches under the same name
    with pytest.raises(ValueError, match="does not list"):
        unseen_artist_queries(data, models, tmp_path)


def test_the_unseen_artist_check_states_its_rates_at_the_models_own_threshold():
    """The check of the unseen-artist kind reads the stated rates from that kind's tables
    at the threshold the model's own tables set, and measures them on the searches given."""
    from trainer.search_rates import RATIOS, _check_set

    rng = np.random.default_rng(8)
    n, dim = 20, 16
    q = (rng.normal(size=(n, dim)) * 0.1).astype(np.float32)
    photos = np.concatenate([q + rng.normal(size=(n, dim)).astype(np.float32) * 0.03,
                             (rng.normal(size=(300, dim)) * 0.1).astype(np.float32)])
    ids = np.array([f"t/{i}" for i in range(n)] + [f"lfw/{i}" for i in range(300)])
    found = {"searched": q, "searched_grey": q, "spread": np.zeros(n),
             "spread_grey": np.zeros(n), "raw": q, "raw_grey": q}
    ramp = np.tile(np.linspace(0, 1, len(RATIOS)), (2, 1))
    sizes = np.array([100.0, 1e6])

    def table(kind: str, fpir: np.ndarray, tpir: float) -> sr.SearchCalibration:
        return sr.SearchCalibration(kind, sizes, RATIOS.astype(float), fpir,
                                    np.full_like(ramp, tpir), np.full((2, 3), 0.5), 9, 9, "t",
                                    reference_rank=2)

    kinds = {"adapted": table("adapted", ramp, 0.6),
             "adapted" + sr.UNSEEN_ARTIST: table("adapted" + sr.UNSEEN_ARTIST,
                                                  np.full_like(ramp, 0.3), 0.2)}
    synthetic = (rng.normal(size=(2_000, dim)) * 0.1).astype(np.float32)
    rows = _check_set("t", found, {"colour": photos, "grey": photos}, ids, n, kinds,
                      {"": synthetic}, "adapted", [""], sr.UNSEEN_ARTIST, 0.05)
    assert len(rows) == 2 * 3  # colour and grey, three gallery sizes
    for r in rows:
        assert r["threshold"] == round(kinds["adapted"].threshold_for(0.05, r["gallery"]), 4)
        assert r["fpir_stated"] == 0.3 and r["fnir_stated"] == 0.8
        assert r["search"] == "one-way, unseen artist" and r["n"] == n
        assert 0.0 <= r["fpir_measured"] <= 1.0



def test_each_query_kind_is_checked_with_its_own_test_descriptors():
    """`query_kinds`: the variants kind is checked on the fused descriptors, the adapted
    one on what the app searches with, so a re-read table meets the searches it states."""
    from trainer.search_rates import RATIOS, _check_set, format_check

    rng = np.random.default_rng(9)
    n, dim = 20, 16
    q = (rng.normal(size=(n, dim)) * 0.1).astype(np.float32)
    far = (rng.normal(size=(n, dim)) * 0.1).astype(np.float32)
    photos = np.concatenate([q + rng.normal(size=(n, dim)).astype(np.float32) * 0.01,
                             (rng.normal(size=(300, dim)) * 0.1).astype(np.float32)])
    ids = np.array([f"t/{i}" for i in range(n)] + [f"lfw/{i}" for i in range(300)])
    found = {"searched": far, "searched_grey": far, "fused": q, "fused_grey": q,
             "spread": np.zeros(n), "spread_grey": np.zeros(n), "raw": q, "raw_grey": q}
    ramp = np.tile(np.linspace(0, 1, len(RATIOS)), (2, 1))
    kinds = {k: sr.SearchCalibration(k, np.array([100.0, 1e6]), RATIOS.astype(float), ramp,
                                     ramp, np.full((2, 3), 0.5), 9, 9, "t", reference_rank=2)
             for k in ("adapted", "variants")}
    synthetic = (rng.normal(size=(2_000, dim)) * 0.1).astype(np.float32)
    rows = {k: _check_set("t", found, {"colour": photos, "grey": photos}, ids, n, kinds,
                          {"": synthetic}, k, [""], "", 0.05) for k in kinds}
    assert all(r["kind"] == "variants" for r in rows["variants"])
    # the fused descriptors sit on their photos: every person ranks first; the far ones not
    assert all(r["top10_measured"] == 1.0 for r in rows["variants"])
    assert any(r["top10_measured"] < 1.0 for r in rows["adapted"])
    table = format_check(rows["adapted"] + rows["variants"])
    assert "| query |" in table and "| variants |" in table


def test_the_check_group_by_group_is_each_groups_searches_alone():
    """`labels`: each row is checked again for each group's searches: the FPIR stated is
    the set's (one threshold), the rest what those searches were told and found; counted
    exactly, the set's measured rates are the groups' weighted by their searches."""
    from trainer.search_rates import THRESHOLDS, _check_set, format_by_group

    rng = np.random.default_rng(11)
    n, dim = 30, 16
    q = (rng.normal(size=(n, dim)) * 0.1).astype(np.float32)
    noise = rng.normal(size=(n, dim)).astype(np.float32)
    noise[:10] *= 0.01  # style "a": mates right on the sketch; style "b": far off
    photos = np.concatenate([q + noise * 0.05, (rng.normal(size=(300, dim)) * 0.1
                                                ).astype(np.float32)])
    ids = np.array([f"t/{i}" for i in range(n)] + [f"lfw/{i}" for i in range(300)])
    found = {"fused": q, "fused_grey": q, "spread": np.zeros(n), "spread_grey": np.zeros(n),
             "raw": q, "raw_grey": q}
    ramp = np.tile(np.linspace(0, 1, len(THRESHOLDS)), (2, 1))
    kinds = {"variants": sr.SearchCalibration("variants", np.array([100.0, 1e6]),
                                              THRESHOLDS.astype(float), ramp, ramp,
                                              np.full((2, 3), 0.5), 9, 9, "t")}
    labels = np.array(["style a"] * 10 + ["style b"] * 20)
    synthetic = (rng.normal(size=(2_000, dim)) * 0.1).astype(np.float32)
    rows = _check_set("t", found, {"colour": photos, "grey": photos}, ids, n, kinds,
                      {"": synthetic}, "variants", [""], "", 0.05, labels)
    for r in rows:
        a, b = r["by_group"]
        assert (a["group"], a["n"], b["group"], b["n"]) == ("style a", 10, "style b", 20)
        assert a["fpir_stated"] == b["fpir_stated"] == r["fpir_stated"]
        assert a["top10_measured"] == 1.0 > b["top10_measured"]
        for k in ("fpir_measured", "fnir_measured", "top10_measured"):
            assert r[k] == pytest.approx((10 * a[k] + 20 * b[k]) / 30, abs=2e-4)
        assert {"fnir_interval", "fnir_agreement"} <= set(a)
    table = format_by_group(rows)
    assert table.count("style b (n=20)") == len(rows)
    assert "by_group" not in _check_set("t", found, {"colour": photos, "grey": photos}, ids,
                                        n, kinds, {"": synthetic}, "variants", [""], "",
                                        0.05)[0]


def test_tables_of_galleries_drawn_for_each_set_pool_their_searches() -> None:
    """With each set's gallery drawn by its own network (`measure_by_set`), each set's
    searches are measured against its own drawings and the tables pooled search for
    search: with drawings that agree, exactly the tables of all those searches at once."""
    from sketchlab.core.drawn import pair
    from trainer.search_rates import measure, measure_by_set

    rng = np.random.default_rng(8)
    groups = ["fs2k_train"] * 12 + ["cufs_train"] * 6 + ["lfw_synth"] * 14
    data, queries = _train_data(rng, groups, dim=128)
    zero = np.zeros((len(data.bank), 128))
    synthetic = pair(rng.normal(size=(1_500, 128)) * 0.1, np.zeros((1_500, 128)))
    q = {"adapted+drawn": pair(queries, np.zeros((len(groups), 128)))}
    hand = np.flatnonzero(np.isin(groups, ["fs2k_train", "cufs_train"]))
    sets = ("cufs_train", "fs2k_train")
    pooled = measure_by_set(data, q, hand, {s: (zero, synthetic) for s in sets}, 0)
    at_once = measure(data, q, synthetic, hand, sets, 0, None, bank=pair(data.bank, zero))
    for field in ("fpir", "tpir", "hit_rates"):
        np.testing.assert_allclose(getattr(pooled["adapted+drawn"], field),
                                   getattr(at_once["adapted+drawn"], field), atol=1e-9)
    t = pooled["adapted+drawn"]
    assert (t.n_mated, t.n_nonmated) == (18, 18)
    assert "for each set's searches by a drawing network that never saw that set" in t.source
    # each set against its own drawings: FS2K's gallery drawn otherwise moves FS2K's
    # searches only, and the pooled table is the two sets' tables weighted by searches
    far = rng.normal(size=zero.shape) * 0.3
    mixed = measure_by_set(data, q, hand, {"cufs_train": (zero, synthetic),
                                           "fs2k_train": (far, synthetic)}, 0)["adapted+drawn"]
    alone = {s: measure(data, q, synthetic, hand[np.asarray(groups)[hand] == s], (s,), 0,
                        None, bank=pair(data.bank, d))["adapted+drawn"]
             for s, d in (("cufs_train", zero), ("fs2k_train", far))}
    np.testing.assert_allclose(
        mixed.hit_rates, (6 * alone["cufs_train"].hit_rates + 12 * alone["fs2k_train"].hit_rates)
        / 18, atol=1e-9)
    assert not np.allclose(mixed.hit_rates, t.hit_rates)


@pytest.mark.parametrize("reference_rank", [0, 2])
def test_searches_read_by_each_folds_networks_are_measured_as_one_set(reference_rank) -> None:
    """Each held-out fold's searches are read by its own generator against its own
    drawings (`measure_pooled`): split into blocks that search the same gallery, they
    give exactly the tables of all those searches at once, groups included; a block
    whose gallery is drawn otherwise moves only its own searches."""
    from sketchlab.core.drawn import pair
    from trainer.search_rates import Searches, measure, measure_pooled

    rng = np.random.default_rng(9)
    groups = (["fs2k_train"] * 8 + ["cufs_train"] * 4) * 2 + ["lfw_synth"] * 8
    data, queries = _train_data(rng, groups, dim=64)
    data.spread = rng.uniform(0.05, 0.2, len(groups))
    zero = np.zeros((len(data.bank), 64))
    synthetic = pair(rng.normal(size=(1_200, 64)) * 0.1, np.zeros((1_200, 64)))
    q = {"variants+drawn": pair(queries, np.zeros((len(groups), 64)))}
    first, second = np.arange(12), np.arange(12, len(groups))
    at_once = measure(data, q, synthetic, None, reference_rank=reference_rank,
                      bank=pair(data.bank, zero))["variants+drawn"]
    pooled = measure_pooled([Searches(data, q, synthetic, first, pair(data.bank, zero)),
                             Searches(data, q, synthetic, second, pair(data.bank, zero))],
                            reference_rank=reference_rank)["variants+drawn"]
    for field in ("fpir", "tpir", "hit_rates", "tpir_by_spread", "hits_by_spread",
                  "spread_edges"):
        np.testing.assert_allclose(getattr(pooled, field), getattr(at_once, field), atol=1e-9)
    assert (pooled.n_mated, pooled.n_nonmated) == (at_once.n_mated, at_once.n_nonmated)
    # the second fold's gallery drawn otherwise: the first fold's searches read as before
    far = rng.normal(size=zero.shape) * 0.3
    mixed = measure_pooled([Searches(data, q, synthetic, first, pair(data.bank, zero)),
                            Searches(data, q, synthetic, second, pair(data.bank, far))],
                           reference_rank=0, absent_sets=None)["variants+drawn"]
    alone = {rows[0]: measure(data, q, synthetic, rows, reference_rank=0, absent_sets=None,
                              bank=pair(data.bank, d))["variants+drawn"]
             for rows, d in ((first, zero), (second, far))}
    np.testing.assert_allclose(mixed.hit_rates, (12 * alone[0].hit_rates
                                                 + 20 * alone[12].hit_rates) / 32, atol=1e-9)
    with pytest.raises(ValueError, match="same kinds"):
        measure_pooled([Searches(data, q, synthetic, first),
                        Searches(data, {"raw": queries}, synthetic, second)])
    with pytest.raises(ValueError, match="as many synthetic faces"):
        measure_pooled([Searches(data, q, synthetic, first, pair(data.bank, zero)),
                        Searches(data, q, synthetic[:600], second, pair(data.bank, zero))])


def test_the_stored_tables_are_checked_without_reading_a_train_search(tiny_model, tmp_path,
                                                                      monkeypatch):
    """`search-rates --stored --test`: the model file's own tables go to the test check,
    with synthetic faces fitted to LFW train's photos (and their pencil drawings for the
    two-way tables); a model without tables, or no --test, is refused."""
    import argparse
    import shutil

    import trainer.adapter as ta
    import trainer.search_rates as tsr
    from sketchlab.core.checkpoint import update_metadata
    from sketchlab.core.drawn import TWO_WAY, two_way_fields

    model = tmp_path / "m.safetensors"
    shutil.copyfile(tiny_model, model)
    args = argparse.Namespace(model=str(model), test=True, workers=1, out=None, stored=True,
                              by_group=False)
    with pytest.raises(ValueError, match="holds no 1:N tables"):
        tsr.stored_check_main(args)
    grid = tsr.RATIOS.astype(float)
    ramp = np.tile(np.linspace(0, 1, len(grid)), (2, 1))
    kinds = {k: sr.SearchCalibration(k, np.array([100.0, 1e6]), grid, ramp, ramp,
                                     np.full((2, 3), 0.5), 9, 9, "t", reference_rank=2)
             for k in ("adapted", "adapted" + TWO_WAY)}
    update_metadata(model, {sr.METADATA_KEY: sr.dumps(kinds, {"two_way": two_way_fields()})})
    rng = np.random.default_rng(0)
    keys = [f"lfw/p{i // 2}" for i in range(40)]
    monkeypatch.setattr(ta, "lfw_train_photos", lambda: ([Path(f"{k}.jpg") for k in keys], keys))
    asked = {}

    def embed(files, workers, drawn=False, drawer=""):
        asked.update(drawn=drawn, drawer=drawer)
        return {k: rng.normal(0, 0.1, (len(files), 128)).astype(np.float32)
                for k in ("colour", "grey", "drawn")}

    seen = {}

    def check(loaded, stated, pools, workers, drawer="", by_group=False):
        seen.update(kinds=sorted(stated), pools={k: v.shape for k, v in pools.items()},
                    drawer=drawer)
        return []

    monkeypatch.setattr(ta, "embed_gallery_photos", embed)
    monkeypatch.setattr(tsr, "test_check", check)
    monkeypatch.setattr(tsr.lfw_like_faces, "__defaults__", (500, 7))
    assert tsr.stored_check_main(args) == 0
    assert asked == {"drawn": True, "drawer": ""}  # the pencil filter's drawings
    assert seen["kinds"] == sorted(kinds) and seen["drawer"] == ""
    assert seen["pools"][""][1] == 128 and seen["pools"][TWO_WAY][1] == 256
    with pytest.raises(ValueError, match="add --test"):
        tsr.stored_check_main(argparse.Namespace(**{**vars(args), "test": False}))
