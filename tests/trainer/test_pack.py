"""Training packs: built from the tiny sources, read back, refused when damaged or made for
another config, and trained from in a process that cannot import dlib or platformdirs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import TrainConfig, load_config
from trainer.pack import INDEX, PackError, build_pack, read_pack

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("dlib", "face_recognition", "face_recognition_models", "PySide6", "sqlalchemy",
           "platformdirs", "appdirs")
PHOTOS = "sources/pairs/photos.webp.npy"


@pytest.fixture(scope="module")
def _face_net_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dlib's network converted once for the module (it takes a while), as the user
    cache holds it."""
    from sketchlab.core.face_net import face_net_state

    cache = tmp_path_factory.mktemp("face_net")
    face_net_state(cache_dir=cache)
    return cache


@pytest.fixture
def pack_config(tiny_config: TrainConfig, tiny_sources) -> TrainConfig:
    """The tiny config of the tiny sources."""
    return tiny_config.replace(steps=2, sources=tuple(s.config for s in tiny_sources))


@pytest.fixture
def face_config(pack_config: TrainConfig, _face_net_cache: Path, _isolated_home: Path
                ) -> TrainConfig:
    """With the face terms on, dlib's converted network in the home's cache."""
    shutil.copytree(_face_net_cache, _isolated_home / "cache" / "face_net")
    loss = dataclasses.replace(pack_config.loss, identity=1.0, perceptual=0.5)
    return pack_config.replace(loss=loss)


@pytest.fixture
def tiny_pack(pack_config, tiny_sources, tmp_path: Path) -> Path:
    out = tmp_path / "tiny.pack"
    build_pack(pack_config, out, sources=tiny_sources, progress=False)
    return out


def test_pack_round_trip(face_config, tiny_sources, tmp_path: Path) -> None:
    from sketchlab.core.face_net import face_net_state

    tiny_pack = tmp_path / "tiny.pack"
    build_pack(face_config, tiny_pack, sources=tiny_sources, progress=False)
    pack = read_pack(tiny_pack, face_config)
    assert [s.config for s in pack.sources] == list(face_config.sources)
    for got, want, entry in zip(pack.sources, tiny_sources, pack.index["sources"],
                                strict=True):
        assert len(got.data) == len(want.data) and got.data.methods == want.data.methods
        assert [r.identity for r in got.data.rows] == [r.identity for r in want.data.rows]
        kinds = ("photos", "sketches") if want.config.kind == "paired" else ("photos",)
        if want.config.kind == "synthetic":
            assert got.data.sketches is None and "sketches" not in entry
        for kind in kinds:
            a, b = getattr(got.data, kind), getattr(want.data, kind)
            assert a.shape == b.shape and a.dtype == np.uint8
            err = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(1, 2, 3)).mean()
            assert err == pytest.approx(entry[kind]["mean_abs_error"], abs=1e-3)
            assert err < 8, f"{kind}: WebP error {err:.2f} grey levels"
    assert pack.index["sources"][0]["sketches"]["grey"] is True
    state, dat_sha, _ = face_net_state()
    assert pack.index["face_net"]["source_sha256"] == dat_sha
    assert state.keys() == pack.face_net_state.keys()
    assert all(torch.equal(state[k], pack.face_net_state[k]) for k in state)
    again = tmp_path / "again.pack"
    build_pack(face_config, again, sources=tiny_sources, progress=False)
    assert again.read_bytes() == tiny_pack.read_bytes()  # same input, same bytes


def test_damaged_pack_is_refused(pack_config, tiny_pack: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(tiny_pack) as zf:
        info = zf.getinfo(PHOTOS)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)  # its data
    raw = bytearray(tiny_pack.read_bytes())
    raw[start + info.compress_size // 2] ^= 0x10  # one bit of one stored image
    flipped = tmp_path / "flipped.pack"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(PackError, match="is damaged"):
        read_pack(flipped, pack_config)

    # A well-formed zip whose member was changed: only the pack's own hashes see it.
    edited = tmp_path / "edited.pack"
    with zipfile.ZipFile(tiny_pack) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == PHOTOS:
                data = data[:-4] + b"\0\0\0\0"
            dst.writestr(info, data)
    with pytest.raises(PackError, match=f"damaged.*{PHOTOS} does not match its SHA-256"):
        read_pack(edited, pack_config)

    truncated = tmp_path / "truncated.pack"
    truncated.write_bytes(tiny_pack.read_bytes()[:1000])
    with pytest.raises(PackError, match="is damaged"):
        read_pack(truncated, pack_config)


def test_pack_for_another_config_is_refused(pack_config, tiny_pack: Path) -> None:
    s0, s1 = pack_config.sources
    cases = {
        "weight": pack_config.replace(sources=(dataclasses.replace(s0, weight=0.7), s1)),
        "kind": pack_config.replace(sources=(s0, dataclasses.replace(s1, kind="paired"))),
        "sources": pack_config.replace(sources=(s0, dataclasses.replace(s1, name="other"))),
        "frame": pack_config.replace(generator=dataclasses.replace(
            pack_config.generator, height=64, width=48)),
        "face network": pack_config.replace(loss=dataclasses.replace(
            pack_config.loss, perceptual=1.0)),
    }
    for word, cfg in cases.items():
        with pytest.raises(PackError, match=f"not made for this config: .*{word}"):
            read_pack(tiny_pack, cfg)
    index = json.loads(zipfile.ZipFile(tiny_pack).read(INDEX))
    assert index["sources"][0]["config"]["weight"] == s0.weight
    # Artist augmentations act on each draw, not on the stored frames: the pack serves.
    drawn = pack_config.replace(sources=(dataclasses.replace(
        s0, artist_augment=("paper",), artist_augment_p=0.3), s1))
    assert len(read_pack(tiny_pack, drawn).sources) == 2


_BARE = """
import importlib.abc, runpy, sys
BLOCKED = set(sys.argv[1].split(","))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on this machine")

sys.meta_path.insert(0, Refuse())
sys.argv = ["trainer", *sys.argv[2:]]
runpy.run_module("trainer", run_name="__main__", alter_sys=True)
"""


def test_training_from_a_pack_needs_no_dlib(face_config, tiny_sources, tmp_path: Path) -> None:
    """`python -m trainer train --pack` in a process that cannot import dlib,
    face_recognition(_models), Qt, SQLAlchemy, platformdirs or appdirs: a real 2-step run
    with the face terms on (the network from the pack) and an initial generator."""
    from sketchlab.core.checkpoint import save_generator
    from sketchlab.core.network import Generator

    init = tmp_path / "init.safetensors"
    save_generator(init, Generator(face_config.generator), extra={"name": "init"})
    cfg = face_config.replace(init_generator=str(init), steps=2)
    config = tmp_path / "tiny.toml"
    config.write_text(cfg.to_toml(), encoding="utf-8")
    assert load_config(config) == cfg
    pack = tmp_path / "tiny.pack"
    build_pack(cfg, pack, sources=tiny_sources, progress=False)

    run_dir = tmp_path / "elsewhere" / "run"
    env = {k: v for k, v in os.environ.items() if k != "SKETCHLAB_HOME"}  # no user dirs
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _BARE, ",".join(BLOCKED), "train", "--config", str(config),
         "--pack", str(pack), "--run-dir", str(run_dir), "--nice", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "checkpoints" / "step_0000002.pt").is_file()
    assert (run_dir / "generator.safetensors").is_file()
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2] and all(s["g_id"] > 0 for s in steps)
    record = json.loads((run_dir / "pack.json").read_text())
    assert record["sources"] == {"pairs": 6, "synth": 6}
    assert not (tmp_path / "home").exists()  # nothing went to the user folders

    # The same process refuses a pack made for another config, with the reason.
    other = tmp_path / "other.toml"
    other.write_text(cfg.replace(sources=(dataclasses.replace(cfg.sources[0], weight=0.9),
                                          cfg.sources[1])).to_toml(), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", _BARE, ",".join(BLOCKED), "train", "--config", str(other),
         "--pack", str(pack), "--run-dir", str(tmp_path / "run2"), "--nice", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "not made for this config: source pairs: weight 0.5 vs the config's 0.9" \
        in proc.stderr
