from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainer.config import SourceConfig, TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"


def test_default_config_uses_the_app_network_and_train_splits_only() -> None:
    from sketchlab.core.network import GeneratorConfig

    cfg = load_config(CONFIGS / "default.toml")
    assert cfg.generator == GeneratorConfig()  # the app's default network, unchanged
    assert {s.split for s in cfg.sources} == {"train"}
    assert {s.name for s in cfg.sources} == {"cufs", "fs2k", "celeba", "lfw"}


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "default.toml")
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path) == cfg


def test_test_split_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[sources]]\nname = "x"\nmanifest = "m.csv"\nsplit = "test"\n')
    with pytest.raises(ValueError, match="test split"):
        load_config(path)
    path.write_text('stepz = 3\n[[sources]]\nname = "x"\nmanifest = "m.csv"\n')
    with pytest.raises(ValueError, match="stepz"):
        load_config(path)


def test_adversarial_ramp() -> None:
    cfg = TrainConfig.from_dict({"sources": [{"name": "a", "manifest": "m"}],
                                 "loss": {"adv_start": 10, "adv_ramp": 4}})
    f = [cfg.loss.adv_factor(s) for s in (0, 9, 10, 11, 13, 100)]
    assert f == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("left_out", ["cufs", "fs2k"])
def test_a_leave_one_out_config_never_sees_its_set(left_out: str) -> None:
    cfg = load_config(CONFIGS / f"leave-out-{left_out}.toml")
    assert left_out not in {s.name for s in cfg.sources}
    assert left_out not in " ".join(s.manifest for s in cfg.sources)
    assert not cfg.init_generator  # every earlier model saw the set: start from scratch
    assert abs(sum(s.weight for s in cfg.sources) - 1.0) < 1e-9


def test_the_search_model_differs_from_the_default_only_in_depth() -> None:
    import dataclasses

    default, search = (load_config(CONFIGS / f) for f in ("default.toml", "search-deep.toml"))
    assert search.generator.n_residual > default.generator.n_residual
    assert dataclasses.replace(search, name=default.name, generator=default.generator) == default


def test_artist_augmentations_are_off_by_default_and_checked(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "default.toml")
    assert all(s.artist_augment == () for s in cfg.sources)
    path = tmp_path / "a.toml"
    path.write_text('[[sources]]\nname = "x"\nmanifest = "m.csv"\n'
                    'artist_augment = ["paper", "hatching"]\nartist_augment_p = 0.3\n')
    src = load_config(path).sources[0]
    assert src.artist_augment == ("paper", "hatching") and src.artist_augment_p == 0.3
    round_trip = tmp_path / "b.toml"
    round_trip.write_text(load_config(path).to_toml())
    assert load_config(round_trip) == load_config(path)
    path.write_text('[[sources]]\nname = "x"\nmanifest = "m.csv"\n'
                    'artist_augment = ["paper", "charcoal"]\n')
    with pytest.raises(ValueError, match=r"source x: unknown artist augmentations "
                                         r"\['charcoal'\]; choose from \['proportion'"):
        load_config(path)
    for p in ("0.0", "1.5"):
        path.write_text('[[sources]]\nname = "x"\nmanifest = "m.csv"\n'
                        f'artist_augment = ["paper"]\nartist_augment_p = {p}\n')
        with pytest.raises(ValueError, match="artist_augment_p"):
            load_config(path)


def test_artist_ablation_is_leave_out_cufs_plus_every_augmentation() -> None:
    from trainer.data.artist_augment import ARTIST_AUGMENTS

    base = load_config(CONFIGS / "leave-out-cufs.toml")
    ablation = load_config(CONFIGS / "leave-out-cufs-artist.toml")
    assert all(set(s.artist_augment) == set(ARTIST_AUGMENTS) for s in ablation.sources)
    plain = ablation.replace(name=base.name, sources=tuple(
        dataclasses.replace(s, artist_augment=(),
                            artist_augment_p=SourceConfig.artist_augment_p)
        for s in ablation.sources))
    assert plain == base


def test_an_ablation_config_says_only_what_differs(tmp_path: Path) -> None:
    """`extends`: tables merge key by key, [[sources]] is replaced whole, the run keeps its
    own name; the shipped ablations read as their bases with one change."""
    base = load_config(CONFIGS / "leave-out-cufs.toml")
    id50 = load_config(CONFIGS / "leave-out-cufs-id50.toml")
    assert id50.name == "leave-out-cufs-id50" and id50.loss.identity == 50.0
    assert dataclasses.replace(id50, name=base.name,
                               loss=dataclasses.replace(id50.loss, identity=20.0)) == base
    artist = load_config(CONFIGS / "leave-out-cufs-artist.toml")
    assert [s.name for s in artist.sources] == [s.name for s in base.sources]
    assert all(s.artist_augment_p == 0.5 for s in artist.sources)
    assert dataclasses.replace(artist, name=base.name, sources=base.sources) == base

    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(ValueError, match="circle"):
        load_config(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "../configs-missing/x.toml"\nname = "c"\n')
    with pytest.raises(ValueError, match="cannot read"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text(f'extends = "{CONFIGS / "default.toml"}"\n[loss]\ntv = 0\n')
    with pytest.raises(ValueError, match="its own `name`"):
        load_config(tmp_path / "d.toml")


def test_the_unseen_artist_ssim_pair_differs_by_the_ssim_term_alone() -> None:
    """`leave-out-cufs-fidelity` and its twin continue the kept leave-CUFS-out generator
    with the leave-CUFS-out sources; the SSIM weight is their one difference."""
    base = load_config(CONFIGS / "leave-out-cufs.toml")
    twin = load_config(CONFIGS / "leave-out-cufs-continued.toml")
    ssim = load_config(CONFIGS / "leave-out-cufs-fidelity.toml")
    assert ssim.loss.ssim == 10.0 and twin.loss.ssim == 0.0
    assert dataclasses.replace(ssim, name=twin.name,
                               loss=dataclasses.replace(ssim.loss, ssim=0.0)) == twin
    assert twin.sources == base.sources and twin.steps == 2400
    start = CONFIGS.parents[1] / twin.init_generator
    assert start.is_file() and start.parent.name == "protocol"


def test_drawing_configs_learn_hand_drawn_pairs_only_and_leave_their_set_out() -> None:
    full = load_config(CONFIGS / "drawing.toml")
    assert full.direction == "photo_to_sketch"
    assert {s.name for s in full.sources} == {"cufs", "fs2k"}
    for left_out in ("cufs", "fs2k"):
        cfg = load_config(CONFIGS / f"drawing-leave-out-{left_out}.toml")
        assert cfg.direction == "photo_to_sketch"
        assert left_out not in " ".join(s.manifest for s in cfg.sources)
        assert dataclasses.replace(cfg, name=full.name, sources=full.sources) == full


def test_a_drawing_network_refuses_synthetic_sketches_and_unknown_directions() -> None:
    synthetic = [{"name": "lfw", "manifest": "m", "kind": "synthetic"}]
    with pytest.raises(ValueError, match="paired"):
        TrainConfig.from_dict({"direction": "photo_to_sketch", "sources": synthetic})
    with pytest.raises(ValueError, match="direction"):
        TrainConfig.from_dict({"direction": "sideways",
                               "sources": [{"name": "a", "manifest": "m"}]})
    assert TrainConfig.from_dict({"sources": synthetic}).direction == "sketch_to_photo"


def test_a_style_left_out_is_never_drawn_from(monkeypatch, tiny_config) -> None:
    import numpy as np

    from sketchlab.core.manifest import Row
    from trainer.data import datasets
    from trainer.data.align_cache import AlignedSet

    rows = tuple(Row(Path(f"s{i}.png"), Path(f"p{i}.png"), f"id{i}", "train", str(i % 3))
                 for i in range(12))
    photos = np.arange(12, dtype=np.uint8).reshape(12, 1, 1, 1).repeat(3, axis=3)
    monkeypatch.setattr(datasets, "load_aligned", lambda *a, **k: AlignedSet(
        rows, photos, 255 - photos, ("landmarks",) * 12))
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "sources": [
        {"name": "pairs", "manifest": "pairs.csv", "manifest_styles": ["1", "2"]}]})
    (src,) = datasets.load_sources(cfg, progress=False)
    assert [r.style for r in src.data.rows] == ["1", "2"] * 4
    kept = [int(r.identity[2:]) for r in src.data.rows]
    assert [int(p[0, 0, 0]) for p in src.data.photos] == kept  # frames follow their rows
    with pytest.raises(ValueError, match="manifest_styles"):
        SourceConfig("lfw", "m", kind="synthetic", manifest_styles=("0",))


def test_the_style_out_drawer_is_the_drawer_less_fs2k_style_0() -> None:
    full = load_config(CONFIGS / "drawing.toml")
    cfg = load_config(CONFIGS / "drawing-leave-out-fs2k-style0.toml")
    fs2k = next(s for s in cfg.sources if s.name == "fs2k")
    assert fs2k.manifest_styles == ("1", "2")
    assert dataclasses.replace(cfg, name=full.name, sources=full.sources) == full
    assert [dataclasses.replace(s, manifest_styles=()) for s in cfg.sources] == list(full.sources)


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_the_held_out_fold_twins_hold_out_the_same_people_and_change_nothing_else(
        fold: int) -> None:
    """A fold's generator and drawer read the present-person rates together
    (`search-rates --present-from --drawer`): both hold out fold k of 3 of CUFS and of
    FS2K, and each is its recipe otherwise (the drawer `drawing.toml`; the generator the
    default's sources, trained from scratch as `leave-out-cufs.toml`). The three folds
    together hold every train person out once."""
    gen = load_config(CONFIGS / f"held-out-fold{fold}.toml")
    drawer = load_config(CONFIGS / f"drawing-held-out-fold{fold}.toml")
    for cfg in (gen, drawer):
        held = {s.name: (s.folds, s.held_out_fold) for s in cfg.sources if s.folds}
        assert held == {"cufs": (3, fold), "fs2k": (3, fold)}
    assert (gen.name, drawer.name) == (f"held-out-fold{fold}", f"drawing-held-out-fold{fold}")

    def unfolded(cfg):
        return tuple(dataclasses.replace(s, folds=0, held_out_fold=0) for s in cfg.sources)

    full = load_config(CONFIGS / "drawing.toml")
    assert dataclasses.replace(drawer, name=full.name, sources=unfolded(drawer)) == full
    default, scratch = load_config(CONFIGS / "default.toml"), load_config(
        CONFIGS / "leave-out-cufs.toml")
    assert unfolded(gen) == tuple(default.sources)
    assert dataclasses.replace(gen, name=scratch.name, sources=scratch.sources) == scratch
