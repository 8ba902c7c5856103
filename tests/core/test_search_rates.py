"""The 1:N reading: tables, thresholds by gallery size, storage, and what it says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sketchlab.core import search_rates as sr


def _calibration() -> sr.SearchCalibration:
    sizes = np.array([100.0, 10_000.0])
    t = np.linspace(0.3, 0.7, 41)
    # Bigger galleries: more chance that some stranger comes close at a given threshold.
    fpir = np.stack([np.clip((t - 0.45) * 2, 0, 1), np.clip((t - 0.35) * 2, 0, 1)])
    tpir = np.stack([np.clip((t - 0.30) * 2.5, 0, 0.9), np.clip((t - 0.30) * 2.5, 0, 0.8)])
    hits = np.array([[0.6, 0.9, 0.97], [0.3, 0.6, 0.8]])
    return sr.SearchCalibration("adapted", sizes, t, fpir, tpir, hits, 50, 50, "unit pairs")


def test_threshold_falls_as_the_gallery_grows() -> None:
    c = _calibration()
    small, big = c.threshold_for(0.05, 100), c.threshold_for(0.05, 10_000)
    assert small == pytest.approx(0.475, abs=1e-6) and big == pytest.approx(0.375, abs=1e-6)
    mid = c.threshold_for(0.05, 1_000)  # halfway in log(size)
    assert mid == pytest.approx(0.40, abs=1e-6)  # mean of the two rows reaches 5 % there
    assert c.fpir_at(mid, 1_000) == pytest.approx(0.05, abs=1e-6)


def test_rule_marks_at_the_threshold_and_says_what_it_means() -> None:
    rule = sr.search_rule({"adapted": _calibration()}, "adapted", 10_000)
    assert rule is not None and rule.fmr(rule.threshold) == pytest.approx(0.05, abs=1e-6)
    assert rule.score(0.2) == 1.0 and rule.score(0.9) == 0.0
    text = rule.describe()
    assert "10,000 faces" in text and "someone absent marks a candidate 5 %" in text
    assert "top 10 in 60 %" in text and "top 50 in 80 %" in text
    assert sr.search_rule({"adapted": _calibration()}, "raw", 100) is None
    outside = sr.search_rule({"adapted": _calibration()}, "adapted", 5_000_000)
    assert outside is not None and "nearest measured size" in outside.describe()
    # The summary under the candidate list: the threshold and the rate at this size.
    assert rule.summary() == (f"Threshold {rule.threshold:.3f}: a search of 10,000 faces for "
                              "someone absent marks a candidate 5 % of the time.")
    assert outside.summary().endswith("(as measured at 10,000 faces).")
    small = sr.search_rule({"adapted": _calibration()}, "adapted", 14)
    assert small is not None and "(as measured at 100 faces)" in small.summary()


def test_round_trip_and_malformed_tables_are_refused() -> None:
    c = _calibration()
    kinds, extra = sr.loads(sr.dumps({"adapted": c}, {"model_sha256": "m"}))
    back = kinds["adapted"]
    assert extra == {"model_sha256": "m"}
    assert back.threshold_for(0.05, 1_000) == pytest.approx(c.threshold_for(0.05, 1_000),
                                                            abs=1e-4)
    obj = json.loads(sr.dumps({"adapted": c}))
    obj["kinds"]["adapted"]["fpir"][0][3] = 1.5
    with pytest.raises(sr.SearchCalibrationError):
        sr.loads(json.dumps(obj))
    with pytest.raises(sr.SearchCalibrationError):
        sr.loads("{not json")


def test_relative_tables_read_each_search_against_its_own_crowd() -> None:
    """A relative table's threshold is a ratio to the search's k-th nearest face: two
    searches that land in crowds of different density get thresholds in proportion, and
    the same ratio reads as the same rate."""
    c = _calibration()
    rel = sr.SearchCalibration(c.query, c.sizes, np.linspace(0.80, 1.0, 41), c.fpir, c.tpir,
                               c.hit_rates, 50, 50, "unit ratios", reference_rank=10)
    dense = sr.search_rule({"adapted": rel}, "adapted", 10_000, scale=0.5)
    sparse = sr.search_rule({"adapted": rel}, "adapted", 10_000, scale=1.0)
    assert dense is not None and sparse is not None
    assert dense.threshold == pytest.approx(0.5 * sparse.threshold)
    assert dense.fmr(dense.threshold) == pytest.approx(0.05, abs=1e-6)
    assert dense.fmr(0.5 * 0.93) == pytest.approx(sparse.fmr(0.93))
    r = dense.rates()
    assert r["reference_rank"] == 10 and r["reference_distance"] == 0.5
    assert r["ratio"] == pytest.approx(dense.threshold / 0.5, abs=1e-4)
    assert "x the distance of this search's 10th candidate" in dense.describe()
    # the one-line summary too: its threshold is a distance for this search only
    assert dense.summary().startswith(f"Threshold {dense.threshold:.3f} ({r['ratio']:.3f} x "
                                      "the distance of this search's 10th candidate): ")
    back = sr.loads(sr.dumps({"adapted": rel}))[0]["adapted"]
    assert back.reference_rank == 10
    # A table without the field (an older model file) reads distances as they are.
    obj = json.loads(sr.dumps({"adapted": c}))
    del obj["kinds"]["adapted"]["reference_rank"]
    old = sr.loads(json.dumps(obj))[0]["adapted"]
    assert old.reference_rank == 0
    plain = sr.search_rule({"adapted": old}, "adapted", 10_000, scale=0.5)
    assert plain is not None and plain.scale == 1.0 and "ratio" not in plain.rates()
    assert "x the distance" not in plain.summary()


@pytest.mark.parametrize("k, against, where", [
    (0, None, "(within the top 10)"),
    (2, "this search's 2nd candidate: only a first candidate that stands out from the "
        "next is marked", "(at rank 1)"),
    (3, "this search's 3rd candidate)", "(within the top 2)"),
])
def test_the_reading_says_where_a_mark_can_fall(k, against, where) -> None:
    """Distance tables mark anywhere in the list; a table read against the k-th person
    can mark only the k - 1 people before it, and the text says so."""
    c = _calibration()
    table = sr.SearchCalibration(c.query, c.sizes, c.thresholds if not k else
                                 np.linspace(0.80, 1.0, 41), c.fpir, c.tpir, c.hit_rates,
                                 50, 50, "unit", reference_rank=k)
    text = sr.search_rule({"adapted": table}, "adapted", 10_000, scale=0.5).describe()
    present = text.split("a person who is in the gallery is marked ")[1]
    assert present.split(", and ")[0].endswith(f"of the time {where}")
    if against is None:
        assert "x the distance" not in text
    else:
        assert f"x the distance of {against}" in text


def _grouped() -> sr.SearchCalibration:
    """`_calibration` with present-person rates in 4 spread groups: the readings that
    agree most find their person most often."""
    c = _calibration()
    hits = np.stack([c.hit_rates * f for f in (1.2, 1.0, 0.8, 0.5)], 1).clip(0, 1)
    tpir = np.stack([c.tpir * f for f in (1.1, 1.0, 0.9, 0.6)], 1).clip(0, 1)
    return sr.SearchCalibration(c.query, c.sizes, c.thresholds, c.fpir, c.tpir, c.hit_rates,
                                50, 50, "unit", spread_edges=np.array([0.10, 0.12, 0.14]),
                                tpir_by_spread=tpir, hits_by_spread=hits)


def test_present_person_rates_are_those_of_sketches_whose_readings_agree_alike() -> None:
    c = _grouped()
    agree = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.09)
    differ = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.2)
    unknown = sr.search_rule({"adapted": c}, "adapted", 10_000)
    assert agree and differ and unknown
    # the threshold and its FPIR are about strangers: one table for every sketch
    assert agree.threshold == differ.threshold == unknown.threshold
    assert agree.rates()["fpir"] == differ.rates()["fpir"]
    assert agree.rates()["top10"] == pytest.approx(0.72, abs=1e-4)
    assert differ.rates()["top10"] == pytest.approx(0.30, abs=1e-4)
    assert unknown.rates()["top10"] == pytest.approx(0.60, abs=1e-4)  # the overall table
    assert agree.rates()["tpir"] > unknown.rates()["tpir"] > differ.rates()["tpir"]
    assert (agree.rates()["spread_group"], differ.rates()["spread_group"]) == (1, 4)
    assert "spread_group" not in unknown.rates()
    assert "as closely as those of the most consistent quarter" in agree.describe()
    assert "the least consistent quarter" in differ.describe()
    assert "top 10 in 30 %" in differ.describe()
    # on an edge: the group above it (searchsorted right), and a table without groups
    assert c.spread_group(0.12) == 2 and _calibration().spread_group(0.12) is None


def test_spread_groups_round_trip_and_bad_shapes_are_refused() -> None:
    c = _grouped()
    back = sr.loads(sr.dumps({"adapted": c}))[0]["adapted"]
    assert back.hits(10_000, 0.2) == pytest.approx(c.hits(10_000, 0.2), abs=1e-4)
    assert back.tpir_at(0.5, 300, 0.11) == pytest.approx(c.tpir_at(0.5, 300, 0.11), abs=1e-4)
    for key, bad in (("spread_edges", [0.14, 0.12, 0.10]), ("hits_by_spread", [[0.5] * 3]),
                     ("tpir_by_spread", None)):
        obj = json.loads(sr.dumps({"adapted": c}))
        obj["kinds"]["adapted"][key] = bad
        with pytest.raises(sr.SearchCalibrationError, match="bad groups"):
            sr.loads(json.dumps(obj))


def _by_hand() -> sr.SearchCalibration:
    """`_grouped`'s four tables, cut by hand instead: four sketch styles, each a point in
    descriptor space, their people found 72 / 60 / 48 / 30 % of the time in the top 10."""
    import dataclasses

    centroids = np.zeros((4, 128))
    centroids[np.arange(4), np.arange(4)] = 1.0
    return dataclasses.replace(_grouped(), spread_edges=None, hand_centroids=centroids,
                               hand_names=("CUFS", "FS2K style 2", "FS2K style 1",
                                           "FS2K style 0"))


def test_present_person_rates_are_those_of_sketches_drawn_like_this_one() -> None:
    """Tables grouped by hand tell a search the figures of the hand its raw sketch's
    descriptor lies nearest, whatever its readings' spread; the threshold stays one."""
    c = _by_hand()
    sparse = np.zeros(128)
    sparse[3], sparse[0] = 0.9, 0.2  # nearest the fourth hand
    like_cufs = np.zeros(128)
    like_cufs[0] = 0.7
    a = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.09, raw=sparse)
    b = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.2, raw=like_cufs)
    none = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.09)
    assert a and b and none and a.threshold == b.threshold == none.threshold
    assert a.rates()["top10"] == pytest.approx(0.30, abs=1e-4)
    assert b.rates()["top10"] == pytest.approx(0.72, abs=1e-4)
    assert none.rates()["top10"] == pytest.approx(0.60, abs=1e-4)  # no raw sketch: pooled
    assert a.rates()["drawn_like"] == "FS2K style 0" and "spread_group" not in a.rates()
    assert "drawn_like" not in none.rates()
    assert "(drawn most like the FS2K style 0 sketches, of the 4 kinds measured)" in a.describe()
    assert c.groups_of(np.zeros(2), np.stack([sparse, like_cufs])).tolist() == [3, 0]
    assert c.hand_group(np.full(128, np.nan)) is None and c.hand_group(np.zeros(3)) is None


def test_hand_groups_round_trip_and_bad_ones_are_refused() -> None:
    c = _by_hand()
    raw = np.zeros(128)
    raw[2] = 1.0
    back = sr.loads(sr.dumps({"adapted": c}))[0]["adapted"]
    assert back.hand_names == c.hand_names
    assert back.hits(10_000, raw=raw) == pytest.approx(c.hits(10_000, raw=raw), abs=1e-4)
    assert back.tpir_at(0.5, 300, raw=raw) == pytest.approx(c.tpir_at(0.5, 300, raw=raw),
                                                            abs=1e-4)
    for key, bad in (("hand_names", ["CUFS"]), ("hand_centroids", [[0.0] * 128] * 3),
                     ("spread_edges", [0.10, 0.12, 0.14]), ("hand_centroids", [[0.0] * 12] * 4)):
        obj = json.loads(sr.dumps({"adapted": c}))
        obj["kinds"]["adapted"][key] = bad
        with pytest.raises(sr.SearchCalibrationError, match="bad groups"):
            sr.loads(json.dumps(obj))


def test_a_longer_list_is_offered_when_searches_like_this_often_missed_the_top_10() -> None:
    c = _grouped()  # top 10 at 10,000 faces: 72 / 60 / 48 / 30 % by group
    far = sr.search_rule({"adapted": c}, "adapted", 10_000, spread=0.2)
    offer = sr.longer_list_offer(far, 10, 10_000)
    assert offer == ("In searches like this the true person was in the top 10 only 30 % "
                     "of the time (in the top 50: 40 %).")
    assert sr.longer_list_offer(far, 50, 10_000) is None  # 50 already shown
    assert sr.longer_list_offer(far, 10, 10) is None  # the whole gallery is listed
    sure = _sure_of_top10(c, 0.9)
    assert sr.longer_list_offer(sr.search_rule({"adapted": sure}, "adapted", 10_000), 10,
                                10_000) is None
    assert sr.longer_list_offer(object(), 10, 10_000) is None  # a 1:1 reading states none


def _sure_of_top10(c: sr.SearchCalibration, top10: float) -> sr.SearchCalibration:
    import dataclasses

    hits = c.hit_rates.copy()
    hits[:, 1] = top10
    return dataclasses.replace(c, hit_rates=hits, spread_edges=None, tpir_by_spread=None,
                               hits_by_spread=None)


def test_a_search_also_states_the_rates_for_an_artist_the_model_never_saw() -> None:
    """Where the tables hold the unseen-artist kind, the rule reads it at its own one
    threshold and states both; a table read against another candidate is not mixed in."""
    c = _calibration()
    u = sr.SearchCalibration(c.query + sr.UNSEEN_ARTIST, c.sizes, c.thresholds,
                             np.clip(c.fpir * 2, 0, 1), c.tpir / 4,
                             np.array([[0.3, 0.5, 0.7], [0.1, 0.25, 0.4]]), 40, 40,
                             "unit pairs, read by a generator that never saw them")
    both = {"adapted": c, "adapted" + sr.UNSEEN_ARTIST: u}
    rule = sr.search_rule(both, "adapted", 10_000)
    alone = sr.search_rule({"adapted": c}, "adapted", 10_000)
    assert rule is not None and alone is not None
    assert rule.threshold == alone.threshold  # the model's own tables set it
    seen, new = rule.rates(), rule.rates()["unseen_artist"]
    assert "unseen_artist" not in alone.rates()
    assert new["fpir"] == pytest.approx(u.fpir_at(rule.threshold, 10_000), abs=1e-4)
    assert new["tpir"] == pytest.approx(seen["tpir"] / 4, abs=1e-4)
    assert (new["top1"], new["top10"], new["top50"]) == (0.1, 0.25, 0.4)
    assert new["n_searches"] == 40
    text = rule.describe()
    assert "For sketches by an artist the model never saw, at this threshold an absent " \
           "person's search marked a candidate 10 % of the time" in text
    assert "in the top 10 in 25 %" in text and "never saw" not in alone.describe()
    other = sr.SearchCalibration(u.query, u.sizes, u.thresholds, u.fpir, u.tpir, u.hit_rates,
                                 40, 40, u.source, reference_rank=2)
    mixed = sr.search_rule({"adapted": c, u.query: other}, "adapted", 10_000)
    assert mixed is not None and mixed.unseen is None
