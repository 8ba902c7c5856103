"""Score calibration: false-match rates from genuine/impostor distance samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sketchlab.core import calibration as cal


def _fit(seed: int = 0) -> cal.ScoreCalibration:
    rng = np.random.default_rng(seed)
    return cal.ScoreCalibration.fit("variants", rng.normal(0.45, 0.05, 2000),
                                    rng.normal(0.70, 0.06, 200_000), "synthetic")


def test_fmr_and_fnmr_match_the_sample():
    rng = np.random.default_rng(0)
    gen, imp = rng.normal(0.45, 0.05, 2000), rng.normal(0.70, 0.06, 200_000)
    c = cal.ScoreCalibration.fit("single", gen, imp, "synthetic")
    for d in (0.50, 0.55, 0.60, 0.65):
        assert c.fmr(d) == pytest.approx((imp <= d).mean(), rel=0.05, abs=2e-5)
        assert c.fnmr(d) == pytest.approx((gen > d).mean(), abs=0.01)
    # The threshold at 1% lets through 1% of the impostors it was fitted on.
    t = c.threshold_at(0.01)
    assert (imp <= t).mean() == pytest.approx(0.01, rel=0.05)
    assert c.threshold_at(0.001) < t < c.threshold_at(0.1)


def test_fmr_is_floored_at_the_sample_resolution():
    c = _fit()
    assert c.fmr(0.0) == pytest.approx(1 / 200_000)
    assert cal.fmr_phrase(float(c.fmr(0.0)), c.min_fmr) == "fewer than 1 in 200,000 non-mates"
    assert cal.fmr_phrase(0.004, c.min_fmr) == "1 in 250 non-mates"
    assert cal.fmr_phrase(0.7, c.min_fmr) == "70% of non-mates"


def test_json_round_trip_and_validation():
    c = _fit()
    kinds, extra = cal.loads(cal.dumps({"variants": c}, {"raw_weight": 0.2}))
    back = kinds["variants"]
    assert extra == {"raw_weight": 0.2}
    for d in (0.4, 0.55, 0.6, 0.8):
        assert back.fmr(d) == pytest.approx(c.fmr(d), rel=1e-3, abs=1e-6)
    good = json.loads(cal.dumps({"variants": c}))
    bad_cases = []
    for mutate in (lambda o: o["kinds"]["variants"].update(impostor=[[0.5, 0.1], [0.4, 0.2]]),
                   lambda o: o["kinds"]["variants"].update(genuine=[[0.5, float("nan")]] * 3),
                   lambda o: o["kinds"]["variants"].update(query="photo"),
                   lambda o: o["kinds"]["variants"].pop("n_impostor"),
                   lambda o: o.update(version=9)):
        o = json.loads(json.dumps(good))
        mutate(o)
        bad_cases.append(json.dumps(o))
    bad_cases += ["[" * 100_000, "not json", "x" * (2 << 20)]
    for text in bad_cases:
        with pytest.raises(cal.CalibrationError):
            cal.loads(text)


def test_score_rule_reads_distances_against_the_gallery():
    rng = np.random.default_rng(1)
    c = cal.ScoreCalibration.fit("variants", rng.normal(-3, 0.7, 2000),
                                 rng.normal(0, 1, 200_000), "synthetic z")
    # Two galleries: one where everybody sits near the query (one capture setting), one
    # spread out. The same rate gives each its own distance threshold.
    tight = cal.gallery_norm(rng.normal(0.46, 0.05, 500))
    wide = cal.gallery_norm(rng.normal(0.80, 0.10, 500))
    rt = cal.score_rule({"variants": c}, "variants", fmr=0.01, norm=tight)
    rw = cal.score_rule({"variants": c}, "variants", fmr=0.01, norm=wide)
    assert rt.threshold == pytest.approx(tight.mean + tight.sd * c.threshold_at(0.01))
    assert rt.threshold < rw.threshold
    for r in (rt, rw):
        assert r.score(r.threshold) == pytest.approx(0.99, abs=2e-3)
        assert r.fmr(r.threshold) == pytest.approx(0.01, rel=0.05)
        assert "1 in 100 non-mates" in r.describe() and "500 faces" in r.describe()
        assert r.summary() == r.describe().split(", so ")[0] + "."  # how it begins
        assert "1 in 100 non-mates come this close" in r.summary()
    # 0.40 is unremarkable in the tight gallery and rare in the wide one.
    assert rt.fmr(0.40) > 100 * rw.fmr(0.40)
    explicit = cal.score_rule({"variants": c}, "variants", threshold=0.6, norm=tight)
    assert explicit.threshold == 0.6 and explicit.target_fmr is None and explicit.calibrated
    none = cal.score_rule({}, "variants", norm=tight)
    assert none.calibration is None and none.fmr(0.3) is None
    assert none.threshold == pytest.approx(0.6) and "no calibration" in none.describe()
    assert none.summary() == none.describe()
    small = cal.score_rule({"variants": c}, "variants", norm=cal.gallery_norm(np.ones(5)))
    assert small.fmr(0.3) is None and "fewer than 12 faces" in small.describe()
