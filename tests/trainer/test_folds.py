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
