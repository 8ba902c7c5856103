"""The precision setting: stored, offered in Settings, shown with the photo, applied live,
and the same for the live photo and the search's inversion."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.engine_torch import native_bf16
from sketchlab.core.inference import Inverter
from sketchlab.core.precision import ENV
from sketchlab.core.variants import sketch_variants
from sketchlab.ui.settings import AppSettings, SettingsStore


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_stored_and_checked(tmp_path):
    store = SettingsStore(tmp_path / "s.ini")
    assert store.value.precision == "auto"
    store.update(store.value.replace(precision="fp32"))
    assert SettingsStore(tmp_path / "s.ini").value.precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        AppSettings(precision="fp16")


def test_settings_dialog_offers_it(qtbot, tiny_model):
    from sketchlab.ui.dialogs.settings_dialog import SettingsDialog

    store = SettingsStore()
    dlg = SettingsDialog(store, [], False)
    qtbot.addWidget(dlg)
    assert [dlg.precision.itemData(i) for i in range(dlg.precision.count())] == [
        "auto", "fp32", "bf16"]  # int8: only for a model whose int8 export held
    dlg.precision.setCurrentIndex(dlg.precision.findData("fp32"))
    assert dlg.edited().precision == "fp32"


def test_the_window_shows_and_switches_it(qtbot, tiny_model, tmp_path):
    from tests.ui.helpers import make_window

    w = make_window(qtbot, tiny_model, tmp_path / "a", show=False, precision="fp32")
    store = w.store
    qtbot.waitUntil(lambda: w.photo_pane.status is not None, timeout=10000)
    assert w.photo_pane.status.device_label.endswith(", fp32)")
    assert "fp32" in w.photo_pane.info.text()
    with qtbot.waitSignal(w.service.model_changed, timeout=10000):
        store.update(store.value.replace(precision="auto"))  # same model: reloaded
    expected = "bf16" if native_bf16() else "fp32"
    assert w.service.status.device_label.endswith(f", {expected})")


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_the_search_inverts_in_the_live_precision(tiny_model, precision):
    """A search made before the live Inverter is loaded has its own; with the one setting,
    the photo it searches (the unchanged reading among the variants, inverted in a batch)
    is the photo shown."""
    from sketchlab.ui.panels.match_panel import _search_inverter

    live = Inverter(tiny_model, device="cpu", precision=precision)
    search = _search_inverter(str(tiny_model), "cpu", precision, "torch")
    assert search.precision == live.precision
    rng = np.random.default_rng(5)
    sketch = np.where(rng.random((*live.resolution, 1)) < 0.2, 0, 255).repeat(3, 2)
    sketch = sketch.astype(np.uint8)
    searched = search.invert_batch(sketch_variants(sketch, 8))[0]
    assert np.abs(searched.astype(int) - live.invert(sketch).astype(int)).max() <= 1
