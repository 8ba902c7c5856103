"""Live previews leave the inversion thread idle at least half the time while drawing."""

import numpy as np

from sketchlab.ui.live_pacing import MAX_THROTTLE_MS, THROTTLE_MS, LivePacer
from sketchlab.ui.workers import InversionResult


def _result(photo: bool, stages: dict[str, float], ms: float = 5.0) -> InversionResult:
    frame = np.zeros((8, 8, 3), np.uint8)
    return InversionResult(1, frame, frame if photo else None, ms, "m", "CPU", 0.0, False,
                           False, stages=stages)


def test_live_interval_follows_the_inversion_time(qtbot):
    p = LivePacer(lambda: None)
    assert p.interval_ms() == THROTTLE_MS  # nothing measured yet
    p.work_ms = [20.0, 22.0, 25.0]
    assert p.interval_ms() == THROTTLE_MS  # fast machine: the 16 Hz cap
    p.work_ms = [45.0, 48.0, 300.0, 47.0, 46.0]  # one outlier does not count
    assert p.interval_ms() == 94
    p.work_ms = [400.0] * 5
    assert p.interval_ms() == MAX_THROTTLE_MS


def test_only_photos_made_count_as_work(qtbot):
    p = LivePacer(lambda: None)
    p.note(_result(False, {"preprocess": 9.0, "network": 30.0}))  # a blank canvas
    p.note(_result(True, {}))  # no timing
    assert p.work_ms == []
    p.note(_result(True, {"preprocess": 9.0, "network": 30.0}))
    p.note(_result(True, {"preprocess": 4.0}, ms=20.0))  # network time from `ms`
    assert p.work_ms == [39.0, 24.0]
    for _ in range(20):
        p.note(_result(True, {"network": 1.0}))
    assert len(p.work_ms) == 10  # only the recent ones


def test_a_moving_pen_asks_once_per_interval(qtbot):
    asked: list[int] = []
    p = LivePacer(lambda: asked.append(1))
    p.stroke_moved()
    p.stroke_moved()  # the timer runs already: no second request
    qtbot.waitUntil(lambda: len(asked) > 0, timeout=2000)
    qtbot.wait(THROTTLE_MS * 2)
    assert asked == [1]
    p.stroke_moved()
    p.stop()  # pen-up: the final request replaces the pending live one
    qtbot.wait(THROTTLE_MS * 2)
    assert asked == [1]

