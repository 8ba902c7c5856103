"""tools/artist_augment_sheet.py: one labelled row per augmentation, the inputs on top."""

import numpy as np

from sketchlab.core.frame import FRAME_SIZE
from tools.artist_augment_sheet import LABEL_W, sheet
from trainer.data.artist_augment import ARTIST_AUGMENTS


def test_sheet_rows_columns_and_first_row() -> None:
    h, w = FRAME_SIZE
    rng = np.random.default_rng(0)
    sketches = [np.full((h, w, 3), 255, np.uint8) for _ in range(3)]
    for s in sketches:
        s[40:120, 30:100] = rng.integers(0, 255, (80, 70, 1))
    img = sheet(sketches, seed=0)
    rows = len(ARTIST_AUGMENTS) + 2  # as drawn, each augmentation, paper before clean-up
    assert img.shape == (rows * (h + 2) + 2, LABEL_W + 3 * (w + 2) + 2, 3)
    assert np.array_equal(img[2:2 + h, LABEL_W + 2:LABEL_W + 2 + w], sketches[0])
    assert not np.array_equal(img[h + 4:2 * h + 4, LABEL_W + 2:LABEL_W + 2 + w], sketches[0])
    assert img[:, :LABEL_W].min() < 100  # the labels are written
