"""The hub discount (CSLS) as `trainer hubness` measures it: a face that every generated
photo lands near stops crowding the top of the list, and the weight 0 is plain distance."""

from __future__ import annotations

import numpy as np

from sketchlab.core.matching import rank
from trainer.evaluate import rank_hits, truth_ranks
from trainer.hubness import discount, hub_radius


def _world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queries drawn with a shared bias toward one 'hub' face, a gallery of each query's
    true face plus strangers and the hub, and reference queries with the same bias."""
    rng = np.random.default_rng(seed)
    n, dim, strangers = 60, 16, 400
    faces = rng.normal(size=(n, dim)).astype(np.float32)
    hub = np.zeros((1, dim), np.float32)
    bias = 0.45  # the generator's habit: every photo it makes is pulled toward the hub
    queries = (1 - bias) * faces + bias * hub + rng.normal(size=(n, dim)).astype(np.float32) * 0.5
    others = rng.normal(size=(strangers, dim)).astype(np.float32)
    gallery = np.concatenate([faces, hub, others])
    ref_faces = rng.normal(size=(200, dim)).astype(np.float32)
    reference = (1 - bias) * ref_faces + bias * hub + rng.normal(
        size=(200, dim)).astype(np.float32) * 0.5
    return queries.astype(np.float32), gallery, reference.astype(np.float32), np.arange(n)


def test_weight_zero_is_the_plain_search() -> None:
    queries, gallery, reference, truth = _world()
    radius = hub_radius(gallery, reference)
    plain = truth_ranks(queries, gallery, truth)
    assert discount(radius, 0.0) is None
    assert np.array_equal(truth_ranks(queries, gallery, truth, discount(radius, 0.0)), plain)
    for q, t, r in zip(queries, truth, plain, strict=True):  # the app's own ranking
        idx, _ = rank(q, gallery, k=len(gallery))
        assert int(np.flatnonzero(idx == t)[0]) + 1 == r


def test_the_hub_has_the_smallest_radius_and_its_discount_finds_more_people() -> None:
    queries, gallery, reference, truth = _world()
    radius = hub_radius(gallery, reference, k=10)
    hub_row = len(queries)
    assert int(np.argmin(radius)) == hub_row
    plain = truth_ranks(queries, gallery, truth)
    discounted = truth_ranks(queries, gallery, truth, discount(radius, 0.5))
    # The hub outranks many true faces by plain distance, not once discounted.
    d = np.linalg.norm(queries[:, None] - gallery[None], axis=2)
    hub_first = (d[:, hub_row] < d[truth, truth]).mean()
    assert hub_first > 0.2
    assert (discounted == 1).mean() > (plain == 1).mean()
    assert rank_hits(queries, gallery, truth, (1,), discount(radius, 0.5))[1] == (
        discounted == 1).mean()


def test_radius_is_the_mean_of_the_k_nearest_reference_distances() -> None:
    rng = np.random.default_rng(1)
    gallery = rng.normal(size=(5, 4)).astype(np.float32)
    reference = rng.normal(size=(30, 4)).astype(np.float32)
    d = np.linalg.norm(gallery[:, None] - reference[None], axis=2)
    expected = np.sort(d, axis=1)[:, :3].mean(axis=1)
    assert np.allclose(hub_radius(gallery, reference, k=3), expected, atol=1e-5)
    assert np.allclose(hub_radius(gallery, reference[:2], k=10),
                       d[:, :2].mean(axis=1), atol=1e-5)  # k capped at the references
