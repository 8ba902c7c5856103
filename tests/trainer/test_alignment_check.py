from __future__ import annotations

import cv2
import numpy as np
import pytest

from sketchlab.core.frame import FRAME_SIZE
from sketchlab.core.preprocess import canonical_points, normalise_paper
from trainer.alignment_check import _apply, on_a_page


@pytest.mark.parametrize("seed", range(4))
def test_a_photographed_page_keeps_the_true_eyes_and_mouth(seed: int) -> None:
    """Three ink dots drawn where a sketch's eyes and mouth are (its truth says where)
    are found on the photographed page exactly where the page's truth puts them."""
    truth = np.array([[0.55, 0.0, -12.0], [0.0, 0.55, -20.0]])  # sketch -> frame
    sketch = np.full((250, 200, 3), 255, np.uint8)
    for x, y in _apply(cv2.invertAffineTransform(truth), canonical_points(FRAME_SIZE)):
        cv2.circle(sketch, (round(x), round(y)), 4, (0, 0, 0), -1)

    page, page_truth = on_a_page(sketch, truth, np.random.default_rng(seed))

    assert page.dtype == np.uint8 and page.shape[0] > 250 and page.shape[1] > 200
    assert page_truth is not None
    ink = (cv2.cvtColor(normalise_paper(page), cv2.COLOR_RGB2GRAY) < 128).astype(np.uint8)
    _, _, stats, centres = cv2.connectedComponentsWithStats(ink)
    dots = centres[1:][np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:3]]
    found = _apply(page_truth, dots)
    target = canonical_points(FRAME_SIZE)
    err = [np.linalg.norm(found - t, axis=1).min() for t in target]
    assert max(err) < 1.0  # frame pixels; the eyes are ~50 apart


def test_a_page_without_a_truth_stays_without_one() -> None:
    page, page_truth = on_a_page(np.full((50, 40, 3), 255, np.uint8), None,
                                 np.random.default_rng(0))
    assert page_truth is None and page.ndim == 3
