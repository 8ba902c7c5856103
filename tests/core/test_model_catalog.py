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
