"""Identity folds: a run that holds a fold out never trains on those people, the model
file says which, the adapter is fitted without them, and the present-person tables can
be re-read from them while the absent-person half stays as stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sketchlab.core import search_rates as sr
from sketchlab.core.manifest import Row
from trainer.adapter import PAIRED_TRAIN, TrainData, held_out_rows
from trainer.config import SourceConfig, TrainConfig
from trainer.data import datasets
from trainer.data.align_cache import AlignedSet
from trainer.data.folds import (
    HELD_OUT_KEY,
    fold_rows,
    held_out_metadata,
    held_out_of,
    identity_fold,
    is_held_out,
)
from trainer.held_out_rates import PRESENT_FIELDS, reread


def test_a_persons_fold_is_stable_and_folds_share_the_people() -> None:
    people = [f"photo{i % 3}/image{i:04d}" for i in range(3_000)]
    folds = [identity_fold(p, 3) for p in people]
    assert folds == [identity_fold(p, 3) for p in people]  # a pure function of the name
    counts = np.bincount(folds, minlength=3)
    assert counts.min() > 900  # about a third each
    rows = [Row(None, Path(f"{p}.jpg"), p, "train") for p in people]
    held, kept = fold_rows(rows, 3, 1, True), fold_rows(rows, 3, 1, False)
    assert sorted(held + kept) == list(range(len(rows))) and not set(held) & set(kept)
    assert all(folds[i] == 1 for i in held)
    with pytest.raises(ValueError):
        identity_fold("x", 1)


def test_source_folds_are_checked() -> None:
    SourceConfig("fs2k", "m.csv", folds=3, held_out_fold=2)
    for bad in ({"folds": 1}, {"folds": 3, "held_out_fold": 3}, {"folds": -2}):
        with pytest.raises(ValueError, match="folds"):
            SourceConfig("fs2k", "m.csv", **bad)


def test_a_run_never_draws_a_held_out_person(monkeypatch, tiny_config) -> None:
    rng = np.random.default_rng(0)
    n = 30
    rows = tuple(Row(Path(f"s{i}.png"), Path(f"p{i}.png"), f"id{i}", "train") for i in range(n))
    photos = rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8)
    full = AlignedSet(rows, photos, 255 - photos, ("landmarks",) * n)
    monkeypatch.setattr(datasets, "load_aligned", lambda *a, **k: full)
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "sources": [
        {"name": "pairs", "manifest": "pairs.csv", "folds": 3, "held_out_fold": 0}]})
    (src,) = datasets.load_sources(cfg, progress=False)
    held = {r.identity for r in rows if identity_fold(r.identity, 3) == 0}
    assert held and len(src.data) == n - len(held)
    assert not held & {r.identity for r in src.data.rows}
    for r, p in zip(src.data.rows, src.data.photos, strict=True):  # frames follow their rows
        assert np.array_equal(p, photos[int(r.identity[2:])])


def test_the_model_file_names_what_its_run_held_out() -> None:
    sources = (SourceConfig("cufs", PAIRED_TRAIN["cufs_train"]),
               SourceConfig("fs2k", PAIRED_TRAIN["fs2k_train"], folds=3, held_out_fold=0))
    meta = {HELD_OUT_KEY: held_out_metadata(sources)}
    assert held_out_of(meta) == [{"manifest": PAIRED_TRAIN["fs2k_train"], "split": "train",
                                  "folds": 3, "fold": 0}]
    assert held_out_of({}) == []
    with pytest.raises(ValueError, match="malformed"):
        held_out_of({HELD_OUT_KEY: json.dumps([{"folds": 3}])})
    held = held_out_of(meta)
    who = next(p for p in (f"photo1/image{i:04d}" for i in range(50))
               if identity_fold(p, 3) == 0)
    assert is_held_out(PAIRED_TRAIN["fs2k_train"], "train", who, held)
    assert not is_held_out(PAIRED_TRAIN["fs2k_train"], "test", who, held)
    assert not is_held_out(PAIRED_TRAIN["cufs_train"], "train", who, held)

    # the adapter's data: only that set's people of that fold are marked
    people = [f"photo1/image{i:04d}" for i in range(12)]
    n = 2 * len(people)
    z = np.zeros((n, 4), np.float32)
    data = TrainData(z, z, z, np.arange(n), np.arange(n),
                     ["fs2k_train"] * len(people) + ["cufs_train"] * len(people), z,
                     np.arange(n), np.zeros(n, bool), identity=np.array(people * 2, object))
    marked = held_out_rows(data, meta)
    expect = [identity_fold(p, 3) == 0 for p in people] + [False] * len(people)
    assert marked.tolist() == expect and any(expect)
    assert not held_out_rows(data, {}).any()


def _table(kind: str, fill: float, sizes=(100.0, 1e6), grid=(0.8, 0.9, 1.0)
           ) -> sr.SearchCalibration:
    s, t = np.array(sizes), np.array(grid)
    return sr.SearchCalibration(kind, s, t, np.full((len(s), len(t)), fill),
                                np.full((len(s), len(t)), fill), np.full((len(s), 3), fill),
                                100, 50, "stored", reference_rank=2,
                                spread_edges=np.array([0.1, 0.2, 0.3]),
                                tpir_by_spread=np.full((len(s), 4, len(t)), fill),
                                hits_by_spread=np.full((len(s), 4, 3), fill))


def test_rereading_takes_the_present_half_and_keeps_the_threshold() -> None:
    kinds = {"adapted": _table("adapted", 0.5), "variants": _table("variants", 0.5)}
    fresh = {"variants": _table("variants", 0.2), "raw": _table("raw", 0.2)}
    fresh["variants"] = sr.SearchCalibration(**{**fresh["variants"].__dict__, "n_mated": 7,
                                                "spread_edges": np.array([0.4, 0.5, 0.6])})
    out = reread(kinds, fresh, "of held-out people")
    assert out["adapted"] is kinds["adapted"] and "raw" not in out
    v = out["variants"]
    assert np.all(v.fpir == 0.5) and v.n_nonmated == 50  # the absent-person half as stored
    assert v.threshold_for(0.05, 1_000) == kinds["variants"].threshold_for(0.05, 1_000)
    for f in PRESENT_FIELDS:
        assert np.array_equal(getattr(v, f), getattr(fresh["variants"], f))
    assert v.n_mated == 7 and v.source.startswith("stored; present-person rates from 7 ")
    with pytest.raises(ValueError, match="another way"):
        reread(kinds, {"variants": _table("variants", 0.2, grid=(0.8, 0.95, 1.0))}, "x")


def test_the_adapter_of_a_held_out_run_never_sees_those_people(tiny_model, monkeypatch,
                                                              tmp_path) -> None:
    """Neither the choice nor the final fit reads a held-out person's sketch."""
    import shutil

    import trainer.adapter as ta
    from sketchlab.core.checkpoint import update_metadata
    from trainer.adapter import FitConfig

    model = tmp_path / "fold.safetensors"
    shutil.copyfile(tiny_model, model)
    update_metadata(model, {HELD_OUT_KEY: held_out_metadata(
        (SourceConfig("fs2k", PAIRED_TRAIN["fs2k_train"], folds=3, held_out_fold=0),))})
    rng = np.random.default_rng(0)
    n = 120
    people = np.array([f"photo1/image{i:04d}" for i in range(n)], object)
    x = rng.normal(0, 0.05, (n, 128)).astype(np.float32)
    data = TrainData(x, x, x, np.arange(n), np.arange(n), ["fs2k_train"] * n, x,
                     np.arange(n), np.zeros(n, bool), identity=people)
    held = {i for i, p in enumerate(people) if identity_fold(p, 3) == 0}
    monkeypatch.setattr(ta, "load_train_data", lambda *a, **k: data)
    seen: list[set[int]] = []
    real_fit = ta.fit

    def watching_fit(d, cfg, rows=None):
        seen.append(set(range(n)) if rows is None else set(np.asarray(rows).tolist()))
        return real_fit(d, cfg, rows)

    monkeypatch.setattr(ta, "fit", watching_fit)
    adapter, report = ta.fit_command(str(model), grid=(FitConfig(hidden=8, epochs=2, batch=32),))
    assert len(seen) == 2 and all(not s & held for s in seen)
    assert report["held_out_queries"] == len(held) == adapter.info["held_out_queries"]
    assert adapter.info["queries"] == n - len(held)


def test_the_held_out_sketches_are_those_the_run_skipped(shared_data) -> None:
    from sketchlab.core.manifest import read_manifest
    from trainer.held_out_rates import fold_sets

    meta = {HELD_OUT_KEY: held_out_metadata(
        (SourceConfig("fs2k", PAIRED_TRAIN["fs2k_train"], folds=3, held_out_fold=0),))}
    (s,) = fold_sets(meta)
    train = read_manifest(PAIRED_TRAIN["fs2k_train"], "train")
    skipped = {train[i].identity for i in fold_rows(train, 3, 0, True)}
    assert s.name == "fs2k_train_fold0of3" and set(s.identities) == skipped
    assert len(s.specs) == len(s.targets) == len(skipped) > 0
    with pytest.raises(ValueError, match="held no train people out"):
        fold_sets({})


def test_a_held_out_folds_sketches_are_grouped_by_their_hand() -> None:
    """A fold's searches (`cufs_train_fold0of3`) are told apart by hand as their whole
    set's are: CUFS, and FS2K by each person's drawing style."""
    from trainer.data.folds import base_set
    from trainer.search_rates import hand_labels, set_words

    assert base_set("fs2k_train_fold0of3") == "fs2k_train" == base_set("fs2k_train")
    assert "fold 0 of 3" in set_words("cufs_train_fold0of3")
    z = np.zeros((4, 4), np.float32)
    data = TrainData(z, z, z, np.arange(4), np.arange(4),
                     ["cufs_train_fold0of3", "fs2k_train_fold0of3", "fs2k_train_fold0of3",
                      "lfw_synth"], z, np.arange(4), np.zeros(4, bool),
                     identity=np.array(["f1-001", "p1", "p2", "x"], object))
    labels = hand_labels(data, {"p1": "0", "p2": "2"})
    assert labels.tolist() == ["CUFS", "FS2K style 0", "FS2K style 2", "synthetic"]


def _with_held_out(model: Path, tmp_path: Path, name: str, *folds: tuple[str, int]) -> Path:
    import shutil

    from sketchlab.core.checkpoint import update_metadata

    out = tmp_path / f"{name}.safetensors"
    shutil.copyfile(model, out)
    update_metadata(out, {HELD_OUT_KEY: held_out_metadata(tuple(
        SourceConfig(s, PAIRED_TRAIN[s], folds=3, held_out_fold=f) for s, f in folds))})
    return out


def test_the_fold_gallery_is_drawn_by_a_drawer_that_never_drew_those_people(
        tiny_model, tmp_path) -> None:
    """Tables read on a drawing network's drawings are re-read only with a drawer whose
    run held out every fold the generator's did: of several given (one for each fold),
    that one draws the fold's gallery. The pencil filter needs none."""
    from sketchlab.core.drawn import PENCIL, two_way_fields
    from trainer.held_out_rates import check_drawer

    both = (("cufs_train", 0), ("fs2k_train", 0))
    gen_held = held_out_of(load_meta(_with_held_out(tiny_model, tmp_path, "gen", *both)))
    network = {"two_way": two_way_fields("dlib+drawn-by-0123456789ab")}
    same = _with_held_out(tiny_model, tmp_path, "same", *both)
    path, drew = check_drawer(network, gen_held, [str(same)])
    assert path == str(same)
    assert drew["drawer"] == "same.safetensors" and len(drew["drawer_sha256"]) == 64
    assert check_drawer({"two_way": two_way_fields(PENCIL.model)}, gen_held, []) == ("", {})
    assert check_drawer({}, gen_held, []) == ("", {})  # tables older than the drawing field
    with pytest.raises(ValueError, match="--drawer"):
        check_drawer(network, gen_held, [])
    bad = [_with_held_out(tiny_model, tmp_path, "fs2k-only", ("fs2k_train", 0)),
           _with_held_out(tiny_model, tmp_path, "other", ("cufs_train", 1), ("fs2k_train", 0)),
           tiny_model]
    for b in bad:
        with pytest.raises(ValueError, match="held"):
            check_drawer(network, gen_held, [str(b)])
    # drawers in run folders share a file name: the one that held the fold out is chosen
    fold1 = _with_held_out(tiny_model, tmp_path, "fold1", ("cufs_train", 1), ("fs2k_train", 1))
    runs = []
    for name, src in (("run1", fold1), ("run0", same)):
        (tmp_path / name).mkdir()
        runs.append(tmp_path / name / "generator.safetensors")
        runs[-1].write_bytes(src.read_bytes())
    assert check_drawer(network, gen_held, [str(r) for r in runs])[0] == str(runs[1])
    with pytest.raises(ValueError, match="never drew its people"):
        check_drawer(network, gen_held, [str(b) for b in bad] + [str(fold1)])


def load_meta(path: Path) -> dict[str, str]:
    from sketchlab.core.checkpoint import load_generator

    return load_generator(path).metadata


def test_a_folds_pack_is_cut_from_its_whole_sets_pack(tiny_model, tmp_path, monkeypatch) -> None:
    """A held-out fold's sketches were described with the whole set: they are cut from
    that pack, row for row, not described again; a fold the pack lacks is described."""
    import trainer.adapter as ta
    import trainer.descriptors as td
    from sketchlab.core.checkpoint import load_generator
    from trainer.descriptors import QueryDescriptors, QuerySet, QuerySpec, load_pack, save_pack

    rng = np.random.default_rng(3)
    n = 6
    whole = QueryDescriptors(*(rng.normal(size=shape).astype(np.float32) for shape in (
        (n, 8, 128), (n, 128), (n, 8, 128), (n, 128))), methods=[f"m{i}" for i in range(n)])
    specs = [QuerySpec(f"s{i}.png") for i in range(n)]
    root = ta.pack_dir(load_generator(tiny_model).sha256, tmp_path, 1.0)
    root.mkdir(parents=True)
    save_pack(root / "cufs_train.npz", load_generator(tiny_model).sha256, {"cufs_train": whole},
              {"targets": np.array([f"p{i}.png" for i in range(n)]),
               "identities": np.array([f"id{i}" for i in range(n)]),
               "specs": np.array([f"{q.path}|{q.style}|{q.seed}" for q in specs])})

    def no_describing(*a, **k):
        raise AssertionError("described again")

    monkeypatch.setattr(td, "describe_queries", no_describing)
    keep = [4, 1]
    fold = QuerySet("cufs_train_fold0of3", [specs[i] for i in keep],
                    [Path(f"p{i}.png") for i in keep], [f"id{i}" for i in keep])
    out = ta.describe(str(tiny_model), [fold], root=tmp_path, ink_gamma=1.0)
    assert out == root
    parts, extra = load_pack(root / "cufs_train_fold0of3.npz")
    cut = parts["cufs_train_fold0of3"]
    for field in ("variants", "raw", "variants_grey", "raw_grey"):
        np.testing.assert_array_equal(getattr(cut, field), getattr(whole, field)[keep])
    assert cut.methods == ["m4", "m1"] and extra["identities"].tolist() == ["id4", "id1"]
    other = QuerySet("cufs_train_fold1of3", [QuerySpec("new.png")], [Path("p.png")], ["x"])
    with pytest.raises(AssertionError, match="described again"):
        ta.describe(str(tiny_model), [other], root=tmp_path, ink_gamma=1.0)


def test_the_present_person_rates_pool_every_folds_searches(tiny_model, tmp_path,
                                                            monkeypatch, caplog) -> None:
    """`--present-from` with one generator per fold reads each fold's searches through its
    own networks and measures them as one set: the re-read tables are those pooled
    searches' rates. A kind one fold cannot read (no adapter fitted without its people)
    keeps its stored rates; two generators that held out the same people are refused."""
    import trainer.held_out_rates as hr
    from sketchlab.core.checkpoint import load_generator
    from tests.trainer.test_search_rates import _train_data
    from trainer.search_rates import Searches, measure, measure_pooled

    rng = np.random.default_rng(3)
    data, queries = _train_data(rng, ["cufs_train"] * 6 + ["fs2k_train"] * 10)
    synthetic = rng.normal(size=(1_000, 32)) * 0.1
    stored = measure(data, {"variants": queries, "adapted": queries * 1.1}, synthetic,
                     absent_sets=None)
    halves = {"f0": np.arange(8), "f1": np.arange(8, 16)}

    def read_fold(loaded, extra, reader, kinds, two_way, drawers, workers):
        model = reader.path
        q = {"variants": queries * 0.9} if model.stem == "f1" else \
            {"variants": queries * 0.9, "adapted": queries}
        k = model.stem[1]
        return hr.Fold([Searches(data, q, synthetic, halves[model.stem])],
                       {"model": model.name, "sets": {f"cufs_train_fold{k}of3": 3,
                                                      f"fs2k_train_fold{k}of3": 5}})

    monkeypatch.setattr(hr, "read_fold", read_fold)
    f0 = _with_held_out(tiny_model, tmp_path, "f0", ("cufs_train", 0), ("fs2k_train", 0))
    f1 = _with_held_out(tiny_model, tmp_path, "f1", ("cufs_train", 1), ("fs2k_train", 1))
    loaded = load_generator(tiny_model)
    kinds, extra, read_by = hr.present_from(loaded, stored, {}, [f0, f1], False)
    pooled = measure_pooled([Searches(data, {"variants": queries * 0.9}, synthetic, h)
                             for h in halves.values()], absent_sets=None)["variants"]
    np.testing.assert_allclose(kinds["variants"].hit_rates, pooled.hit_rates)
    np.testing.assert_allclose(kinds["variants"].fpir, stored["variants"].fpir)  # kept
    np.testing.assert_allclose(kinds["adapted"].hit_rates, stored["adapted"].hit_rates)
    assert "not every fold's generator carries an adapter" in caplog.text
    assert read_by["kinds"] == ["variants"] and len(read_by["folds"]) == 2
    assert extra["present_from"] == read_by
    assert "each read through f0.safetensors and f1.safetensors, generators" in \
        kinds["variants"].source
    by_set, _, _ = hr.present_from(loaded, stored, {}, [f0, f1], False, groups_by="set")
    assert by_set["variants"].source.endswith("each set's present-person rates those of its "
                                              "hardest hand")
    again = _with_held_out(tiny_model, tmp_path, "again", ("cufs_train", 0))
    with pytest.raises(ValueError, match="held out the same people"):
        hr.present_from(loaded, stored, {}, [f0, again], False)
