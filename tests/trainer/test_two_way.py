"""`python -m trainer two-way`: the drawing candidates and the weight table it prints."""

from __future__ import annotations

import numpy as np

from sketchlab.core.drawn import REDRAWN_SHARE
from trainer.two_way import DRAWINGS, SHARES, WEIGHTS, format_shares, format_tables, pencil_drawings


def test_the_table_lists_every_drawing_and_weight() -> None:
    hits = [0.25, 0.5, 0.75]
    res = {"bank": 10_671,
           "drawings": {k: {"cufs_train": hits, "fs2k_train": hits}
                        for k in ("photo (no drawing)", "blur 8 px, tone 0")},
           "weights": {"blur 8 px, tone 0": {
               f"{w}{g}": hits for w in ("one way", *(f"{x:g}" for x in WEIGHTS))
               for g in ("", "_grey")}}}
    text = format_tables(res)
    assert "(10,671 faces)" in text and "| blur 8 px, tone 0 | 25.0 / 50.0 / 75.0 |" in text
    for w in WEIGHTS:
        assert f"| blur 8 px, tone 0 | {w:g} | 25.0 / 50.0 / 75.0 | 25.0 / 50.0 / 75.0 |" in text
    assert (8.0, 0.0) in DRAWINGS  # the drawing the app uses is among those compared


def test_each_drawing_gives_its_own_descriptor(shared_data) -> None:
    files = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[:2]
    soft, sharp = pencil_drawings(files, 8.0, 0.0), pencil_drawings(files, 2.0, 0.0)
    assert soft.shape == sharp.shape == (2, 128)
    assert np.all(np.abs(np.linalg.norm(soft, axis=1) - 1.0) < 0.5)
    assert not np.allclose(soft, sharp, atol=1e-3)


def test_the_share_table_lists_every_redrawn_share() -> None:
    res = {"bank": 10_671, "shares": {f"{x:g}": {"colour": [0.25, 0.5, 0.75],
                                                  "grey": [0.5, 0.5, 1.0]} for x in SHARES}}
    text = format_shares(res)
    assert "(10,671 faces)" in text
    for x in SHARES:
        assert f"| {x:g} | 25.0 / 50.0 / 75.0 | 50.0 / 50.0 / 100.0 |" in text
    assert 0.0 in SHARES and REDRAWN_SHARE in SHARES  # the app's search and the chosen share
