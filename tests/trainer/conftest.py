"""Tiny in-memory training sources: no shared data, no alignment, fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sketchlab.core.manifest import Row
from trainer.config import SourceConfig, TrainConfig
from trainer.data.align_cache import AlignedSet
from trainer.data.datasets import Source

FRAME = (32, 24)


def _faces(n: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random 'photos': blurred noise with a dark ellipse, enough structure to train."""
    import cv2

    out = np.zeros((n, *FRAME, 3), np.uint8)
    for i in range(n):
        base = cv2.GaussianBlur(rng.random((*FRAME, 3)).astype(np.float32), (0, 0), 2)
        img = (base - base.min()) / (np.ptp(base) + 1e-6) * 200 + 30
        cv2.ellipse(img, (12, 16), (6, 9), 0, 0, 360, (40, 30, 20), -1)
        out[i] = img.astype(np.uint8)
    return out


@pytest.fixture
def tiny_sources() -> list[Source]:
    rng = np.random.default_rng(0)
    photos = _faces(6, rng)
    sketches = 255 - np.repeat((photos.mean(axis=3, keepdims=True) / 2).astype(np.uint8), 3, 3)
    rows = tuple(Row(Path(f"s{i}.png"), Path(f"p{i}.png"), f"id{i}", "train") for i in range(6))
    paired = AlignedSet(rows, photos, sketches, ("landmarks",) * 6)
    photo_only = AlignedSet(rows, photos[::-1].copy(), None, ("landmarks",) * 6)
    return [Source(SourceConfig("pairs", "pairs.csv", weight=0.5), paired),
            Source(SourceConfig("synth", "synth.csv", kind="synthetic", weight=0.5),
                   photo_only)]


@pytest.fixture
def tiny_config(tmp_path: Path) -> TrainConfig:
    return TrainConfig.from_dict({
        "name": "tiny", "out_dir": str(tmp_path / "runs"), "seed": 3, "steps": 4,
        "batch_size": 2, "checkpoint_every": 2, "num_workers": 0, "log_every": 1,
        "sample_count": 2, "threads": 1, "lr_decay_steps": 2,
        "generator": {"base_width": 4, "n_residual": 1, "height": FRAME[0],
                      "width": FRAME[1]},
        "disc_width": 4, "disc_layers": 2,
        "loss": {"adv_start": 1, "adv_ramp": 2},
        "sources": [{"name": "pairs", "manifest": "pairs.csv"},
                    {"name": "synth", "manifest": "synth.csv", "kind": "synthetic"}],
    })
