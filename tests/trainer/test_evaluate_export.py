from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import pytest

from sketchlab.core.checkpoint import load_generator
from sketchlab.core.model_catalog import list_models
from trainer.data.datasets import Source
from trainer.data.folds import held_out_of
from trainer.evaluate import JSON_KEYS, QUALITY_KEYS, format_table, rank_hits
from trainer.export import export
from trainer.train import Trainer


def test_rank_hits_hand_example() -> None:
    gallery = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]], np.float32)
    queries = np.array([[0.9, 0.0], [0.9, 0.0], [2.9, 0.0]], np.float32)
    truth = [1, 0, 1]  # ranks: 1, 2, 2
    hits = rank_hits(queries, gallery, truth, ks=(1, 2, 3))
    assert hits == {1: pytest.approx(1 / 3), 2: 1.0, 3: 1.0}


def test_two_way_ranks_add_the_drawn_direction() -> None:
    """A query nearer a stranger's photo but much nearer its own person's drawing ranks
    its person first two ways (weight 1: the plain sum of the two distances)."""
    gallery = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)  # photos
    drawn = np.array([[5.0, 0.0], [0.0, 0.0]], np.float32)  # their drawings
    queries = np.array([[0.4, 0.0]], np.float32)  # nearer photo 0 (0.4 against 0.6)
    raw = np.array([[0.1, 0.0]], np.float32)  # the sketch: near drawing 1 (0.1 against 4.9)
    assert rank_hits(queries, gallery, [1], ks=(1,)) == {1: 0.0}
    assert rank_hits(queries, gallery, [1], ks=(1,), drawn=(raw, drawn)) == {1: 1.0}


def test_the_table_shows_two_way_ranks_beside_one_way_ones() -> None:
    r = {k: 0.5 for k in ("rank1", "rank10", "rank50", "rank1_grey", "rank1_raw_sketch",
                          "rank10_raw_sketch", "rank50_raw_sketch", "rank1_no_adapter",
                          "rank10_no_adapter", "landmarks_found")}
    two = {f"rank{k}{raw}_two_way{g}": 0.25 for k in (1, 10, 50) for g in ("", "_grey")
           for raw in ("", "_raw_sketch")}
    row = {**r, **{k + "_grey": v for k, v in r.items()}, **two}
    details = {"sets": [{"name": "cufs", "n": 4, **dict.fromkeys(QUALITY_KEYS, 0.5), **row}],
               "groups": {"cufs female": {"n": 4, **row}},
               "summary": {"gallery_size": 10}, "distractors": []}
    text = format_table(details)
    assert "| cufs | as is | 25.0% / 25.0% / 25.0% |" in text
    assert "| cufs | 4 | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 |" in text
    # Identification only: no quality table of blanks, and JSON-safe blanks (not NaN).
    details["sets"][0].update(dict.fromkeys(QUALITY_KEYS))
    text = format_table(details)
    assert "Image quality not measured" in text and "FSIM" not in text
    assert "| cufs | as is | 25.0% / 25.0% / 25.0% |" in text
    assert "| cufs female | 4 | 50.0% | 50.0% | 50.0% | 50.0% | 50.0% | 25.0% / 25.0% / 25.0% |" \
        " 25.0% / 25.0% / 25.0% |" in text


def test_export_writes_loadable_model_and_card(tiny_config, tiny_sources, tmp_path) -> None:
    # The synthetic source trains with an artist augmentation, which the card records.
    # The pairs hold an identity fold out, which the card and the model file record.
    synth = replace(tiny_config.sources[1], artist_augment=("paper",), artist_augment_p=1.0)
    pairs = replace(tiny_config.sources[0], folds=3, held_out_fold=1)
    cfg = tiny_config.replace(steps=2, sources=(pairs, synth))
    sources = [Source(pairs, tiny_sources[0].data), Source(synth, tiny_sources[1].data)]
    t = Trainer(cfg, sources=sources, progress=False)
    t.fit()
    ev = tmp_path / "eval" / "cufs.json"
    ev.parent.mkdir()
    summary = dict.fromkeys(JSON_KEYS, 0.5) | {"n_queries": 3, "gallery_size": 9,
                                                "model_sha256": "x"}
    ev.write_text(json.dumps({
        "summary": summary, "split": "test", "model": "m.safetensors", "distractors": [],
        "sets": [{"name": "cufs_cuhk", "n": 3, "fsim": 0.5, "fsim_colour": 0.4, "ssim": 0.3,
                  "ssim_colour": 0.2, "pearson_r": 0.6, "pearson_r_colour": 0.5,
                  "landmarks_found": 1.0,
                  **{f"rank{k}{kind}{grey}": 0.5 for k in (1, 5, 10, 50)
                     for kind in ("", "_no_adapter", "_raw_sketch")
                     for grey in ("", "_grey")}}]}))
    models = tmp_path / "models"
    path = export(t.run_dir, "unit-model", evals=[ev], command="python -m trainer train X",
                  models_dir=models, calibrate=False)  # calibration: tests/trainer/test_calibrate
    loaded = load_generator(path)
    assert loaded.metadata["name"] == "unit-model" and loaded.metadata["step"] == "2"
    card = path.with_suffix(".md").read_text()
    assert loaded.sha256 in card and "python -m trainer train X" in card
    assert "| cufs_cuhk | 3 | 0.500 |" in card and "pairs" in card
    assert "synthetic (line, pencil, colour); artist augmentations (paper), each with p 1.0" \
        in card
    assert "| cufs_cuhk | all grey | 50.0% |" in card
    assert "| all but the people of identity fold 1 of 3 |" in card
    assert held_out_of(loaded.metadata) == [{"manifest": "pairs.csv", "split": "train",
                                             "folds": 3, "fold": 1}]
    assert (models / "unit-model-losses.png").is_file()
    assert [m.name for m in list_models([models])] == ["unit-model"]
    assert "rank-1" in format_table(json.loads(ev.read_text()))


def test_install_keeps_the_weights_and_what_was_measured_on_them(tiny_config, tmp_path
                                                                  ) -> None:
    """A candidate goes into models/ under the bundled name with its hash, adapter and
    tables as they were measured, and the fields saying what it is come from its recipe;
    the hand-written card beside it is left alone."""
    import torch

    from sketchlab.core.checkpoint import save_generator
    from sketchlab.core.network import Generator
    from trainer.export import main as export_main

    torch.manual_seed(0)
    candidate = tmp_path / "candidate.safetensors"
    sha = save_generator(candidate, Generator(tiny_config.generator), extra={
        "name": "candidate", "step": "7", "query_adapter": "{adapter}",
        "query_adapter_sha256": "a" * 64, "search_calibration": "{tables}"})
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(tiny_config.to_toml())
    models = tmp_path / "models"
    models.mkdir()
    (models / "bundled.md").write_text("the lab's card")
    args = argparse.Namespace(run=str(candidate), name="bundled", config=str(recipe),
                              summary="a better photo", models_dir=str(models))
    assert export_main(args) == 0
    loaded = load_generator(models / "bundled.safetensors")
    meta = loaded.metadata
    assert loaded.sha256 == sha
    assert (meta["query_adapter"], meta["search_calibration"]) == ("{adapter}", "{tables}")
    assert (meta["name"], meta["summary"], meta["step"]) == ("bundled", "a better photo", "7")
    assert meta["trained_on"] == "pairs:train,synth:train"
    assert meta["styles"] == "colour,line,pencil" and meta["exported"]
    assert (models / "bundled.md").read_text() == "the lab's card"
    assert load_generator(candidate).metadata["name"] == "candidate"  # the source stays

    other = tiny_config.replace(generator=replace(tiny_config.generator, n_residual=2))
    recipe.write_text(other.to_toml())
    with pytest.raises(ValueError, match="its network differs"):
        export_main(args)
    with pytest.raises(SystemExit, match="needs --config"):
        export_main(argparse.Namespace(**{**vars(args), "config": None}))


def test_a_drawing_network_draws_the_gallery_under_its_own_name(shared_data, tiny_model,
                                                                 monkeypatch) -> None:
    """`evaluate --two-way --drawer`: each photo is drawn by the network from its canonical
    frame, cached under the drawer's own name (never the pencil filter's)."""
    from sketchlab.core.drawn import DRAWN_MODEL, network_drawn_model
    from sketchlab.core.manifest import read_manifest
    from trainer import evaluate as ev

    files = [r.photo for r in read_manifest(shared_data / "cufs_cuhk" / "manifest.csv",
                                            "test")[:2]]
    cache = ev.embedding_cache()
    try:
        net = np.stack(ev.embed_photo_files(files, cache, 1, drawn=True, drawer=str(tiny_model)))
        pencil = np.stack(ev.embed_photo_files(files, cache, 1, drawn=True))
        name = network_drawn_model(load_generator(tiny_model).sha256)
        assert name != DRAWN_MODEL
        sha = ev.sha256_file(files[0])
        assert cache.get(sha, None, name)[0]
        monkeypatch.setattr(ev, "_embed_files", None)  # a second call reads the cache only
        again = np.stack(ev.embed_photo_files(files, cache, 1, drawn=True,
                                              drawer=str(tiny_model)))
    finally:
        cache.close()
    assert net.shape == (2, 128) and np.isfinite(net).all()
    assert np.array_equal(net, again)
    assert not np.allclose(net, pencil)
    with pytest.raises(ValueError, match="drawer draws"):
        ev.embed_photo_files(files, ev.embedding_cache(), 1, drawer=str(tiny_model))
    with pytest.raises(ValueError, match="colour-blind"):
        ev.embed_photo_files(files, ev.embedding_cache(), 1, grey=True, drawn=True,
                             drawer=str(tiny_model))


def test_engine_env_restores_what_was_there(monkeypatch) -> None:
    import os

    from trainer.evaluate import engine_env

    monkeypatch.setenv("SKETCHLAB_ENGINE", "onnxruntime")
    monkeypatch.delenv("SKETCHLAB_PRECISION", raising=False)
    with engine_env("torch", "fp32"):
        assert (os.environ["SKETCHLAB_ENGINE"], os.environ["SKETCHLAB_PRECISION"]) == \
            ("torch", "fp32")
    assert os.environ["SKETCHLAB_ENGINE"] == "onnxruntime"
    assert "SKETCHLAB_PRECISION" not in os.environ
    with pytest.raises(RuntimeError), engine_env("torch", None):
        raise RuntimeError("a failed read")
    assert os.environ["SKETCHLAB_ENGINE"] == "onnxruntime"


def test_two_way_ranks_read_the_mean_of_a_faces_drawings() -> None:
    queries = np.array([[0.0, 0.0]], np.float32)
    gallery = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)  # photos tie
    raw = np.array([[0.0, 0.0]], np.float32)
    pencil = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)  # pencil: face 0 nearer
    network = np.array([[4.0, 0.0], [0.0, 0.0]], np.float32)  # network: face 1, by more
    assert rank_hits(queries, gallery, [1], ks=(1,), drawn=(raw, [pencil])) == {1: 0.0}
    assert rank_hits(queries, gallery, [1], ks=(1,), drawn=(raw, [pencil, network])) == {1: 1.0}


def test_quality_only_measures_the_photos_and_searches_nothing(shared_data, tiny_model,
                                                                tmp_path, monkeypatch) -> None:
    """`evaluate --quality-only`: FSIM and SSIM of real test pairs, with no gallery embedded
    and no sketch searched (the slow part of a fidelity check)."""
    from sketchlab.core.manifest import read_manifest
    from trainer import evaluate as ev

    rows = read_manifest(shared_data / "cufs_cuhk" / "manifest.csv", "test")[:3]
    manifest = tmp_path / "three" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("sketch,photo,identity,split\n" + "".join(
        f"{r.sketch},{r.photo},{r.identity},test\n" for r in rows))

    def searched(*_a, **_k):
        raise AssertionError("a quality-only evaluation searched or embedded a gallery")

    monkeypatch.setattr(ev, "identification_queries", searched)
    monkeypatch.setattr(ev, "embed_photo_files", searched)
    details = ev.evaluate(str(tiny_model), [str(manifest)], distractors=[str(manifest)],
                          workers=1, identification=False)
    summary = details["summary"]
    assert 0.0 < summary["fsim"] <= 1.0 and -1.0 <= summary["ssim"] <= 1.0
    assert summary["rank1"] is None and summary["n_queries"] == 3
    assert summary["gallery_size"] == 0
    text = ev.format_table(details)
    assert "| three | 3 |" in text and "Identification not measured" in text
    with pytest.raises(ValueError, match="nothing to evaluate"):
        ev.evaluate(str(tiny_model), [str(manifest)], quality=False, identification=False)
    with pytest.raises(ValueError, match="two-way"):
        ev.evaluate(str(tiny_model), [str(manifest)], identification=False,
                    two_way_search=True)


def test_redraw_ranks_with_the_searched_photos_drawn_by_the_gallery_s_drawer(
        shared_data, tiny_model, tmp_path, monkeypatch) -> None:
    """`evaluate --two-way --drawer M --redraw`: the drawn direction also read with the
    searched photos redrawn by M, kept in a pack of their own and read back."""
    from sketchlab.core.drawn import REDRAWN_SHARE
    from sketchlab.core.manifest import read_manifest
    from trainer import descriptors
    from trainer import evaluate as ev

    monkeypatch.chdir(tmp_path)  # packs live under runs/descriptors
    rows = read_manifest(shared_data / "cufs_cuhk" / "manifest.csv", "test")[:3]
    manifest = tmp_path / "three" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("sketch,photo,identity,split\n" + "".join(
        f"{r.sketch},{r.photo},{r.identity},test\n" for r in rows))
    run = dict(workers=1, quality=False, two_way_search=True, drawers=[str(tiny_model)])
    details = ev.evaluate(str(tiny_model), [str(manifest)], redraw=True, **run)
    s = details["sets"][0]
    for g in ("", "_grey"):
        assert all(0.0 <= s[f"rank{k}_two_way_redrawn{g}"] <= 1.0 for k in (1, 10, 50))
        assert s[f"rank50_two_way_redrawn{g}"] == 1.0  # three faces
    assert details["two_way"]["redrawn_share"] == REDRAWN_SHARE
    packs = list((tmp_path / "runs" / "descriptors").rglob("*-redrawn-*.npz"))
    assert len(packs) == 1
    table = ev.format_table(details)
    assert "with the searched photo redrawn" in table
    group = next(line for line in table.split("By group")[1].splitlines()
                 if line.startswith("| three "))
    assert group.count("|") == 12  # two ways and redrawn, colour and grey
    assert "redrawn, grey |" in table

    def described_again(*_a, **_k):
        raise AssertionError("the query and redrawn packs were not read back")

    monkeypatch.setattr(descriptors, "describe_queries", described_again)
    again = ev.evaluate(str(tiny_model), [str(manifest)], redraw=True, **run)
    assert again["sets"][0] == s
    plain = ev.evaluate(str(tiny_model), [str(manifest)], **run)["sets"][0]
    assert "rank1_two_way_redrawn" not in plain
    assert plain["rank1_two_way"] == s["rank1_two_way"]  # the app's reading is untouched
    with pytest.raises(ValueError, match="one drawing network"):
        ev.evaluate(str(tiny_model), [str(manifest)], redraw=True,
                    **{**run, "drawers": ["pencil"]})
    with pytest.raises(ValueError, match="one drawing network"):
        ev.evaluate(str(tiny_model), [str(manifest)], redraw=True, workers=1, quality=False)
