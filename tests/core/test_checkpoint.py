import json
import struct

import pytest
import torch

from sketchlab.core.checkpoint import (
    CheckpointError,
    load_generator,
    save_generator,
    weights_sha256,
)
from sketchlab.core.network import Generator, GeneratorConfig


def _tiny():
    return Generator(GeneratorConfig(base_width=4, n_residual=1, height=16, width=16))


def test_roundtrip_rebuilds_from_file_alone(tmp_path):
    net = _tiny()
    path = tmp_path / "m.safetensors"
    sha = save_generator(path, net, extra={"name": "m"})
    loaded = load_generator(path)
    assert loaded.sha256 == sha and loaded.name == "m" and loaded.metadata["name"] == "m"
    assert loaded.config == net.config
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), loaded.generator(x))


def test_hash_changes_with_weights(tmp_path):
    a, b = _tiny(), _tiny()
    assert save_generator(tmp_path / "a.safetensors", a) != save_generator(
        tmp_path / "b.safetensors", b)


def test_pickle_file_is_refused(tmp_path):
    path = tmp_path / "evil.safetensors"
    torch.save({"x": 1}, path)  # a pickle-based file, as an attacker might supply
    with pytest.raises(CheckpointError):
        load_generator(path)


def test_foreign_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a SketchLab generator"):
        load_generator(path)


def test_corrupted_weights_detected(tmp_path):
    path = tmp_path / "m.safetensors"
    save_generator(path, _tiny())
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_generator(path)


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "m.safetensors"
    save_generator(path, _tiny())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        load_generator(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "nope.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError):
        load_generator(tmp_path / "garbage.safetensors")


def test_config_mismatch_is_clear(tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_generator(path, _tiny())
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        meta = json.loads(fh.read(n))["__metadata__"]
    cfg = json.loads(meta["config"])
    cfg["base_width"] = 8
    meta["config"] = json.dumps(cfg)
    state = load_file(str(path))
    meta["sha256"] = weights_sha256(state, meta["config"])  # a consistent forgery
    save_file(state, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_generator(path)
