"""A blank sketch searched in the app: the defined "nothing to search" result, the same
words as `sketchlab match`, and no candidates (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sketchlab.core.query import NOTHING_TO_SEARCH
from tests.ui.helpers import open_searchable_window


def test_blank_canvas_search_is_nothing_to_search(qtbot, tiny_model, tmp_path):
    from sketchlab.core.matching import FaceScan
    from sketchlab.db.gallery import open_gallery
    from sketchlab.enrol.inputs import EnrollItem
    from sketchlab.enrol.run import EnrolledPhoto

    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    rng = np.random.default_rng(0)
    with open_gallery(url) as g:  # a gallery with faces in it: a search would rank them
        g.write_batch([EnrolledPhoto(EnrollItem(Path(f"p{i}.jpg"), f"person {i}"), f"{i:064x}",
                                     FaceScan(rng.normal(0, 0.1, 128).astype(np.float32),
                                              (10, 50, 50, 10), 1), 64, 64, b"")
                       for i in range(3)])
    w = open_searchable_window(qtbot, tiny_model, url, tmp_path / "autosave")
    done = []
    w.match_done.connect(done.append)
    w.commands.search.trigger()
    qtbot.waitUntil(lambda: w.match_panel.status.text() == NOTHING_TO_SEARCH, timeout=30000)
    qtbot.wait(200)
    assert done == [] and w.match_panel.table.rowCount() == 0
