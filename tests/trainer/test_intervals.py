import numpy as np
import pytest

from trainer.intervals import agreement, wilson


def test_wilson_matches_known_values():
    # 10 of 100: the textbook Wilson interval is 5.52 % to 17.44 %
    low, high = wilson(0.10, 100)
    assert low == pytest.approx(0.0552, abs=5e-4)
    assert high == pytest.approx(0.1744, abs=5e-4)


def test_wilson_stays_inside_0_1_at_the_edges():
    assert wilson(0.0, 50)[0] == 0.0 and 0.0 < wilson(0.0, 50)[1] < 0.1
    assert wilson(1.0, 50)[1] == 1.0 and 0.9 < wilson(1.0, 50)[0] < 1.0


def test_wilson_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    p, n, trials = 0.05, 400, 4000
    hits = rng.binomial(n, p, trials) / n
    covered = np.mean([lo <= p <= hi for lo, hi in (wilson(h, n) for h in hits)])
    assert 0.93 < covered < 0.97


def test_wilson_narrows_with_more_searches():
    low, high = wilson(0.3, 10)
    assert low < 0.3 < high
    w = [hi - lo for lo, hi in (wilson(0.3, n) for n in (10, 100, 1000))]
    assert w[0] > w[1] > w[2]


def test_wilson_refuses_nonsense():
    with pytest.raises(ValueError):
        wilson(0.5, 0)
    with pytest.raises(ValueError):
        wilson(1.5, 10)


def test_agreement_reads_the_three_cases():
    assert agreement(0.05, 0.04, 100) == "within"
    # 74.7 stated, 70.1 measured on 100 searches: 4.6 points off, inside the interval
    assert agreement(0.747, 0.701, 100) == "in interval"
    # 5.0 stated, 2.5 measured on 1,046 searches: the interval is about 1.7-3.7 %
    assert agreement(0.05, 0.025, 1046) == "outside"
