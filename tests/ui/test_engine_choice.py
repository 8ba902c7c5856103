"""First start on a machine: the app times the engines for the model in the background,
then runs the live photo on the fastest; the next start goes straight to it."""

from sketchlab.core.engine_trial import needs_trial
from sketchlab.core.engines import ENGINE_NAMES, remembered_choice
from sketchlab.core.hashing import sha256_file
from sketchlab.ui.main_window import MainWindow
from sketchlab.ui.settings import SettingsStore


def _window(qtbot, store, tmp_path, measured: list[str]) -> MainWindow:
    w = MainWindow(store, autosave_root=tmp_path / "a")
    qtbot.addWidget(w)
    w.service.measuring.connect(measured.append)  # queued from the worker: not missed
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=60000)
    return w


def test_first_start_times_the_engines_then_uses_the_fastest(qtbot, tiny_model, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("SKETCHLAB_ENGINE", "auto")
    store = SettingsStore()
    store.update(store.value.replace(model=str(tiny_model), device="cpu"))
    assert needs_trial(tiny_model)
    measured: list[str] = []
    w = _window(qtbot, store, tmp_path, measured)
    assert measured == ["tiny"]
    choice = remembered_choice(sha256_file(tiny_model))
    assert choice is not None and choice.trials["torch fp32"]["ok"]
    status = w.service.status
    assert ENGINE_NAMES[choice.engine] in status.device_label
    assert status.inverter is not None  # the search shares the live preview's network
    assert "Live photo ready" in w.statusBar().currentMessage()
    w.close()

    again: list[str] = []
    w2 = _window(qtbot, store, tmp_path, again)
    assert again == [] and w2.service.status.device_label == status.device_label


def test_the_engine_setting_overrides_the_measurement(qtbot, tiny_model, tmp_path,
                                                      monkeypatch):
    monkeypatch.delenv("SKETCHLAB_ENGINE")
    store = SettingsStore()
    store.update(store.value.replace(model=str(tiny_model), device="cpu",
                                     engine="onnxruntime"))
    measured: list[str] = []
    w = _window(qtbot, store, tmp_path, measured)
    assert measured == [] and "ONNX Runtime" in w.service.status.device_label
    store.update(store.value.replace(engine="torch"))
    qtbot.waitUntil(lambda: w.service.status is not None
                    and "PyTorch" in w.service.status.device_label, timeout=30000)
