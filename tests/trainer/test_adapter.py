"""Fitting the query adapter on descriptors where sketches sit off their photos by a
shared shift: the fitted adapter must find the photos the plain descriptor misses."""

from __future__ import annotations

import numpy as np

from sketchlab.core.adapter import DIM
from trainer.adapter import FitConfig, TrainData, fit, ranks_in_bank


def _shifted_world(n_people: int, seed: int) -> TrainData:
    rng = np.random.default_rng(seed)
    photos = rng.normal(0, 0.05, (n_people, DIM)).astype(np.float32)
    shift = np.zeros(DIM, np.float32)
    shift[:8] = 0.08  # an artist's style: every sketch lands off its photo the same way
    mean = photos + shift + rng.normal(0, 0.01, photos.shape).astype(np.float32)
    raw = photos + 2 * shift + rng.normal(0, 0.02, photos.shape).astype(np.float32)
    fused = 0.8 * mean + 0.2 * raw
    ids = np.arange(n_people)
    return TrainData(mean, raw, fused, ids.copy(), ids.copy(), ["set"] * n_people, photos,
                     ids.copy(), np.zeros(n_people, bool))


def test_fit_learns_a_shared_shift_and_generalises_to_new_people() -> None:
    world = _shifted_world(400, seed=0)
    train, held = np.arange(300), np.arange(300, 400)
    adapter = fit(world, FitConfig(hidden=32, epochs=40, batch=64, lr=3e-3), train)
    before = ranks_in_bank(world.fused[held], world, held)
    moved = adapter(world.fused[held], world.mean[held], world.raw[held])
    after = ranks_in_bank(moved, world, held)
    assert (before == 1).mean() < 0.5  # the shift hides most people without the adapter
    assert (after == 1).mean() > 0.9
    assert np.median(after) < np.median(before)
