"""`sketchlab models` lists a broken model file as unusable, with the reason `invert`
would give, and the intact ones as usable."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from sketchlab.cli import main
from sketchlab.core.checkpoint import CheckpointError, read_metadata
from tests.reliability.conftest import forge_model


@pytest.fixture
def models_dir(tmp_path, tiny_model, monkeypatch):
    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(tiny_model, d / "good.safetensors")
    monkeypatch.setenv("SKETCHLAB_MODELS", str(d))
    return d


def _listing(capsys) -> dict[str, dict]:
    main(["models", "--json"])
    return {m["name"]: m for m in json.loads(capsys.readouterr().out)}


def _lines(capsys) -> dict[str, str]:
    main(["models"])
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


def test_truncated_bad_config_and_nan_files_are_unusable_with_their_reason(
        models_dir, tiny_model, capsys):
    data = tiny_model.read_bytes()
    (models_dir / "truncated.safetensors").write_bytes(data[:len(data) - 4096])
    state = load_file(str(tiny_model))
    config = read_metadata(tiny_model)["config"]
    forge_model(models_dir / "bad-config.safetensors", state,
                json.dumps({**json.loads(config), "n_residual": -3}))
    nan = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
           for k, v in state.items()}
    forge_model(models_dir / "nan-weights.safetensors", nan, config)
    edited = bytearray(data)
    edited[-100] ^= 0xFF  # one weight byte: the recorded SHA-256 no longer matches
    (models_dir / "edited.safetensors").write_bytes(bytes(edited))

    listed = _listing(capsys)
    assert listed["good"]["usable"] is True
    reasons = {n: m.get("reason", "") for n, m in listed.items() if not m["usable"]}
    assert set(reasons) == {"truncated", "bad-config", "nan-weights", "edited"}
    assert "damaged or incomplete" in reasons["truncated"]
    assert "n_residual" in reasons["bad-config"]
    assert "NaN" in reasons["nan-weights"]
    assert "SHA-256" in reasons["edited"]

    lines = _lines(capsys)
    for name in reasons:
        assert "UNUSABLE" in lines[name] and reasons[name] in lines[name]
    assert "UNUSABLE" not in lines["good"]
    # The listing's verdict is the loader's: invert refuses each of them.
    from sketchlab.core.checkpoint import load_generator

    for name in reasons:
        with pytest.raises(CheckpointError):
            load_generator(models_dir / f"{name}.safetensors")
