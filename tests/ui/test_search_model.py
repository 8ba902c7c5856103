"""A search model apart from the live photo's: Settings > Search with. The small model keeps
drawing the live photo; the search inverts its variants with the other model, reads that
model's calibration, says so in the panel, and the case records the model that made each
photo searched."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core.checkpoint import load_generator
from tests.conftest import write_test_calibration
from tests.ui.helpers import draw_and_wait_for_photo, open_searchable_window, search_and_wait

WAIT_MS = 30000


@pytest.fixture
def search_model(tmp_path):
    """An installed model named `searcher`: a network unlike the live one (another seed),
    calibrated for 8-variant searches (the live tiny model has no calibration: 1 photo)."""
    import torch

    from sketchlab.core.checkpoint import save_generator
    from sketchlab.core.network import Generator, GeneratorConfig

    folder = tmp_path / "models"
    folder.mkdir()
    torch.manual_seed(1)
    path = folder / "searcher.safetensors"
    cfg = GeneratorConfig(base_width=8, n_residual=2, height=64, width=48)
    save_generator(path, Generator(cfg), extra={"name": "searcher", "summary": "test"})
    write_test_calibration(path)
    return path


def test_search_runs_on_the_search_model_and_the_case_names_it(qtbot, tiny_model, search_model,
                                                               gallery_url, tmp_path,
                                                               monkeypatch):
    from sketchlab.core.inference import Inverter

    monkeypatch.setenv("SKETCHLAB_MODELS", str(search_model.parent))
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    w.store.update(w.store.value.replace(search_model="searcher"))
    info = w.case_dock.panel.create_case(title="Search model", artist="tester")
    shown = draw_and_wait_for_photo(qtbot, w, WAIT_MS)
    live = next(r for r in reversed(shown) if r.final and r.photo is not None)
    assert live.model == "tiny"  # the live photo stays the small model's
    done: list = []
    w.match_done.connect(done.append)
    outcome = search_and_wait(qtbot, w, done, WAIT_MS)

    # the search model's calibration set the search: 8 variants (the live model has none)
    assert len(outcome.variant_photos) == 8
    assert {q.model for q in outcome.queries} == {"searcher"}
    # ... and its network made the photos searched
    theirs = Inverter(search_model, device="cpu", warmup=False, precision="fp32",
                      engine="torch").invert(outcome.variant_sketches[0])
    ours = Inverter(tiny_model, device="cpu", warmup=False, precision="fp32",
                    engine="torch").invert(outcome.variant_sketches[0])
    got = outcome.variant_photos[0].astype(int)
    assert np.abs(got - theirs.astype(int)).mean() < 2 < np.abs(got - ours.astype(int)).mean()
    assert "by the search model searcher" in w.match_panel.status.text()

    case = w.case_dock.panel.store.get(info.uid)
    searched = [inv for inv in case.inversions if inv.variant]
    assert len(searched) == 8
    assert {inv.model_name for inv in searched} == {"searcher"}
    assert {inv.model_sha256 for inv in searched} == {load_generator(search_model).sha256}
    w.close()


def test_a_search_model_has_its_engines_timed_once_then_runs_on_the_fastest(
        qtbot, tiny_model, search_model, gallery_url, tmp_path, monkeypatch):
    """The live model's engines are timed at first start; a search model set apart is
    timed at its first search (not left on PyTorch for good), and never again."""
    from sketchlab.core.engine_trial import needs_trial
    from sketchlab.core.engines import ENGINE_NAMES, remembered_choice
    from sketchlab.core.hashing import sha256_file

    monkeypatch.setenv("SKETCHLAB_ENGINE", "auto")
    monkeypatch.setenv("SKETCHLAB_MODELS", str(search_model.parent))
    assert needs_trial(search_model)
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    w.store.update(w.store.value.replace(search_model="searcher"))
    draw_and_wait_for_photo(qtbot, w, WAIT_MS)
    done: list = []
    w.match_done.connect(done.append)
    outcome = search_and_wait(qtbot, w, done, WAIT_MS)

    choice = remembered_choice(sha256_file(search_model))
    assert choice is not None and choice.trials["torch fp32"]["ok"]
    assert not needs_trial(search_model)
    assert {q.model for q in outcome.queries} == {"searcher"}
    assert all(ENGINE_NAMES[choice.engine] in q.device_label for q in outcome.queries)
    w.close()


def test_an_uninstalled_search_model_is_reported_not_swapped(qtbot, tiny_model, gallery_url,
                                                             tmp_path):
    w = open_searchable_window(qtbot, tiny_model, gallery_url, tmp_path / "autosave",
                               wait_ms=WAIT_MS)
    w.store.update(w.store.value.replace(search_model="no-such-searcher"))
    draw_and_wait_for_photo(qtbot, w, WAIT_MS)
    w.commands.search.trigger()
    qtbot.waitUntil(lambda: "no-such-searcher" in w.match_panel.status.text(), timeout=WAIT_MS)
    assert "Search with" in w.match_panel.status.text()
    assert w.match_panel.outcome is None  # nothing was searched with another model instead
    w.close()


def test_settings_offer_the_search_model(qtbot, tiny_model, search_model):
    from sketchlab.core.model_catalog import list_models
    from sketchlab.ui.dialogs.settings_dialog import SettingsDialog
    from sketchlab.ui.settings import SettingsStore

    store = SettingsStore()
    models = list_models([tiny_model.parent, search_model.parent])
    dlg = SettingsDialog(store, models, False)
    qtbot.addWidget(dlg)
    assert dlg.search_model.currentData() == ""  # by default: the live photo's model
    dlg.search_model.setCurrentIndex(dlg.search_model.findData("searcher"))
    assert dlg.apply() and store.value.search_model == "searcher"
    # a choice whose model has gone stays visible as such, not silently replaced
    store.update(store.value.replace(search_model="gone"))
    again = SettingsDialog(store, models, False)
    qtbot.addWidget(again)
    assert again.search_model.currentText() == "gone (not installed)"
