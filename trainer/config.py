"""TrainConfig: every option of a training run, frozen, loaded from a TOML file.

A run directory keeps a copy of the exact config it ran with (config.toml), so a run can be
reproduced or resumed from its directory alone.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchlab.core.frame import SKETCH_STYLES
from sketchlab.core.network import GeneratorConfig
from trainer.data.artist_augment import check_names


@dataclass(frozen=True)
class SourceConfig:
    """One manifest to draw training samples from.

    kind "paired" uses the manifest's own sketches; "synthetic" draws a sketch from each
    photo in one of `styles`. `weight` is the source's share of each batch (normalised over
    all sources), `max_items` caps how many images are aligned and used (0 = all, else a
    seed-fixed subset).
    """

    name: str
    manifest: str
    kind: str = "paired"
    split: str = "train"
    weight: float = 1.0
    styles: tuple[str, ...] = SKETCH_STYLES
    max_items: int = 0
    subset: str = ""  # keep only photos whose manifest path starts with this
    # Sketch-only augmentations imitating other artists and scanners (names from
    # trainer.data.artist_augment.ARTIST_AUGMENTS), each applied with probability p.
    artist_augment: tuple[str, ...] = ()
    artist_augment_p: float = 0.5
    # Hold one identity fold out of the run (`trainer.data.folds`): folds >= 2 splits the
    # set by person, and the people of fold `held_out_fold` are never trained on.
    folds: int = 0
    held_out_fold: int = 0
    # Keep only the manifest rows of these drawing styles (its `style` column; () = all):
    # a run that never sees one of a set's styles stands in for an artist it never saw.
    manifest_styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("paired", "synthetic"):
            raise ValueError(f"source {self.name}: kind must be 'paired' or 'synthetic'")
        if self.manifest_styles and self.kind != "paired":
            raise ValueError(f"source {self.name}: manifest_styles picks hand-drawn sketches "
                             f"by style; it needs kind 'paired'")
        if self.weight <= 0:
            raise ValueError(f"source {self.name}: weight must be > 0")
        if self.split == "test":
            # Benchmarks are reported on test splits; training on them would void them.
            raise ValueError(f"source {self.name}: refusing to train on a test split")
        bad = set(self.styles) - set(SKETCH_STYLES)
        if bad:
            raise ValueError(f"source {self.name}: unknown styles {sorted(bad)}")
        try:
            check_names(self.artist_augment)
        except ValueError as exc:
            raise ValueError(f"source {self.name}: {exc}") from None
        if not 0.0 < self.artist_augment_p <= 1.0:
            raise ValueError(f"source {self.name}: artist_augment_p must be in (0, 1]")
        if self.folds == 1 or self.folds < 0 or (
                self.folds and not 0 <= self.held_out_fold < self.folds):
            raise ValueError(f"source {self.name}: folds must be 0 (off) or >= 2, and "
                             f"held_out_fold one of them")


@dataclass(frozen=True)
class LossConfig:
    l1: float = 10.0
    adversarial: float = 1.0
    feature_matching: float = 10.0
    tv: float = 0.05
    ssim: float = 0.0  # weight of 1 - SSIM of the luma (`losses.ssim_loss`); 0 = off
    gan_mode: str = "hinge"  # "hinge" or "lsgan"
    # Adversarial and feature-matching terms are off before adv_start and ramp linearly to
    # full weight over adv_ramp steps: with few steps, L1 first gets the layout right.
    adv_start: int = 300
    adv_ramp: int = 300
    # dlib face network terms (0 = off, and the network is not loaded): descriptor
    # distance to the true photo's, and L1 on its intermediate activations.
    identity: float = 0.0
    perceptual: float = 0.0
    # Contrastive identity (`trainer.negatives`): the generated face's descriptor must be
    # nearer its true photo than other people's photos of the batch and of a queue of the
    # last `contrast_queue` training photos (softmax over squared distances).
    contrast: float = 0.0
    contrast_temperature: float = 0.05
    contrast_queue: int = 4096

    def __post_init__(self) -> None:
        if self.gan_mode not in ("hinge", "lsgan"):
            raise ValueError("gan_mode must be 'hinge' or 'lsgan'")
        if self.contrast < 0 or self.contrast_temperature <= 0 or self.contrast_queue < 1:
            raise ValueError("contrast must be >= 0, contrast_temperature > 0 and "
                             "contrast_queue >= 1")

    def adv_factor(self, step: int) -> float:
        if step < self.adv_start:
            return 0.0
        if self.adv_ramp <= 0:
            return 1.0
        return min(1.0, (step - self.adv_start + 1) / self.adv_ramp)


DIRECTIONS = ("sketch_to_photo", "photo_to_sketch")


@dataclass(frozen=True)
class TrainConfig:
    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    steps: int = 1000
    batch_size: int = 8  # per process
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # Linear decay to zero over the last `lr_decay_steps` steps (pix2pix's schedule).
    lr_decay_steps: int = 0
    disc_width: int = 32
    disc_layers: int = 3
    device: str = "auto"
    amp: bool = True  # mixed precision; only used on CUDA
    # CPU speed options, off by default: `python -m trainer bench-step` measures whether
    # they pay on the machine at hand (bf16 autocast needs AVX-512 BF16 or AMX to).
    cpu_bf16: bool = False
    channels_last: bool = False
    num_workers: int = 1
    threads: int = 0  # CPU threads for torch (0 = one per core)
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    sample_count: int = 8
    log_every: int = 10
    align_workers: int = 2
    cache_dir: str = ""  # aligned-frame cache; "" = the user cache directory
    # Fine-tune: start the generator from these weights (a .safetensors model; a relative
    # path is taken from the repo root). Ignored on --resume, which restores everything.
    init_generator: str = ""
    # When init_generator has fewer residual blocks: the new blocks' output scale
    # (trainer/deepen.py; 0 = exact identities, which barely learn in a CPU-length run).
    new_block_scale: float = 0.0
    augment_rotate: float = 5.0  # degrees
    augment_scale: float = 0.05
    augment_shift: float = 0.04  # fraction of the frame
    # "sketch_to_photo" trains the inversion network; "photo_to_sketch" the other way, a
    # drawing network for the gallery side of the two-way search (paired sources only: a
    # synthetic sketch would teach it the filter that made it).
    direction: str = "sketch_to_photo"
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sources: tuple[SourceConfig, ...] = ()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size and checkpoint_every must be >= 1")
        if not self.sources:
            raise ValueError("a training config needs at least one [[sources]] entry")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if self.direction == "photo_to_sketch" and any(s.kind != "paired"
                                                       for s in self.sources):
            raise ValueError("direction photo_to_sketch learns hand-drawn sketches: every "
                             "source must be 'paired'")

    @property
    def frame(self) -> tuple[int, int]:
        return self.generator.resolution

    @property
    def uses_face_net(self) -> bool:
        """Whether a loss term needs dlib's face network (else it is never loaded)."""
        return self.loss.identity > 0 or self.loss.perceptual > 0 or self.loss.contrast > 0

    @property
    def trained_on(self) -> str:
        """The model-file field naming the sources and splits trained on (`cufs:train,...`),
        so a tool reading only the file knows which sets its generator never saw."""
        return ",".join(f"{s.name}:{s.split}" for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return _to_toml(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        gen = GeneratorConfig.from_dict(data.pop("generator", {}) or {})
        loss = LossConfig(**(data.pop("loss", {}) or {}))
        sources = []
        for s in data.pop("sources", []) or []:
            s = dict(s)
            for key in ("styles", "artist_augment", "manifest_styles"):
                if key in s:
                    s[key] = tuple(s[key])
            sources.append(SourceConfig(**s))
        return cls(generator=gen, loss=loss, sources=tuple(sources), **data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a TOML config; relative manifest paths are resolved against the repo's parent
    `shared/data` only if they start with '$DATA/' (see configs/default.toml). A config
    may `extends = "base.toml"` (beside it) and say only what differs, as an ablation
    should: see `_read`."""
    data = _read(Path(path), ())
    data.update(overrides or {})
    try:
        return TrainConfig.from_dict(data)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _read(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The config's keys over its base's: tables ([generator], [loss]) key by key, any
    other key (the [[sources]] list included) whole. An extending config names its own
    run, so it never resumes or overwrites its base's."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read training config {path}: {exc}") from exc
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    seen = (*seen, path.resolve())
    base_path = (path.parent / str(base_name)).resolve()
    if base_path in seen:
        raise ValueError(f"{path}: `extends` goes round in a circle through {base_path.name}")
    if "name" not in data:
        raise ValueError(f"{path}: a config that extends another needs its own `name`, "
                         "or its run would land in the base's run folder")
    merged = _read(base_path, seen)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _to_toml(d: dict[str, Any]) -> str:
    """Minimal TOML writer for TrainConfig's shape (scalars, tables, array of tables)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], dict):
            arrays.append((k, list(v)))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables:
        lines.append(f"\n[{k}]")
        lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
    for k, items in arrays:
        for item in items:
            lines.append(f"\n[[{k}]]")
            lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in item.items())
    return "\n".join(lines) + "\n"
