"""`trainer split-shift`: both splits searched alike, group by group, and the train
split's rates restated at the test split's mix of groups."""

from __future__ import annotations

import numpy as np
import pytest


def test_a_mate_is_ranked_among_its_splits_photos_and_the_distractors() -> None:
    from trainer.split_shift import mate_ranks

    photos = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    distractors = np.array([[0.05, 0.0], [5.0, 5.0]])
    queries = np.array([[0.1, 0.0], [0.9, 0.0], [0.0, 0.4]])
    # q0: its photo (row 0) at 0.1; one distractor nearer.  q1: its photo row 1, nothing
    # nearer.  q2: photo row 2 at 0.6; photo row 0 (0.4) and a distractor (~0.40) nearer
    ranks = mate_ranks(queries, photos, np.array([0, 1, 2]), distractors)
    assert ranks.tolist() == [1, 0, 2]


def test_the_train_split_is_restated_at_the_test_splits_mix() -> None:
    """A test split twice as heavy in the hard group reads worse overall though each
    group reads the same: restated at the test mix, the train split agrees with it."""
    from trainer.split_shift import by_group, overall, reweighted

    hard, easy = np.array([20] * 8 + [0] * 2), np.array([0] * 8 + [20] * 2)
    train = by_group(np.concatenate([hard, easy]), np.array(["a"] * 10 + ["b"] * 10))
    test = by_group(np.concatenate([hard, hard, easy]), np.array(["a"] * 20 + ["b"] * 10))
    assert train["a"]["top10"] == pytest.approx(0.2) and train["b"]["top10"] == 0.8
    assert overall(train)["top10"] == pytest.approx(0.5)
    assert overall(test)["top10"] == pytest.approx(0.4)
    mix = reweighted(train, test)
    assert mix["top10"] == pytest.approx(0.4) and mix["missing"] == []
    test["c"] = {"n": 5, "top1": 0.0, "top10": 0.0, "top50": 0.0}
    assert reweighted(train, test)["missing"] == ["c"]
    assert reweighted(train, test)["top10"] == pytest.approx(0.4)


def test_groups_are_the_evaluations_and_by_source_the_photos_folder_too() -> None:
    """FS2K by style, CUFS by sex (`evaluate.group_of`); `--by-source` adds the folder
    of the photo, where FS2K's three photo sources part."""
    from pathlib import Path

    from sketchlab.core.manifest import Row
    from trainer.split_shift import group_label

    fs2k = Row(Path("sketch/sketch3/s1.jpg"), Path("photo/photo3/image1.jpg"), "photo3/image1",
               "test", "0")
    cufs = Row(Path("sketches/f-005-01.jpg"), Path("photos/f-005-01.jpg"), "f-005-01", "test")
    assert group_label(fs2k) == "style 0"
    assert group_label(fs2k, by_source=True) == "style 0, photo3"
    assert group_label(cufs) == "female"
