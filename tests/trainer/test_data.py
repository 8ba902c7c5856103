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
    sk, ph, _, person = ds[3]
    assert person == ds.draw(3)[3] and 0 <= person < 2**63
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


def _draw_without_artist_augmentations(ds: MixedDataset, index: int
                                       ) -> tuple[np.ndarray, np.ndarray, int]:
    """MixedDataset.draw as it was before artist augmentations existed, step by step."""
    from trainer.data.styles import synthesize

    rng = np.random.default_rng([ds.seed, index])
    k = int(min(np.searchsorted(ds.cum, rng.random(), side="right"), len(ds.cum) - 1))
    src = ds.sources[k]
    j = int(rng.integers(len(src.data)))
    photo = np.asarray(src.data.photos[j])
    if src.data.sketches is not None:
        sketch = np.asarray(src.data.sketches[j])
    else:
        sketch = synthesize(photo, src.config.styles[int(rng.integers(len(src.config.styles)))],
                            rng)
    m = random_affine(photo.shape[:2], rng, ds.rotate, ds.scale, ds.shift)
    sketch, photo = apply_pair(sketch, photo, m)
    return sketch, photo, k


def test_default_draws_are_unchanged_by_artist_augmentations(tiny_sources) -> None:
    ds = MixedDataset(tiny_sources, seed=11)
    assert all(s.config.artist_augment == () for s in tiny_sources)
    seen = set()
    for i in range(24):
        got, want = ds.draw(i), _draw_without_artist_augmentations(ds, i)
        assert got[2] == want[2]
        assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
        seen.add(got[2])
    assert seen == {0, 1}  # both the paired and the synthetic source were drawn


def test_artist_augmentations_change_only_the_sketch(tiny_sources) -> None:
    from dataclasses import replace

    from trainer.data.artist_augment import ARTIST_AUGMENTS
    from trainer.data.datasets import Source

    on = [Source(replace(s.config, artist_augment=tuple(ARTIST_AUGMENTS),
                         artist_augment_p=1.0), s.data) for s in tiny_sources]
    plain, augmented = MixedDataset(tiny_sources, seed=11), MixedDataset(on, seed=11)
    for i in range(12):
        a, b = plain.draw(i), augmented.draw(i)
        assert a[2] == b[2] and np.array_equal(a[1], b[1])  # same source, same photo
        assert not np.array_equal(a[0], b[0])
        assert np.array_equal(b[0], augmented.draw(i)[0])  # a function of (seed, i)
    # Previews (augment=False) show the sketches as drawn.
    assert np.array_equal(MixedDataset(on, seed=3, augment=False).draw(5)[0],
                          MixedDataset(tiny_sources, seed=3, augment=False).draw(5)[0])


def test_a_drawing_network_reads_the_photos_luma_and_learns_the_sketch(tiny_sources) -> None:
    from sketchlab.core.preprocess import to_tensor_array
    from sketchlab.core.query import to_grey

    forward = MixedDataset(tiny_sources, seed=4)
    reverse = MixedDataset(tiny_sources, seed=4, reverse=True)
    for i in (0, 7):
        sketch, _photo, k, person = forward[i]
        inp, target, k2, person2 = reverse[i]
        assert np.array_equal(inp.numpy(), to_tensor_array(to_grey(forward.draw(i)[1])))
        assert np.array_equal(target.numpy(), sketch.numpy())
        assert (k, person) == (k2, person2)
