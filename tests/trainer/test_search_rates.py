"""The 1:N rates are computed exactly from per-query counts: check them against galleries
actually drawn at random."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.mark.parametrize("k", [3, 10])
def test_relative_rates_match_drawn_galleries(k: int) -> None:
    """The ratio reading (distance / the search's k-th nearest face), drawn by thinning
    each query's nearest strangers, against galleries actually drawn at random."""
    from trainer.search_rates import RATIOS, nearest_strangers, relative_rates

    rng = np.random.default_rng(1)
    q, dim, pool = 30, 48, 600  # many dimensions: distances bunch up, as descriptors' do
    queries = rng.normal(size=(q, dim)).astype(np.float32) * 0.1
    mates = queries + rng.normal(size=(q, dim)).astype(np.float32) * 0.13
    bank = np.concatenate([mates, rng.normal(size=(pool, dim)).astype(np.float32) * 0.15])
    non_mate = np.ones((q, len(bank)), bool)
    non_mate[np.arange(q), np.arange(q)] = False
    synthetic = rng.normal(size=(3_000, dim)).astype(np.float32) * 0.15
    near = nearest_strangers(queries, mates, bank, non_mate, synthetic, depth=400)
    sizes = (100, 2_000)  # a sample of the real pool, and all of it plus synthetic faces
    fpir, tpir, _ = relative_rates(near, sizes, k, reps=64)
    ri = min(int(np.searchsorted(fpir[0], 0.2)), len(RATIOS) - 1)  # a ratio in mid-range
    fp: dict[int, list[bool]] = {n: [] for n in sizes}
    tp: dict[int, list[bool]] = {n: [] for n in sizes}
    for i in range(q):
        strangers = bank[np.flatnonzero(non_mate[i])]
        d_mate = float(np.linalg.norm(queries[i] - mates[i]))
        for _ in range(60):
            for n in sizes:
                if n <= len(strangers):
                    g = strangers[rng.choice(len(strangers), n, replace=False)]
                else:
                    g = np.concatenate([strangers, synthetic[rng.choice(
                        len(synthetic), n - len(strangers), replace=False)]])
                d = np.sort(np.linalg.norm(g - queries[i], axis=1))
                fp[n].append(d[0] <= RATIOS[ri] * d[k - 1])  # absent: top stranger marked
                present = np.sort(np.append(d[:-1], d_mate))  # the mate + n - 1 others
                tp[n].append(d_mate <= RATIOS[ri] * present[k - 1])
    for si, n in enumerate(sizes):
        assert abs(fpir[si, ri] - np.mean(fp[n])) < 0.03, (n, fpir[si, ri], np.mean(fp[n]))
        assert abs(tpir[si, ri] - np.mean(tp[n])) < 0.04, (n, tpir[si, ri], np.mean(tp[n]))
    assert 0.01 < fpir[0, ri] < 0.9 and 0.05 < tpir[0, ri] < 0.95
    assert (np.diff(fpir, axis=1) >= 0).all() and (np.diff(tpir, axis=1) >= 0).all()


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
