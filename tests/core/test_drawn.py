"""The search's second direction (`core.drawn`): the drawing of a face chip, and the
two-way distance the search, the trainer's rates and its evaluation share."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.core import drawn
from sketchlab.core.matching import distances


def _chip(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    chip = np.full((150, 150, 3), 200, np.uint8)
    chip[40:60, 30:70] = 40  # an "eye"
    chip[100:110, 50:100] = 60  # a "mouth"
    return np.clip(chip + rng.integers(-5, 6, chip.shape), 0, 255).astype(np.uint8)


def test_a_chip_draws_the_same_every_time_in_grey_on_white_paper() -> None:
    chip = _chip()
    a, b = drawn.draw_chip(chip), drawn.draw_chip(chip.copy())
    assert a.shape == chip.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)  # no randomness: one photo, one descriptor
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])
    assert np.median(a) > 240  # flat skin goes to paper
    assert a[45:55, 35:65].mean() < a[5:25, 100:140].mean() - 30  # the dark shape is inked


def test_colour_and_its_grey_copy_draw_alike() -> None:
    from sketchlab.core.query import to_grey

    colour = _chip()
    colour[..., 0] = np.clip(colour[..., 0].astype(int) + 30, 0, 255)  # a warm cast
    diff = np.abs(drawn.draw_chip(colour).astype(int) - drawn.draw_chip(to_grey(colour)))
    assert diff.max() <= 1


@pytest.mark.parametrize("bad", [np.zeros((150, 150), np.uint8),
                                 np.zeros((150, 150, 3), np.float32),
                                 np.zeros((150, 150, 4), np.uint8)])
def test_a_chip_that_is_not_rgb_bytes_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 chip"):
        drawn.draw_chip(bad)


def test_two_way_distance_adds_the_directions() -> None:
    rng = np.random.default_rng(1)
    photos, drawings = rng.normal(0, 0.1, (2, 40, 128)).astype(np.float32)
    searched, raw = rng.normal(0, 0.1, (2, 128)).astype(np.float32)
    want = distances(searched, photos) + drawn.WEIGHT * distances(raw, drawings)
    got = drawn.two_way_distances(searched, raw, photos, drawings)
    assert np.allclose(got, want, atol=1e-5)
    pairs = drawn.pair(photos, drawings)
    query = drawn.pair(searched, raw)
    assert pairs.shape == (40, 256) and drawn.is_pair(query) and not drawn.is_pair(searched)
    assert np.allclose(drawn.search_distances(query, pairs), want, atol=1e-5)
    # a one-way query is plain L2, and row by row agrees with the matrix form
    assert np.allclose(drawn.search_distances(searched, photos), distances(searched, photos))
    rows = drawn.row_distances(np.repeat(query[None], 40, 0), pairs)
    assert np.allclose(rows, want, atol=1e-5)
    batch = drawn.search_distances(np.stack([query, query]), pairs)
    assert batch.shape == (2, 40) and np.allclose(batch[1], want, atol=1e-5)


def test_a_drawing_is_a_model_of_its_own_and_tables_name_it() -> None:
    from sketchlab.core.matching import EMBEDDING_MODEL

    assert drawn.DRAWN_MODEL.startswith(EMBEDDING_MODEL + "+") and drawn.DRAWN_MODEL != \
        EMBEDDING_MODEL
    assert drawn.two_way_fields() == {"drawn_model": drawn.DRAWN_MODEL, "weight": drawn.WEIGHT}
    assert drawn.two_way_fields("x")["drawn_model"] == "x"
    assert drawn.PENCIL.model == drawn.DRAWN_MODEL and drawn.PENCIL.drawer is None
    assert "pencil filter" in drawn.drawing_words(drawn.DRAWN_MODEL)
    words = drawn.drawing_words(drawn.network_drawn_model("0123456789ab" + "c" * 52))
    assert "drawing network 0123456789ab" in words


def test_synthetic_faces_can_be_fitted_to_two_way_pairs() -> None:
    """The 1:N rates past the real photos need synthetic faces whose drawing goes with
    their photo: the two-level fit takes 256-d pairs as it takes 128-d descriptors."""
    from sketchlab.core import synthetic_descriptors as syn

    rng = np.random.default_rng(2)
    centres = rng.normal(0, 0.1, (60, 256))
    vecs = np.repeat(centres, 3, 0) + rng.normal(0, 0.02, (180, 256))
    model = syn.fit(vecs, [str(i // 3) for i in range(180)])
    faces = syn.generate(model, 1_000, seed=0)
    assert faces.shape == (1_000, 256) and faces.dtype == np.float32
    assert syn.probes(model, faces, 5).shape == (5, 256)


def test_several_drawings_of_a_face_count_by_their_mean_distance() -> None:
    raw = np.array([[0.0, 0.0]], np.float32)
    pencil = np.array([[3.0, 0.0], [1.0, 0.0]], np.float32)
    network = np.array([[1.0, 0.0], [5.0, 0.0]], np.float32)
    assert np.allclose(drawn.drawn_distance(raw, pencil), distances(raw, pencil))
    assert np.allclose(drawn.drawn_distance(raw, [pencil, network]), [[2.0, 3.0]])
    with pytest.raises(ValueError, match="no drawings"):
        drawn.drawn_distance(raw, [])


def test_a_drawing_network_names_its_descriptors_by_its_weights() -> None:
    a, b = drawn.network_drawn_model("a" * 64), drawn.network_drawn_model("b" * 64)
    assert a != b and drawn.DRAWN_MODEL not in (a, b)
    assert drawn.network_drawn_descriptors([], None).shape == (0, 128)


def test_a_drawing_network_is_named_by_its_file_s_weights(tiny_model) -> None:
    from sketchlab.core.checkpoint import load_generator

    d = drawn.Drawing.by_network(tiny_model)
    assert d.drawer == tiny_model
    assert d.model == drawn.network_drawn_model(load_generator(tiny_model).sha256)
    net = drawn.load_drawer(tiny_model)  # fp32 PyTorch on the CPU: the same drawing anywhere
    assert net.engine.name == "torch" and net.precision == "fp32"


def test_a_drawing_network_draws_a_colour_face_and_its_grey_copy_alike(tiny_model,
                                                                      face_sketch) -> None:
    """It reads luma, so a gallery's colour cannot favour its colour faces."""
    import cv2

    from sketchlab.core.inference import Inverter
    from sketchlab.core.query import to_grey

    net = Inverter(tiny_model, device="cpu", warmup=False, engine="torch")
    colour = cv2.resize(face_sketch, net.resolution[::-1]).copy()
    colour[..., 0] = colour[..., 0] // 2  # a tint: the colour frame differs from its luma
    a = drawn.network_drawn_descriptors([colour], net)
    b = drawn.network_drawn_descriptors([to_grey(colour)], net)
    assert a.shape == (1, 128) and np.array_equal(a, b)


def test_the_drawn_side_mixes_the_sketch_with_its_redrawn_photos() -> None:
    raw = np.zeros((2, 128), np.float32)
    redrawn = np.stack([np.full((3, 128), 1.0), np.full((3, 128), 3.0)]).astype(np.float32)
    assert np.array_equal(drawn.drawn_query(raw), raw)  # nothing redrawn: the sketch alone
    side = drawn.drawn_query(raw, redrawn)
    assert side.shape == (2, 128)
    assert np.allclose(side[0], drawn.REDRAWN_SHARE * 1.0)
    assert np.allclose(side[1], drawn.REDRAWN_SHARE * 3.0)
    assert np.allclose(drawn.drawn_query(raw[0], redrawn[1]), side[1])  # one query alike
    with pytest.raises(ValueError, match="redrawn"):
        drawn.drawn_query(raw, redrawn[:, :0])
    with pytest.raises(ValueError, match="redrawn"):
        drawn.drawn_query(raw, redrawn[0])


def test_a_sketch_far_from_its_drawing_is_found_by_its_redrawn_photo() -> None:
    """A new artist's sketch lies far from the drawer's drawing of its person; the searched
    photo, redrawn in the drawer's hand, lies near it, and the mix ranks the person first."""
    photos = np.zeros((2, 128), np.float32)  # the photo direction ties
    drawings = np.zeros((2, 128), np.float32)
    drawings[1, 0] = 1.0  # face 1 is the person
    raw = np.zeros(128, np.float32)
    raw[:2] = 0.3, 0.9  # the sketch: off in a direction of its own, nearer face 0
    redrawn = np.zeros((4, 128), np.float32)
    redrawn[:, 0] = 1.0  # every reading redrawn lands on the person's drawing
    searched = np.zeros(128, np.float32)
    assert np.argmin(drawn.two_way_distances(searched, raw, photos, drawings)) == 0
    side = drawn.drawn_query(raw, redrawn)
    assert np.argmin(drawn.two_way_distances(searched, side, photos, drawings)) == 1


def test_the_searched_photos_are_redrawn_as_the_gallery_s_faces_are(tiny_model,
                                                                   face_sketch) -> None:
    from sketchlab.core.inference import Inverter
    from sketchlab.core.query import sketch_query

    inv = Inverter(tiny_model, device="cpu", warmup=False, engine="torch")
    net = drawn.load_drawer(tiny_model)
    q = sketch_query(face_sketch, inv, variants=3, redraw=drawn.redrawer(net))
    assert q.redrawn_embeddings is not None and q.redrawn_embeddings.shape == (3, 128)
    again = drawn.network_drawn_descriptors(list(q.variant_photos), net)
    assert np.allclose(q.redrawn_embeddings, again, atol=1e-5)
    assert q.stages_ms["redraw"] > 0
    plain = sketch_query(face_sketch, inv, variants=3)
    assert plain.redrawn_embeddings is None and "redraw" not in plain.stages_ms
    assert np.array_equal(plain.embedding, q.embedding)  # the searched descriptor is untouched
