"""Fitting the query adapter on descriptors where sketches sit off their photos in a way
shared by everyone: the fitted adapter must find the photos the plain descriptor misses,
for people it was not fitted on. And what `describe` computes and keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sketchlab.core.adapter import DIM
from trainer.adapter import FitConfig, TrainData, fit, ranks_in_bank


def _shrunk_world(n_people: int, seed: int) -> TrainData:
    """Faces differ in a few directions; a sketch's descriptor keeps only a quarter of its
    person's difference from the average face (the raw sketch a tenth), so the plain
    descriptor sits nearer the crowd than its own photo: what the adapter must undo."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(0, 0.06, (6, DIM))
    photos = (rng.normal(size=(n_people, 6)) @ basis).astype(np.float32)
    mean = (0.25 * photos + rng.normal(0, 0.004, photos.shape)).astype(np.float32)
    raw = (0.1 * photos + rng.normal(0, 0.006, photos.shape)).astype(np.float32)
    fused = 0.8 * mean + 0.2 * raw
    ids = np.arange(n_people)
    return TrainData(mean, raw, fused, ids.copy(), ids.copy(), ["set"] * n_people, photos,
                     ids.copy(), np.zeros(n_people, bool))


def test_fit_undoes_a_shared_distortion_for_new_people() -> None:
    world = _shrunk_world(400, seed=0)
    train, held = np.arange(300), np.arange(300, 400)
    adapter = fit(world, FitConfig(hidden=32, epochs=40, batch=64, lr=3e-3), train)
    before = ranks_in_bank(world.fused[held], world, held)
    moved = adapter(world.fused[held], world.mean[held], world.raw[held])
    after = ranks_in_bank(moved, world, held)
    assert (before == 1).mean() < 0.1  # without the adapter almost nobody is found
    assert (after == 1).mean() > 0.9
    assert np.median(after) < np.median(before)


def test_the_leave_out_protocol_describes_no_sketch_of_the_set_left_out(shared_data) -> None:
    from trainer.adapter import protocol_sets

    every = [s.name for s in protocol_sets()]
    assert {"cufs_train", "fs2k_train", "cufs_cuhk_test", "fs2k_test"} <= set(every)
    for left in ("cufs", "fs2k"):
        kept = protocol_sets([left])
        assert kept and all(not s.name.startswith(left) for s in kept)
        assert all(not s.name.endswith("_test") for s in kept)  # evaluate scores the test set
    assert [s.name for s in protocol_sets(["cufs", "fs2k"])] == ["lfw_synth", "celeba_synth"]


def _descriptors(n: int, value: float):
    from trainer.descriptors import QueryDescriptors

    v = np.full((n, 2, DIM), value, np.float32)
    r = np.full((n, DIM), value, np.float32)
    return QueryDescriptors(v, r, v.copy(), r.copy(), ["landmarks"] * n)


def test_a_pack_from_an_older_query_path_is_described_again(tiny_model, tmp_path,
                                                            monkeypatch) -> None:
    """Packs are keyed by model, and the query path (decoding, alignment, variants) can
    change under the same weights: a pack that does not record today's version is remade
    by `describe`, not reused, and reads as version 1."""
    import trainer.descriptors as td
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.query import QUERY_VERSION
    from trainer.adapter import describe, pack_dir
    from trainer.descriptors import QuerySet, QuerySpec, load_pack, pack_is_current

    made: list[int] = []

    def fake_describe(path, specs, workers=2, desc="", ink_gamma=1.0):
        made.append(len(specs))
        return _descriptors(len(specs), float(len(made)))

    monkeypatch.setattr(td, "describe_queries", fake_describe)
    s = QuerySet("tiny_set", [QuerySpec("a.png"), QuerySpec("b.png")],
                 [Path("a.jpg"), Path("b.jpg")], ["p", "q"])
    target = pack_dir(load_generator(tiny_model).sha256, tmp_path) / "tiny_set.npz"
    describe(str(tiny_model), [s], root=tmp_path)
    assert made == [2] and pack_is_current(target)
    assert int(load_pack(target)[1]["query_version"]) == QUERY_VERSION
    describe(str(tiny_model), [s], root=tmp_path)
    assert made == [2]  # a current pack is reused
    with np.load(target) as z:  # the same pack as an older trainer wrote it
        old = {k: z[k] for k in z.files if k != "query_version"}
    np.savez_compressed(target, **old)
    assert not pack_is_current(target) and int(load_pack(target)[1]["query_version"]) == 1
    describe(str(tiny_model), [s], root=tmp_path)
    assert made == [2, 2] and pack_is_current(target)
    assert load_pack(target)[0]["tiny_set"].raw[0, 0] == 2.0  # the new descriptors
    # Read with lighter shading, the same sketches are other searches: packs of their own.
    lighter = describe(str(tiny_model), [s], root=tmp_path, ink_gamma=1.6)
    assert made == [2, 2, 2] and lighter != target.parent and lighter.name.endswith("-ink1.6")
    assert lighter == pack_dir(load_generator(tiny_model).sha256, tmp_path, 1.6)


def test_an_adapter_can_be_chosen_by_another_artists_sketches(tiny_model, monkeypatch) -> None:
    """`validate_on`: every sketch of that set is validation, none is fitted on while
    choosing; a set that is not fitted at all cannot be chosen by."""
    import pytest

    import trainer.adapter as ta

    world = _shrunk_world(400, seed=1)
    world.group = ["cufs_train"] * 100 + ["fs2k_train"] * 300
    monkeypatch.setattr(ta, "load_train_data", lambda *a, **k: world)
    fitted: list[int] = []
    real_fit = ta.fit

    def counting_fit(data, cfg, rows=None):
        fitted.append(len(data.target) if rows is None else len(rows))
        if rows is not None:
            assert not (np.asarray(rows) < 100).any()  # no CUFS sketch while choosing
        return real_fit(data, cfg, rows)

    monkeypatch.setattr(ta, "fit", counting_fit)
    cfg = FitConfig(hidden=32, epochs=5, batch=64, lr=3e-3)
    _, report = ta.fit_command(str(tiny_model), grid=(cfg,), validate_on="cufs_train")
    assert report["validation_people"] == 100 and report["validated_on"] == "cufs_train"
    assert fitted == [300, 400]  # chosen without CUFS, then fitted on every set
    with pytest.raises(ValueError, match="not among the sets fitted"):
        ta.fit_command(str(tiny_model), leave_out=["cufs"], grid=(cfg,),
                       validate_on="cufs_train")


def test_train_data_knows_which_photo_each_synthetic_sketch_was_drawn_from(tmp_path, monkeypatch):
    """Each row, colour and grey, carries the photo its sketch was drawn from, read from
    the pack's own query list (not from the order the query sets are built in)."""
    import trainer.adapter as ta
    from trainer.descriptors import QueryDescriptors, save_pack

    def pack(name, specs, targets):
        n = len(specs)
        d = QueryDescriptors(np.zeros((n, 2, DIM)), np.zeros((n, DIM)), np.zeros((n, 2, DIM)),
                             np.zeros((n, DIM)), ["landmarks"] * n)
        save_pack(tmp_path / f"{name}.npz", "m" * 64, {name: d}, {
            "targets": np.array(targets), "identities": np.array([str(i) for i in range(n)]),
            "specs": np.array(specs)})

    pack("cufs_train", ["s/a.jpg||0", "s/b.jpg||0"], ["p/a.jpg", "p/b.jpg"])
    pack("lfw_synth", ["lfw/x_1.jpg|pencil|3"], ["lfw/x_2.jpg"])
    monkeypatch.setattr(ta, "lfw_train_photos", lambda: ([], []))
    monkeypatch.setattr(ta, "embed_gallery_photos",
                        lambda files, workers=2, drawn=False, drawer="": {
                            "colour": np.zeros((len(files), DIM)),
                            "grey": np.zeros((len(files), DIM))})
    data = ta.load_train_data(tmp_path, ["cufs_train", "lfw_synth"], 0.2)
    assert data.files == ["p/a.jpg", "p/b.jpg", "lfw/x_2.jpg"]  # the bank's, once each
    # each set's colour rows, then its grey rows
    assert data.group == ["cufs_train"] * 4 + ["lfw_synth"] * 2
    assert data.grey.tolist() == [False, False, True, True, False, True]
    assert data.sketched.tolist() == ["", "", "", "", "lfw/x_1.jpg", "lfw/x_1.jpg"]
    assert data.identity.tolist() == ["0", "1", "0", "1", "0", "0"]

    # `bank_sets`: other sets' photos join the bank (a photo already there once), the
    # searches stay the packs'
    from trainer.descriptors import QuerySet

    more = QuerySet("cufs_train", [], [Path("p/b.jpg"), Path("p/c.jpg")], ["1", "2"])
    data = ta.load_train_data(tmp_path, ["cufs_train"], 0.2, bank_sets=[more])
    assert data.files == ["p/a.jpg", "p/b.jpg", "p/c.jpg"] and len(data.target) == 4
    assert len(set(data.bank_id[:3].tolist())) == 3


def test_a_models_raw_sketch_share_is_read_one_way(tiny_model, calibrated_tiny_model,
                                                   tmp_path) -> None:
    """`model_raw_weight`: the calibration's share; without one, the share the query
    adapter was fitted at (it moves the descriptor it was fitted on), else the recipe's;
    the app's plan reads the same field the same way."""
    import shutil

    from sketchlab.core.adapter import QueryAdapter
    from sketchlab.core.checkpoint import load_generator, update_metadata
    from sketchlab.core.pipeline import plan_query
    from sketchlab.core.query import raw_weight_of
    from trainer.adapter import RECIPE_RAW_WEIGHT, model_raw_weight

    assert model_raw_weight(load_generator(calibrated_tiny_model[0])) == 0.2
    assert model_raw_weight(load_generator(tiny_model)) == RECIPE_RAW_WEIGHT
    bare = tmp_path / "bare.safetensors"
    for info, expected in (({"raw_weight": 0.35}, 0.35), ({}, RECIPE_RAW_WEIGHT)):
        shutil.copy(tiny_model, bare)
        loaded = load_generator(bare)
        rng = np.random.default_rng(0)
        adapter = QueryAdapter(rng.normal(0, 0.01, (128, 256)), rng.normal(0, 0.01, (8, 256)),
                               np.zeros(8), rng.normal(0, 0.01, (128, 8)), np.zeros(128),
                               loaded.sha256, info)
        update_metadata(bare, adapter.metadata())
        assert model_raw_weight(load_generator(bare)) == expected
    assert plan_query(None, {"variants": 8, "raw_weight": 0.3}, adapter=False).raw_weight == 0.3
    assert plan_query(None, {"variants": 8}, adapter=False).raw_weight == 0.0
    with pytest.raises(ValueError, match="raw_weight"):
        raw_weight_of({"raw_weight": 1.5})


def test_fit_write_leave_out_stores_only_where_the_generator_never_saw_the_set(
        tiny_model, tmp_path, monkeypatch) -> None:
    """`fit --write --leave-out cufs` stores the adapter in a generator whose file says it
    trained without CUFS, and refuses, before fitting, one trained on CUFS or one that does
    not say what it was trained on."""
    import argparse
    import shutil

    import trainer.adapter as adapter_mod
    from sketchlab.core.adapter import QueryAdapter
    from sketchlab.core.checkpoint import load_generator, update_metadata

    def fake_fit(model, leave_out, *a, **k):  # the fitting itself: tested above
        rng = np.random.default_rng(0)
        return QueryAdapter(rng.normal(0, 0.01, (DIM, 2 * DIM)), rng.normal(0, 0.01, (8, 2 * DIM)),
                            np.zeros(8), rng.normal(0, 0.01, (DIM, 8)), np.zeros(DIM),
                            load_generator(model).sha256, {"left_out": list(leave_out)}), {}

    fitted = []
    monkeypatch.setattr(adapter_mod, "fit_command",
                        lambda *a, **k: fitted.append(a) or fake_fit(*a, **k))
    model = tmp_path / "m.safetensors"

    def run(trained_on: str | None):
        shutil.copy(tiny_model, model)
        if trained_on is not None:
            update_metadata(model, {"trained_on": trained_on})
        return adapter_mod.main(argparse.Namespace(
            action="fit", model=str(model), leave_out=["cufs"], write=True, out=None,
            grid="small", hidden=0, temperature=0.0, validate_on=None, ink_gamma=None,
            workers=1))

    assert run("fs2k:train,celeba:train,lfw:train") == 0
    assert "query_adapter" in load_generator(model).metadata and len(fitted) == 1
    with pytest.raises(ValueError, match="was trained on cufs"):
        run("cufs:train,fs2k:train")
    with pytest.raises(ValueError, match="does not record what it was trained on"):
        run(None)
    assert len(fitted) == 1  # both refused before any fitting
