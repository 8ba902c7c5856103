"""Live previews leave the inversion thread idle at least half the time while drawing."""

from sketchlab.ui.main_window import MAX_THROTTLE_MS, THROTTLE_MS, MainWindow
from sketchlab.ui.settings import SettingsStore


def test_live_interval_follows_the_inversion_time(qtbot, tiny_model, tmp_path):
    store = SettingsStore()
    store.update(store.value.replace(model=str(tiny_model), device="cpu"))
    w = MainWindow(store, autosave_root=tmp_path / "a")
    qtbot.addWidget(w)
    assert w._live_interval_ms() == THROTTLE_MS  # nothing measured yet
    w._work_ms = [20.0, 22.0, 25.0]
    assert w._live_interval_ms() == THROTTLE_MS  # fast machine: the 16 Hz cap
    w._work_ms = [45.0, 48.0, 300.0, 47.0, 46.0]  # one outlier does not count
    assert w._live_interval_ms() == 94
    w._work_ms = [400.0] * 5
    assert w._live_interval_ms() == MAX_THROTTLE_MS
