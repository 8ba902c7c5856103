"""The 1:N rates are computed exactly from per-query counts: check them against galleries
actually drawn at random."""

from __future__ import annotations

import numpy as np

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
