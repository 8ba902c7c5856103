import shutil

import pytest

from sketchlab.core.checkpoint import CheckpointError
from sketchlab.core.model_catalog import DEFAULT_MODEL, list_models, resolve_model


def test_lists_valid_models_and_skips_broken(tmp_path, tiny_model):
    shutil.copy(tiny_model, tmp_path / "tiny.safetensors")
    (tmp_path / "tiny.md").write_text("# Tiny\ncard text\n")
    (tmp_path / "broken.safetensors").write_bytes(b"nope")
    models = list_models([tmp_path])
    assert [m.name for m in models] == ["tiny"]
    assert models[0].card_text().startswith("# Tiny")
    assert models[0].config.resolution == (64, 48)
    assert len(models[0].sha256) == 64


def test_resolve_by_name_path_and_default(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tmp_path))
    shutil.copy(tiny_model, tmp_path / f"{DEFAULT_MODEL}.safetensors")
    assert resolve_model(str(tiny_model)) == tiny_model
    assert resolve_model(None).name == f"{DEFAULT_MODEL}.safetensors"  # the file name rules
    with pytest.raises(CheckpointError, match="no installed model named"):
        resolve_model("absent")
    with pytest.raises(CheckpointError, match="not found"):
        resolve_model(tmp_path / "gone.safetensors")


def test_two_way_tables_of_another_drawing_are_dropped_with_their_unseen_artist_kinds():
    """The unseen-artist kinds follow their search's kind: a two-way one measured with
    another drawing is left out with it; one-way ones stay."""
    import numpy as np

    from sketchlab.core import drawn
    from sketchlab.core import search_rates as sr
    from sketchlab.core.model_catalog import read_search_rates

    t = np.linspace(0.7, 1.0, 4)
    table = {k: sr.SearchCalibration(k, np.array([100.0]), t, np.zeros((1, 4)),
                                     np.zeros((1, 4)), np.zeros((1, 3)), 1, 1, "t")
             for k in ("adapted", "adapted" + sr.UNSEEN_ARTIST, "adapted" + drawn.TWO_WAY,
                       "adapted" + drawn.TWO_WAY + sr.UNSEEN_ARTIST)}
    extra = {"model_sha256": "m", "two_way": drawn.two_way_fields()}
    meta = {"sha256": "m", sr.METADATA_KEY: sr.dumps(table, extra)}
    assert set(read_search_rates(meta, "x")) == set(table)
    meta[sr.METADATA_KEY] = sr.dumps(table, {**extra, "two_way": {"weight": 2.0}})
    assert set(read_search_rates(meta, "x")) == {"adapted", "adapted" + sr.UNSEEN_ARTIST}


def test_two_way_rates_stay_only_where_their_drawing_network_is_installed(tmp_path,
                                                                          tiny_model,
                                                                          monkeypatch):
    """Two-way rates read on faces drawn by a network describe the search only where that
    network is installed (a `drawers` folder beside the models, found by its weights);
    the network is never listed as a model to invert with."""
    import shutil

    import numpy as np

    from sketchlab.core import drawn
    from sketchlab.core import search_rates as sr
    from sketchlab.core.model_catalog import (
        find_drawer,
        read_search_rates,
        scan_models,
        search_drawing,
    )
    from sketchlab.core.model_file import read_metadata

    models = tmp_path / "models"
    (models / "drawers").mkdir(parents=True)
    net = models / "drawers" / "net.safetensors"
    shutil.copy(tiny_model, net)
    drawing = drawn.Drawing.by_network(net)
    assert drawing.model == drawn.network_drawn_model(read_metadata(net)["sha256"])
    assert find_drawer(drawing.model, [models]) == drawing
    assert find_drawer(drawing.model, [tmp_path / "elsewhere"]) is None
    assert find_drawer(drawn.DRAWN_MODEL, []) == drawn.PENCIL
    assert scan_models([models]) == ([], [])  # not a model to pick

    t = np.linspace(0.7, 1.0, 4)
    table = {k: sr.SearchCalibration(k, np.array([100.0]), t, np.zeros((1, 4)),
                                     np.zeros((1, 4)), np.zeros((1, 3)), 1, 1, "t")
             for k in ("adapted", "adapted" + drawn.TWO_WAY)}
    meta = {"sha256": "m", sr.METADATA_KEY: sr.dumps(
        table, {"model_sha256": "m", "two_way": drawn.two_way_fields(drawing.model)})}
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tmp_path / "elsewhere"))
    assert set(read_search_rates(meta, "x")) == {"adapted"} and search_drawing(meta) is None
    monkeypatch.setenv("SKETCHLAB_MODELS", str(models))
    assert set(read_search_rates(meta, "x")) == set(table)
    assert search_drawing(meta) == drawing


def test_the_bundled_model_searches_two_ways_with_the_drawer_that_ships_beside_it():
    """The bundled model's two-way tables were measured on faces drawn by a network: that
    network must ship in models/drawers (the bundle copies that folder), or every gallery
    would be searched one way."""
    from sketchlab.core import drawn, paths
    from sketchlab.core.model_catalog import model_drawing, read_calibration

    drawing = model_drawing()
    assert drawing.drawer is not None and drawing != drawn.PENCIL
    assert drawing.drawer.parent == paths.models_dir() / "drawers"
    fields = read_calibration(resolve_model(DEFAULT_MODEL))[1]
    assert fields["drawing"] == drawing
    assert any(k.endswith(drawn.TWO_WAY) for k in fields["search"])
