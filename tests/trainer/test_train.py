from __future__ import annotations

from pathlib import Path

import torch

from sketchlab.core.checkpoint import load_generator
from trainer.train import Trainer, latest_checkpoint


def _params(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in t.G.state_dict().items()} | \
        {f"D.{k}": v.clone() for k, v in t.D.state_dict().items()}


def test_one_step_changes_weights_and_reports_losses(tiny_config, tiny_sources) -> None:
    t = Trainer(tiny_config.replace(steps=1), sources=tiny_sources, progress=False)
    before = _params(t)
    t.fit()
    assert t.step == 1
    after = _params(t)
    changed = [k for k in before if not k.startswith("D.")
               and not torch.equal(before[k], after[k])]
    assert changed, "a training step must update the generator"
    assert t.history.steps == [1]
    assert 0 < t.history.values["g_l1"][0] < 2  # L1 between [-1,1] images
    run = Path(tiny_config.out_dir) / "tiny"
    assert (run / "config.toml").is_file() and (run / "losses.png").stat().st_size > 0
    assert (run / "samples.png").is_file()
    loaded = load_generator(run / "generator.safetensors")  # app-loadable snapshot
    assert loaded.config == tiny_config.generator


def test_adversarial_terms_and_d_step_after_ramp(tiny_config, tiny_sources) -> None:
    t = Trainer(tiny_config.replace(steps=3), sources=tiny_sources, progress=False)
    t.fit()
    assert t.history.values["d"][0] == 0.0  # step 1: L1 only
    assert t.history.values["d"][-1] > 0.0 and t.history.values["g_fm"][-1] > 0.0
    assert all(p.requires_grad for p in t.D.parameters())


def test_resume_is_bit_exact(tiny_config, tiny_sources, tmp_path: Path) -> None:
    straight = Trainer(tiny_config.replace(out_dir=str(tmp_path / "a")), sources=tiny_sources,
                       progress=False)
    straight.fit()

    cfg_b = tiny_config.replace(out_dir=str(tmp_path / "b"))
    first = Trainer(cfg_b, sources=tiny_sources, progress=False)
    first.fit(max_steps=2)
    assert first.step == 2
    del first
    torch.manual_seed(12345)  # a fresh process would have different global RNG state
    second = Trainer(cfg_b, sources=tiny_sources, progress=False)
    assert second.resume() is True and second.step == 2
    second.fit()

    assert second.step == straight.step == 4
    a, b = _params(straight), _params(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = straight.opt_g.state_dict()["state"], second.opt_g.state_dict()["state"]
    for k in sa:
        assert torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"])
    assert straight.history.values == second.history.values
    assert torch.equal(torch.get_rng_state(), torch.get_rng_state())


def test_checkpoint_loads_with_weights_only(tiny_config, tiny_sources) -> None:
    t = Trainer(tiny_config.replace(steps=2), sources=tiny_sources, progress=False)
    t.fit()
    path = latest_checkpoint(t.run_dir)
    assert path is not None and path.name == "step_0000002.pt"
    state = torch.load(path, weights_only=True)
    assert state["step"] == 2 and state["format"] == "sketchlab-train-state-1"


def test_face_terms_pull_the_descriptor_toward_the_photo(tiny_config, tiny_sources) -> None:
    """Identity and perceptual losses run through dlib's network, frozen, and only an
    identity loss moves the generator when every other term is off."""
    import dataclasses

    loss = dataclasses.replace(tiny_config.loss, l1=0.0, tv=0.0, adv_start=10**6,
                               identity=1.0, perceptual=0.5)
    t = Trainer(tiny_config.replace(steps=2, loss=loss), sources=tiny_sources,
                progress=False)
    before = _params(t)
    face_before = {k: v.clone() for k, v in t.face_net.state_dict().items()}
    t.fit()
    assert t.history.values["g_id"][0] > 0 and t.history.values["g_perc"][0] > 0
    after = _params(t)
    assert any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("D."))
    assert all(torch.equal(v, t.face_net.state_dict()[k]) for k, v in face_before.items())


def test_init_generator_starts_from_given_weights(tiny_config, tiny_sources, tmp_path) -> None:
    from sketchlab.core.checkpoint import save_generator

    donor = Trainer(tiny_config, sources=tiny_sources, progress=False)
    torch.nn.init.constant_(next(donor.G.parameters()), 0.25)
    path = tmp_path / "donor.safetensors"
    save_generator(path, donor.G, extra={"name": "donor"})
    t = Trainer(tiny_config.replace(init_generator=str(path)), sources=tiny_sources,
                progress=False)
    assert torch.equal(next(t.G.parameters()), next(donor.G.parameters()))


def test_step_bench_times_every_variant(tiny_config, tiny_sources) -> None:
    from trainer.step_bench import VARIANTS, bench_steps

    r = bench_steps(tiny_config, rounds=1, steps=1, warmup=1, sources=tiny_sources)
    assert set(r["variants"]) == set(VARIANTS)
    assert all(v["median_s"] > 0 and v["n"] == 1 for v in r["variants"].values())
    assert r["variants"]["fp32"]["ratio_to_fp32"] == 1.0


def test_a_drawing_network_trains_from_photo_to_sketch(tiny_config, tiny_sources) -> None:
    """direction = "photo_to_sketch": the generator is fed photos and its L1 is read
    against the sketches (the tiny sketches are pale, the photos dark: an untrained
    network's output sits nearer one than the other)."""
    cfg = tiny_config.replace(steps=1, direction="photo_to_sketch",
                              sources=tiny_config.sources[:1])
    t = Trainer(cfg, sources=tiny_sources[:1], progress=False)
    fed: list[torch.Tensor] = []
    t.G.register_forward_hook(lambda _m, args, _out: fed.append(args[0].detach().clone()))
    t.fit()
    photos = torch.stack([torch.from_numpy(x) for x in tiny_sources[0].data.photos]).float()
    sketches = torch.stack([torch.from_numpy(x) for x in tiny_sources[0].data.sketches]).float()
    # what went in is photo-dark, not sketch-pale (in [-1, 1]: photos ~ 0, sketches ~ +0.6)
    mean_in = float(fed[0].float().mean())
    photo_mean = float(photos.mean()) / 127.5 - 1
    sketch_mean = float(sketches.mean()) / 127.5 - 1
    assert abs(mean_in - photo_mean) < abs(mean_in - sketch_mean)
    assert t.step == 1


def test_a_runs_snapshot_names_the_people_it_held_out(tiny_config, tiny_sources) -> None:
    """`adapter fit` and `search-rates --present-from` read a run folder's snapshot as they
    read an exported file: it must say which identity folds and which sources the run
    trained on (`adapter fit --write --leave-out` reads the sources)."""
    from trainer.data.folds import held_out_of

    t = Trainer(tiny_config.replace(steps=1), sources=tiny_sources, progress=False)
    t.fit()
    run = Path(tiny_config.out_dir) / "tiny"
    meta = load_generator(run / "generator.safetensors").metadata
    assert held_out_of(meta) == [] and meta["trained_on"] == "pairs:train,synth:train"
    folded = tiny_config.from_dict({**tiny_config.to_dict(), "name": "folded", "sources": [
        {"name": "pairs", "manifest": "pairs.csv", "folds": 3, "held_out_fold": 1},
        {"name": "synth", "manifest": "synth.csv", "kind": "synthetic"}]})
    Trainer(folded.replace(steps=1), sources=tiny_sources, progress=False).fit()
    snapshot = load_generator(Path(tiny_config.out_dir) / "folded" / "generator.safetensors")
    assert held_out_of(snapshot.metadata) == [
        {"manifest": "pairs.csv", "split": "train", "folds": 3, "fold": 1}]


def test_the_ssim_term_is_the_metric_it_sharpens() -> None:
    """The training term is 1 - the SSIM that `trainer evaluate` reports (luma, 11 x 11
    Gaussian window), so a lower loss is a better score, not a look-alike of one."""
    import numpy as np

    from trainer.losses import ssim_loss
    from trainer.metrics import ssim

    rng = np.random.default_rng(0)
    a = rng.random((40, 32, 3), dtype=np.float32) * 255
    b = np.clip(a * 0.6 + rng.random((40, 32, 3), dtype=np.float32) * 100, 0, 255)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x / 127.5 - 1).permute(2, 0, 1)[None].float()

    assert abs((1 - float(ssim_loss(tensor(a), tensor(b)))) - ssim(a, b)) < 1e-4
    assert float(ssim_loss(tensor(a), tensor(a))) < 1e-5


def test_an_ssim_term_alone_moves_the_generator(tiny_config, tiny_sources) -> None:
    import dataclasses

    loss = dataclasses.replace(tiny_config.loss, l1=0.0, tv=0.0, adv_start=10**6, ssim=1.0)
    t = Trainer(tiny_config.replace(steps=1, loss=loss), sources=tiny_sources,
                progress=False)
    before = _params(t)
    t.fit()
    assert 0 < t.history.values["g_ssim"][0] <= 2
    after = _params(t)
    assert any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("D."))
