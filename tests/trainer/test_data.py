from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.data.augment import apply_pair, random_affine
from trainer.data.datasets import MixedDataset, StepSampler


def test_pair_gets_the_same_transform() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((40, 32, 3), np.uint8)
    img[10:20, 5:12] = 200  # an asymmetric block
    found_flip = False
    for _ in range(8):
        m = random_affine((40, 32), rng, rotate=5, scale=0.05, shift=0.05)
        s, p = apply_pair(img, img.copy(), m)
        inner = (slice(6, 34), slice(6, 26))  # away from the differently padded borders
        assert np.array_equal(s[inner], p[inner])
        found_flip |= bool(m[0, 0] < 0)
    assert found_flip


def test_sample_is_a_function_of_seed_and_index(tiny_sources) -> None:
    ds = MixedDataset(tiny_sources, seed=4)
    a, b = ds.draw(17), ds.draw(17)
    assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2], strict=True))
    assert not np.array_equal(ds.draw(18)[0], a[0])
    sk, ph, _ = ds[3]
    assert sk.shape == ph.shape == (3, 32, 24) and -1 <= float(sk.min()) <= float(sk.max()) <= 1
    counts = np.bincount([ds.draw(i)[2] for i in range(200)], minlength=2)
    assert 60 < counts[0] < 140  # weights 0.5 / 0.5


def test_step_sampler_splits_global_batches_across_ranks() -> None:
    r0 = list(StepSampler(1, 3, 2, rank=0, world=2))
    r1 = list(StepSampler(1, 3, 2, rank=1, world=2))
    assert r0 == [4, 5, 8, 9] and r1 == [6, 7, 10, 11]
    assert list(StepSampler(0, 2, 3)) == list(range(6))


def test_real_manifests_align_through_core_preprocess(shared_data: Path, tmp_path) -> None:
    from trainer.data.align_cache import load_aligned

    a = load_aligned(shared_data / "cufs_cuhk" / "manifest.csv", "train", (80, 64), True,
                     max_items=3, cache=str(tmp_path), progress=False)
    assert a.photos.shape == a.sketches.shape == (3, 80, 64, 3)
    assert set(a.methods) <= {"landmarks", "centre"}
    again = load_aligned(shared_data / "cufs_cuhk" / "manifest.csv", "train", (80, 64), True,
                         max_items=3, cache=str(tmp_path), progress=False)
    assert np.array_equal(again.photos, a.photos)  # served from the cache
    assert len(list(tmp_path.glob("*.npy"))) == 2
