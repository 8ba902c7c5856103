"""The training loop: pix2pix-style alternating D and G updates, checkpoints, exact resume.

One step: generate fakes, `backward_D` (real pairs vs detached fakes), then `backward_G`
with the discriminator frozen (L1 + ramped adversarial + feature matching + TV). Runs on
CPU or CUDA (fp16 autocast + GradScaler) and under `torchrun` (DistributedDataParallel,
configured from the environment torchrun sets; no launcher of our own).

A checkpoint holds the weights, both optimisers, the GradScalers, the step, the loss
history and every RNG state; it is written with torch.save and read back with
`torch.load(weights_only=True)`, which refuses arbitrary pickled objects. Because the data
of sample i depends only on (seed, i) (see data.datasets), a resumed run continues
bit-for-bit where it stopped (tested on CPU).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from sketchlab.core.atomic import atomic_write
from sketchlab.core.checkpoint import save_generator
from sketchlab.core.cpus import cpu_name, usable_cores
from sketchlab.core.engine_torch import choose_device, configure_cpu_threads
from sketchlab.core.engines import DeviceError
from sketchlab.core.network import Generator, unwrap
from trainer import losses
from trainer.config import TrainConfig
from trainer.data.datasets import MixedDataset, Source, StepSampler, build_dataset, load_sources
from trainer.data.folds import held_out_fields
from trainer.deepen import can_deepen, deepen_into
from trainer.discriminator import PatchDiscriminator
from trainer.history import History
from trainer.negatives import DescriptorQueue, identity_contrast
from trainer.plots import save_loss_plot, save_sample_grid

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "sketchlab-train-state-1"


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_pref: str) -> tuple[DistInfo, torch.device]:
    """DDP from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK), else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        dev = _device(device_pref, 0)
        return DistInfo(), dev
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device_pref, local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local), dev


def _device(pref: str, local_rank: int) -> torch.device:
    """`inference.choose_device`, on this process's GPU under torchrun."""
    try:
        dev = choose_device(pref)
    except DeviceError as exc:
        raise RuntimeError("device = 'cuda' but no CUDA GPU is available; set device = "
                           "'cpu' or 'auto' in the config") from exc
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    return dev


def set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "gauss": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Owns the networks, optimisers and run directory of one training run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path | None = None,
                 sources: list[Source] | None = None, progress: bool = True,
                 face_net: torch.nn.Module | None = None) -> None:
        self.cfg = cfg
        self.dist, self.device = setup_distributed(cfg.device)
        if self.device.type == "cpu":
            configure_cpu_threads(cfg.threads or None)
        self.run_dir = Path(run_dir) if run_dir else Path(cfg.out_dir) / cfg.name
        self.progress = progress and self.dist.main
        seed_everything(cfg.seed)
        self.G = Generator(cfg.generator).to(self.device)
        if cfg.init_generator:
            self._init_generator(cfg.init_generator)
        self.face_net = None
        if cfg.uses_face_net:
            if face_net is None:  # from dlib's file, unless given (a training pack's)
                from sketchlab.core.face_net import load_face_net

                face_net = load_face_net()
            self.face_net = face_net.to(self.device)
        self.negatives = (DescriptorQueue(cfg.loss.contrast_queue, self.device)
                          if cfg.loss.contrast > 0 else None)
        self.D = PatchDiscriminator(cfg.generator.in_channels + cfg.generator.out_channels,
                                    cfg.disc_width, cfg.disc_layers).to(self.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.cpu_bf16 = cfg.cpu_bf16 and self.device.type == "cpu"
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if cfg.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.amp)
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DistributedDataParallel(self.G, device_ids=ids)
            self.D = DistributedDataParallel(self.D, device_ids=ids)
        self.step = 0
        self.history = History()
        self.wall_s = 0.0  # training time summed over all sessions of this run
        self._sources = sources
        self._preview: tuple[torch.Tensor, torch.Tensor] | None = None

    def _init_generator(self, spec: str) -> None:
        from sketchlab.core.checkpoint import load_generator

        path = Path(spec)
        if not path.is_absolute() and not path.exists():
            path = Path(__file__).resolve().parent.parent / spec
        loaded = load_generator(path)
        if loaded.config == self.cfg.generator:
            self.G.load_state_dict(loaded.generator.state_dict())
        elif can_deepen(loaded.generator, self.cfg.generator):
            # extra residual blocks start as (near-)identities
            deepen_into(self.G, loaded.generator, self.cfg.new_block_scale)
        else:
            raise ValueError(f"init_generator {path}: its network {loaded.config} differs "
                             f"from the config's {self.cfg.generator}")
        log.info("generator initialised from %s (sha256 %s, %d of %d residual blocks)", path,
                 loaded.sha256[:12], loaded.config.n_residual, self.cfg.generator.n_residual)

    def _face_terms(self, real: torch.Tensor, fake: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Identity and perceptual losses through dlib's network (frozen, fp32), and the
        two descriptors (generated, true photo) for the contrastive term."""
        from sketchlab.core.face_net import canonical_chips

        net = self.face_net
        with torch.no_grad():
            real_f = net.features(canonical_chips(real))
            real_d = net.head(real_f[-1])
        fake_f = net.features(canonical_chips(fake.float()))
        fake_d = net.head(fake_f[-1])
        return (losses.identity_loss(fake_d, real_d), losses.perceptual_loss(real_f, fake_f),
                fake_d, real_d)

    # --- one step -------------------------------------------------------------------
    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        if self.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    def _set_lr(self) -> None:
        c = self.cfg
        f = 1.0
        if c.lr_decay_steps > 0:
            f = min(1.0, max(0.0, (c.steps - self.step) / c.lr_decay_steps))
        for g in self.opt_g.param_groups:
            g["lr"] = c.lr_g * f
        for g in self.opt_d.param_groups:
            g["lr"] = c.lr_d * f

    def backward_d(self, sketch: torch.Tensor, real: torch.Tensor, fake: torch.Tensor
                   ) -> float:
        set_requires_grad(self.D, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            # Real and fake in one pass: one DDP reduction per step, not two.
            logits, _ = self.D(torch.cat([sketch, sketch]), torch.cat([real, fake.detach()]))
            real_l, fake_l = logits.float().chunk(2)
            loss = losses.d_loss(real_l, fake_l, self.cfg.loss.gan_mode)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return float(loss.detach())

    def backward_g(self, sketch: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
                   adv_w: float, person: torch.Tensor | None = None) -> dict[str, float]:
        lc = self.cfg.loss
        self.opt_g.zero_grad(set_to_none=True)
        out: dict[str, float] = {}
        with self._autocast():
            l1 = torch.nn.functional.l1_loss(fake.float(), real)
            tv = losses.total_variation(fake.float())
            total = lc.l1 * l1 + lc.tv * tv
            if lc.ssim > 0:
                with torch.autocast(self.device.type, enabled=False):
                    ssim = losses.ssim_loss(fake, real)
                total = total + lc.ssim * ssim
                out.update(g_ssim=float(ssim.detach()))
            if self.face_net is not None:
                with torch.autocast(self.device.type, enabled=False):
                    ident, perc, fake_d, real_d = self._face_terms(real, fake)
                total = total + lc.identity * ident + lc.perceptual * perc
                out.update(g_id=float(ident.detach()), g_perc=float(perc.detach()))
                if self.negatives is not None:
                    if person is None:
                        raise ValueError("the contrastive term needs each sample's person "
                                         "(MixedDataset items carry it)")
                    person = person.to(self.device)
                    con = identity_contrast(fake_d, real_d, person, self.negatives,
                                            lc.contrast_temperature)
                    total = total + lc.contrast * con
                    out.update(g_con=float(con.detach()))
                    self.negatives.push(real_d, person)
            if adv_w > 0:
                # D is frozen and called unwrapped: its weights get no gradient and DDP
                # sees no half-finished reduction.
                d = unwrap(self.D)
                set_requires_grad(d, False)
                logits, feats = d(torch.cat([sketch, sketch]), torch.cat([real, fake]))
                _, fake_l = logits.float().chunk(2)
                real_f = [f.float().chunk(2)[0] for f in feats]
                fake_f = [f.float().chunk(2)[1] for f in feats]
                adv = losses.g_adv_loss(fake_l, lc.gan_mode)
                fm = losses.feature_matching(real_f, fake_f)
                total = total + adv_w * (lc.adversarial * adv + lc.feature_matching * fm)
                out.update(g_adv=float(adv.detach()), g_fm=float(fm.detach()))
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        if adv_w > 0:
            set_requires_grad(self.D, True)
        out.update(g_l1=float(l1.detach()), g_tv=float(tv.detach()), g_total=float(total.detach()))
        return out

    def train_step(self, sketch: torch.Tensor, real: torch.Tensor,
                   person: torch.Tensor | None = None) -> dict[str, float]:
        self._set_lr()
        self.G.train()
        self.D.train()
        sketch = sketch.to(self.device, non_blocking=True, memory_format=self.memory_format)
        real = real.to(self.device, non_blocking=True, memory_format=self.memory_format)
        adv_w = self.cfg.loss.adv_factor(self.step)
        with self._autocast():
            fake = self.G(sketch)
        out: dict[str, float] = {}
        if adv_w > 0:
            out["d"] = self.backward_d(sketch, real, fake)
        out.update(self.backward_g(sketch, real, fake, adv_w, person))
        self.step += 1
        return out

    # --- checkpoints ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "config": self.cfg.to_dict(),
            "generator": unwrap(self.G).state_dict(),
            "discriminator": unwrap(self.D).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": rng_state(),
            "history": self.history.to_dict(),
            "wall_s": self.wall_s,
            "hardware": hardware_summary(self.device, self.dist.world),
            **({} if self.negatives is None else {"negatives": self.negatives.state_dict()}),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a SketchLab training checkpoint (format "
                             f"{state.get('format')!r})")
        unwrap(self.G).load_state_dict(state["generator"])
        unwrap(self.D).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.step = int(state["step"])
        self.history = History.from_dict(state["history"])
        self.wall_s = float(state.get("wall_s", 0.0))
        if self.negatives is not None and "negatives" in state:
            self.negatives.load_state_dict(state["negatives"])
        set_rng_state(state["rng"])

    def save_checkpoint(self) -> Path:
        ckpt_dir = self.run_dir / "checkpoints"
        path = ckpt_dir / f"step_{self.step:07d}.pt"
        with atomic_write(path) as fh:
            torch.save(self.state(), fh)
        old = sorted(ckpt_dir.glob("step_*.pt"))
        for stale in old[:-self.cfg.keep_checkpoints] if self.cfg.keep_checkpoints > 0 else []:
            stale.unlink(missing_ok=True)
        save_generator(self.run_dir / "generator.safetensors", self.G,
                       extra={"name": self.cfg.name, "step": str(self.step),
                              "summary": f"training snapshot at step {self.step}",
                              "trained_on": self.cfg.trained_on,
                              **held_out_fields(self.cfg.sources)})
        save_loss_plot(self.history, self.run_dir / "losses.png")
        self.save_preview()
        log.info("checkpoint %s", path)
        return path

    def resume(self, path: str | Path | None = None) -> bool:
        """Load the given checkpoint, or the run's latest; False when there is none."""
        if path is None:
            found = latest_checkpoint(self.run_dir)
            if found is None:
                return False
            path = found
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.load_state(state)
        log.info("resumed %s at step %d", path, self.step)
        return True

    # --- previews -------------------------------------------------------------------
    def _preview_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._preview is None:
            ds = MixedDataset(self.sources, self.cfg.seed + 1, augment=False,
                              reverse=self.cfg.direction == "photo_to_sketch")
            sketch, photo, _, _ = torch.utils.data.default_collate(
                [ds[i] for i in range(self.cfg.sample_count)])
            self._preview = (sketch, photo)
        return self._preview

    def save_preview(self) -> Path:
        sketch, photo = self._preview_batch()
        g = unwrap(self.G)
        g.eval()
        with torch.inference_mode():
            fake = g(sketch.to(self.device)).float().cpu()
        g.train()
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        save_sample_grid(sketch.numpy(), fake.numpy(), photo.numpy(), path)
        shutil.copyfile(path, self.run_dir / "samples.png")
        return path

    # --- the loop -------------------------------------------------------------------
    @property
    def sources(self) -> list[Source]:
        if self._sources is None:
            self._sources = load_sources(self.cfg, progress=self.progress)
        return self._sources

    def fit(self, max_steps: int | None = None) -> None:
        """Train until cfg.steps (or max_steps more steps), checkpointing as configured."""
        cfg = self.cfg
        end = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
        dataset = build_dataset(cfg, self.sources)
        sampler = StepSampler(self.step, end, cfg.batch_size, self.dist.rank, self.dist.world)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                            num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda",
                            persistent_workers=False,
                            prefetch_factor=4 if cfg.num_workers > 0 else None)
        acc: dict[str, list[float]] = {}
        bar = tqdm(total=end, initial=self.step, desc=cfg.name, disable=not self.progress,
                   dynamic_ncols=True)
        metrics = (self.run_dir / "metrics.jsonl").open("a") if self.dist.main else None
        t_last = time.perf_counter()
        try:
            for sketch, photo, _, person in loader:
                out = self.train_step(sketch, photo, person)
                now = time.perf_counter()
                self.wall_s += now - t_last
                t_last = now
                for k, v in out.items():
                    acc.setdefault(k, []).append(v)
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == end:
                    means = {k: float(np.mean(v)) for k, v in acc.items()}
                    acc.clear()
                    self.history.add(self.step, means)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in means.items()
                                     if k in ("g_l1", "g_adv", "d")})
                    if metrics:
                        metrics.write(json.dumps({"step": self.step, "wall_s": self.wall_s,
                                                  **means}) + "\n")
                        metrics.flush()
                if self.step % cfg.checkpoint_every == 0 or self.step == end:
                    if self.dist.main:
                        self.save_checkpoint()
                    if self.dist.world > 1:
                        dist.barrier()
                    t_last = time.perf_counter()  # checkpoint time is not training time
        finally:
            bar.close()
            if metrics:
                metrics.close()


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((Path(run_dir) / "checkpoints").glob("step_*.pt"))
    return found[-1] if found else None


def hardware_summary(device: torch.device, world: int = 1) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{world} x {name} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    return (f"{world} x {cpu_name()}, {torch.get_num_threads()} threads, "
            f"{usable_cores()} cores (torch {torch.__version__}, no GPU)")


def train(cfg: TrainConfig, resume: str | bool = False, run_dir: Path | None = None,
          pack: Path | None = None) -> Trainer:
    """Entry point of `python -m trainer train`; with `pack`, the frames and the face
    network come from a training pack (trainer.pack) instead of the datasets and dlib."""
    if pack is None:
        trainer = Trainer(cfg, run_dir)
    else:
        from trainer.pack import read_pack

        data = read_pack(pack, cfg)
        trainer = Trainer(cfg, run_dir, sources=data.sources, face_net=data.face_net())
        if trainer.dist.main:
            data.record(trainer.run_dir)
    if resume:
        found = trainer.resume(None if resume is True else resume)
        if not found:
            log.info("no checkpoint in %s; starting from step 0", trainer.run_dir)
    elif latest_checkpoint(trainer.run_dir) is not None:
        raise FileExistsError(f"{trainer.run_dir} already has checkpoints; pass --resume to "
                              "continue it or choose another --name / out_dir")
    trainer.fit()
    if trainer.dist.world > 1:
        dist.destroy_process_group()
    return trainer
