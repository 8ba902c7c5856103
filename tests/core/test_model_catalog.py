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
