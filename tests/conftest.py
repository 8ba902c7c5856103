"""Shared fixtures: an isolated user home per test, tiny models, and the shared data path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sketchlab.core.manifest import shared_data_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SKETCHLAB_NO_LOG_FILE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = shared_data_dir()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Path:
    """No test reads or writes the real user directories. PyTorch runs the network unless
    a test asks for another engine (timing the engines in every fresh home would cost
    seconds per test; tests/core/test_engines.py and tests/ui/test_engine_choice.py
    cover the choice)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SKETCHLAB_HOME", str(home))
    monkeypatch.setenv("SKETCHLAB_ENGINE", "torch")
    return home


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A command run in-process (`trainer.__main__.main` calls logging.basicConfig) must not
    leave a handler on a captured stream that a later test's logging would write to."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "cufs_cuhk" / "manifest.csv").is_file():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (set SKETCHLAB_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def _lfw_embeddings(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """An embeddings.sqlite holding the LFW descriptors `lfw_descriptors` reads: computed
    once a session (about a minute on 2 cores), not once per test's fresh home."""
    from sketchlab.core.synthetic_descriptors import lfw_descriptors

    home = tmp_path_factory.mktemp("lfw-embeddings")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKETCHLAB_HOME", str(home))
        from sketchlab.core import paths

        lfw_descriptors(shared_data)
        return paths.user_cache_dir() / "embeddings.sqlite"


@pytest.fixture
def lfw_embeddings(_lfw_embeddings: Path, _isolated_home: Path) -> Path:
    """This test's home starts with the session's LFW descriptors in its cache (the
    cache holds pure results, sha -> descriptor, so sharing them changes no outcome)."""
    import shutil

    from sketchlab.core import paths

    dest = paths.user_cache_dir() / "embeddings.sqlite"
    shutil.copy(_lfw_embeddings, dest)
    return dest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small, untrained generator saved in the real checkpoint format."""
    import torch

    from sketchlab.core.checkpoint import save_generator
    from sketchlab.core.network import Generator, GeneratorConfig

    torch.manual_seed(0)
    cfg = GeneratorConfig(base_width=8, n_residual=1, height=64, width=48)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_generator(path, Generator(cfg), extra={"name": "tiny", "summary": "test model"})
    return path


def write_test_calibration(model: Path) -> dict:
    """Store a synthetic sketch-query calibration (genuine ~ N(0.3, 0.05), impostor ~
    N(0.5, 0.05); 8 variants with 0.2 of the raw sketch) in a model file; returns it."""
    from sketchlab.core.calibration import ScoreCalibration
    from sketchlab.core.checkpoint import read_metadata
    from sketchlab.core.model_catalog import write_calibration

    rng = np.random.default_rng(0)
    kinds = {k: ScoreCalibration.fit(k, rng.normal(0.3, 0.05, 500),
                                     rng.normal(0.5, 0.05, 50_000), "test pairs")
             for k in ("single", "variants", "raw")}
    write_calibration(model, kinds, {"raw_weight": 0.2, "variants": 8,
                                     "model_sha256": read_metadata(model)["sha256"]})
    return kinds


@pytest.fixture
def calibrated_tiny_model(tiny_model: Path, tmp_path: Path):
    """(path, calibrations): the tiny model with `write_test_calibration`'s calibration
    stored in its metadata."""
    import shutil

    model = tmp_path / "calibrated.safetensors"
    shutil.copy(tiny_model, model)
    return model, write_test_calibration(model)


@pytest.fixture
def face_sketch() -> np.ndarray:
    """A synthetic line drawing of a face on off-white paper (no dataset needed)."""
    import cv2

    img = np.full((250, 200, 3), 235, np.uint8)
    cv2.ellipse(img, (100, 130), (60, 80), 0, 0, 360, (40, 40, 40), 2)
    cv2.circle(img, (75, 120), 8, (30, 30, 30), 2)
    cv2.circle(img, (125, 120), 8, (30, 30, 30), 2)
    cv2.line(img, (100, 125), (95, 160), (60, 60, 60), 2)
    cv2.ellipse(img, (100, 180), (22, 8), 0, 0, 180, (50, 50, 50), 2)
    return img


@pytest.fixture
def enrol_folder(shared_data: Path, tmp_path: Path) -> Path:
    """A flat folder named as LFW names files (`Name_0001`), one of each outcome: two
    one-face CUFS photos, a photo of two people, a blank image (no face), a corrupt JPEG
    (unreadable) and a text file (not an image)."""
    from PIL import Image

    photos = sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[:2]
    folder = tmp_path / "to_enrol"
    folder.mkdir()
    for name, src in zip(("Ann_0001.jpg", "Bob_0001.jpg"), photos, strict=True):
        (folder / name).write_bytes(src.read_bytes())
    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in photos)
    Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / "Carol_0001.png")
    Image.fromarray(np.full((240, 200, 3), 180, np.uint8)).save(folder / "Dan_0001.png")
    (folder / "Eve_0001.jpg").write_bytes(photos[0].read_bytes()[:600])
    (folder / "notes.txt").write_text("not a photo\n")
    return folder
