"""The match pipeline's ranking and scoring over an in-memory gallery, and the shipped
model's 1:N reading on real sketches (skipped without the datasets)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sketchlab.core import search_rates as sr
from sketchlab.core.pipeline import NOTHING_PASSES, PhotoInfo, match_sketch, rank


class MemoryGallery:
    """A gallery held in numpy: what `Searchable.snapshot()` returns, without a database."""

    def __init__(self, vectors: np.ndarray, names: Sequence[str]) -> None:
        self.vectors = np.asarray(vectors, np.float32)
        self.names = list(names)

    def snapshot(self, drawing: str | None = None) -> MemoryGallery:
        return self

    def __len__(self) -> int:
        return len(self.vectors)

    def sample(self, n: int) -> np.ndarray:
        return self.vectors[:: max(1, len(self.vectors) // max(n, 1))]

    def nearest(self, embedding: np.ndarray, k: int, distinct_subjects: bool = True
                ) -> list[tuple[int, float]]:
        d = np.linalg.norm(self.vectors - embedding, axis=1)
        order = [int(i) for i in np.argsort(d, kind="stable")]
        if distinct_subjects:  # one row a person: their nearest photo
            order = [i for n, i in enumerate(order)
                     if self.names[i] not in {self.names[j] for j in order[:n]}]
        return [(i, float(d[i])) for i in order[:k]]

    def photo_info(self, photo_ids: Sequence[int], thumbnails: bool = False
                   ) -> dict[int, PhotoInfo]:
        return {i: PhotoInfo(i, self.names[i], f"sha{i}", f"/g/{i}.jpg") for i in photo_ids}


def _flat_rates(threshold: float) -> sr.SearchCalibration:
    """A table whose 5 % FPIR point is `threshold` at every size."""
    t = np.linspace(0.2, 0.8, 61)
    fpir = np.clip((t - threshold) * 2 + 0.05, 0, 1)[None].repeat(2, 0)
    tpir = np.clip((t - 0.2), 0, 1)[None].repeat(2, 0)
    return sr.SearchCalibration("variants", np.array([100.0, 1e6]), t, fpir, tpir,
                                np.array([[0.4, 0.8, 0.9]] * 2), 10, 10, "unit")


def test_rank_orders_by_distance_and_reads_the_search_as_1_to_n() -> None:
    rng = np.random.default_rng(0)
    g = MemoryGallery(rng.normal(size=(50, 128)) * 0.05, [f"p{i}" for i in range(50)])
    query = g.vectors[7] + 0.001
    cands, rule = rank(query, g, 5, kind="variants", search={"variants": _flat_rates(0.4)})
    assert [c.rank for c in cands] == [1, 2, 3, 4, 5] and cands[0].subject_name == "p7"
    assert [c.distance for c in cands] == sorted(c.distance for c in cands)
    assert rule.reading == "1:N" and rule.threshold == pytest.approx(0.4, abs=1e-6)
    assert cands[0].within_threshold and cands[0].fpir is not None
    assert cands[0].false_match_rate is None  # a per-pair rate is not claimed
    assert all(c.within_threshold == (c.distance <= 0.4) for c in cands)


def test_nothing_passing_is_said_plainly_and_the_list_is_kept() -> None:
    rng = np.random.default_rng(1)
    g = MemoryGallery(rng.normal(size=(30, 128)) * 0.2, [f"p{i}" for i in range(30)])
    cands, rule = rank(np.zeros(128, np.float32) + 0.5, g, 10, kind="variants",
                       search={"variants": _flat_rates(0.3)})
    assert len(cands) == 10 and not any(c.within_threshold for c in cands)
    from sketchlab.core.pipeline import MatchResult

    res = MatchResult(cands, "variants", None, None, np.zeros(128), 10, 0.0, 0.0, len(g),
                      rule, search_rates={"variants": _flat_rates(0.3)})
    assert res.nothing_passes
    out = res.as_json()
    assert out["nothing_passes"] and out["reading"]["reading"] == "1:N"
    assert out["reading"]["gallery_size"] == 30 and len(out["candidates"]) == 10
    assert "absent" in res.calibration and NOTHING_PASSES.startswith("No candidate passes")
    looser = res.rescored(fpir=0.99)  # a setting change keeps the 1:N reading
    assert looser.rule.reading == "1:N" and looser.rule.threshold > rule.threshold


def test_relative_tables_scale_the_threshold_by_the_tenth_row() -> None:
    """With tables read against the search's 10th row, the same gallery seen from a query in
    a crowd twice as tight gets a threshold half as large."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(40, 128)).astype(np.float32) * 0.05
    table = _flat_rates(0.4)
    rel = sr.SearchCalibration("variants", table.sizes, np.linspace(0.5, 1.1, 61), table.fpir,
                               table.tpir, table.hit_rates, 10, 10, "unit", reference_rank=10)
    rules = []
    for spread in (1.0, 0.5):
        g = MemoryGallery(base * spread, [f"p{i}" for i in range(40)])
        cands, rule = rank(np.zeros(128, np.float32), g, 10, kind="variants",
                           search={"variants": rel})
        assert rule.scale == pytest.approx(cands[9].distance)
        assert all(c.within_threshold == (c.distance <= rule.threshold) for c in cands)
        rules.append(rule)
    assert rules[1].threshold == pytest.approx(0.5 * rules[0].threshold, rel=1e-5)
    assert rules[0].rates()["ratio"] == pytest.approx(rules[1].rates()["ratio"], abs=1e-4)


def test_the_reference_is_the_next_person_even_when_every_photo_is_listed() -> None:
    """`match --all-photos` lists photos, but the tables were measured one row a person: a
    second photo of the top person must not become the reference."""
    table = _flat_rates(0.4)
    rel = sr.SearchCalibration("variants", table.sizes, np.linspace(0.5, 1.1, 61), table.fpir,
                               table.tpir, table.hit_rates, 10, 10, "unit", reference_rank=2)
    v = np.zeros((3, 128), np.float32)
    v[:, 0] = [0.3, 0.31, 0.6]  # two photos of "a", then "b"
    g = MemoryGallery(v, ["a", "a", "b"])
    for distinct in (True, False):
        _, rule = rank(np.zeros(128, np.float32), g, 3, kind="variants",
                       search={"variants": rel}, distinct_subjects=distinct)
        assert rule.scale == pytest.approx(0.6)


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cufs_cuhk"


@pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason="CUFS data absent")
def test_shipped_model_marks_nobody_when_the_person_is_absent() -> None:
    """A CUFS test sketch against 30 other CUFS test photos (its own photo left out) at the
    default setting: no candidate passes, and the ranked list is still given."""
    from sketchlab.core.imageio import load_image
    from sketchlab.core.inference import Inverter
    from sketchlab.core.manifest import read_manifest
    from sketchlab.core.matching import embed_batch
    from sketchlab.core.model_catalog import resolve_model

    rows = [r for r in read_manifest(SHARED / "manifest.csv", "test")][:31]
    photos = embed_batch([load_image(r.photo) for r in rows[1:]])
    g = MemoryGallery(np.stack(photos), [r.identity for r in rows[1:]])
    res = match_sketch(rows[0].sketch, Inverter(resolve_model(None), device="cpu"), g, k=10)
    assert res.rule.reading == "1:N" and res.kind == "adapted"
    assert len(res.candidates) == 10 and res.nothing_passes
    # the rates it states are those of sketches whose readings agree as this one's
    assert res.reading_spread is not None and res.rule.spread == res.reading_spread
    # and the raw sketch's own descriptor, which hand-grouped tables are read by
    assert res.raw_descriptor is not None and res.rule.raw is res.raw_descriptor
    assert res.rescored(fpir=0.1).rule.raw is res.raw_descriptor
    assert "spread_group" in res.as_json()["reading"] and "consistent quarter" in res.calibration


@pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason="CUFS data absent")
def test_shipped_model_marks_nothing_for_a_cartoon_face() -> None:
    """A crude cartoon (an oval, two dots, a line) against 30 CUFS photos: leads only."""
    import cv2

    from sketchlab.core.imageio import load_image
    from sketchlab.core.inference import Inverter
    from sketchlab.core.manifest import read_manifest
    from sketchlab.core.matching import embed_batch
    from sketchlab.core.model_catalog import resolve_model

    page = np.full((500, 400, 3), 255, np.uint8)
    cv2.ellipse(page, (200, 250), (120, 160), 0, 0, 360, (0, 0, 0), 3)
    for x in (150, 250):
        cv2.circle(page, (x, 210), 12, (0, 0, 0), -1)
    cv2.line(page, (200, 230), (190, 290), (0, 0, 0), 3)
    cv2.ellipse(page, (200, 330), (50, 20), 0, 0, 180, (0, 0, 0), 3)
    rows = list(read_manifest(SHARED / "manifest.csv", "test"))[:30]
    photos = embed_batch([load_image(r.photo) for r in rows])
    g = MemoryGallery(np.stack(photos), [r.identity for r in rows])
    res = match_sketch(page, Inverter(resolve_model(None), device="cpu"), g, k=10)
    assert res.rule.reading == "1:N" and len(res.candidates) == 10
    assert res.nothing_passes, [c.distance for c in res.candidates]


def test_a_model_that_reads_lighter_shading_inverts_and_records_it(calibrated_tiny_model,
                                                                   face_sketch) -> None:
    """A model whose calibration carries `ink_gamma` inverts every reading of the sketch
    with its shading lightened, keeps the raw sketch's descriptor as drawn, and says so in
    the search's record."""
    from sketchlab.core.checkpoint import read_metadata
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import read_calibration, write_calibration
    from sketchlab.core.pipeline import plan_query
    from sketchlab.core.variants import lighten_shading, sketch_variants

    model, kinds = calibrated_tiny_model
    fields = read_calibration(model)[1]
    assert plan_query(None, fields).ink_gamma == 1.0
    write_calibration(model, kinds, {**fields, "ink_gamma": 1.6,
                                     "model_sha256": read_metadata(model)["sha256"]})
    fields = read_calibration(model)[1]
    assert plan_query(None, fields).ink_gamma == 1.6
    assert plan_query(None, fields, raw=True).ink_gamma == 1.0
    inv = Inverter(model, device="cpu", warmup=False)
    rng = np.random.default_rng(0)
    g = MemoryGallery(rng.normal(0, 0.1, (30, 128)), [f"p{i}" for i in range(30)])
    res = match_sketch(face_sketch, inv, g, k=5, thumbnails=False)
    assert res.ink_gamma == 1.6 and res.as_json()["ink_gamma"] == 1.6
    expected = sketch_variants(lighten_shading(res.sketch, 1.6), len(res.variant_names))
    for got, want in zip(res.variant_sketches, expected, strict=True):
        assert np.array_equal(got, want)
    assert not np.array_equal(res.variant_sketches[0], res.sketch)  # the sketch as drawn


class TwoWayMemoryGallery(MemoryGallery):
    """A gallery of two-way pairs (photo | drawing descriptors, `core.drawn.pair`)."""

    def __init__(self, pairs: np.ndarray, names: Sequence[str], two_way: bool = True) -> None:
        super().__init__(pairs, names)
        self.two_way = two_way

    def nearest(self, embedding: np.ndarray, k: int, distinct_subjects: bool = True
                ) -> list[tuple[int, float]]:
        from sketchlab.core.drawn import search_distances

        query = np.asarray(embedding, np.float32)
        gallery = self.vectors if query.shape[-1] == 256 else self.vectors[:, :128]
        d = search_distances(query, gallery)
        order = [int(i) for i in np.argsort(d, kind="stable")][:k]
        return [(i, float(d[i])) for i in order]


def test_a_gallery_with_drawings_is_searched_two_ways_with_its_own_rates(
        calibrated_tiny_model, face_sketch) -> None:
    """When every gallery face has its drawing and the model has two-way tables, the search
    adds the sketch-against-drawing distance, reads the two-way tables and says so; with
    either missing, or the gallery drawn otherwise than the tables were read, it searches
    one way, as before."""
    from sketchlab.core.drawn import (
        DRAWN_MODEL,
        PENCIL,
        TWO_WAY,
        Drawing,
        drawing_words,
        pair,
        search_distances,
    )
    from sketchlab.core.inference import Inverter
    from sketchlab.core.matching import embed_aligned
    from sketchlab.core.model_catalog import read_calibration
    from sketchlab.core.pipeline import TWO_WAY_WORDS

    model, _ = calibrated_tiny_model
    kinds, fields = read_calibration(model)
    one, two = _flat_rates(0.4), _flat_rates(0.6)
    rng = np.random.default_rng(3)
    pairs = rng.normal(0, 0.1, (40, 256)).astype(np.float32)
    names = [f"p{i}" for i in range(40)]
    inv = Inverter(model, device="cpu", warmup=False)
    search = {"variants": one, "variants" + TWO_WAY: two}
    res = match_sketch(face_sketch, inv, TwoWayMemoryGallery(pairs, names), k=5,
                       thumbnails=False,
                       calibration=(kinds, {**fields, "search": search, "drawing": PENCIL}))
    assert res.two_way and res.kind == "variants" + TWO_WAY
    assert res.rule.threshold == pytest.approx(0.6, abs=1e-6)  # the two-way table's
    assert TWO_WAY_WORDS in res.calibration and res.as_json()["two_way"] is True
    assert drawing_words(DRAWN_MODEL) in res.calibration
    assert res.as_json()["drawing"] == DRAWN_MODEL
    query = pair(res.embedding, embed_aligned(res.sketch))  # searched + the raw sketch's
    want = np.argsort(search_distances(query, pairs), kind="stable")[:5]
    assert [c.photo_id for c in res.candidates] == want.tolist()
    network = Drawing("dlib+drawn-by-0123456789ab", None)  # tables read on other drawings
    for gallery, tables, drawing in (
            (TwoWayMemoryGallery(pairs, names, two_way=False), search, PENCIL),
            (TwoWayMemoryGallery(pairs, names), {"variants": one}, PENCIL),
            (TwoWayMemoryGallery(pairs, names), search, network),
            (TwoWayMemoryGallery(pairs, names), search, None)):
        res = match_sketch(face_sketch, inv, gallery, k=5, thumbnails=False,
                           calibration=(kinds, {**fields, "search": tables,
                                                "drawing": drawing}))
        assert not res.two_way and res.kind == "variants"
        assert TWO_WAY_WORDS not in res.calibration
        assert res.rule.threshold == pytest.approx(0.4, abs=1e-6)
