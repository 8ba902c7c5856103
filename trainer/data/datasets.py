"""The training mixture: paired and synthetic sources drawn by configurable weights.

Sample number i of a run is a pure function of (seed, i): the source, the image, the
sketch style and the augmentations (geometric, and a source's artist augmentations) all
come from an rng seeded with (seed, i). Resuming at
step s therefore replays exactly the batches an uninterrupted run would have seen, with
any number of loader workers, and DDP ranks read disjoint sample numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from sketchlab.core.preprocess import to_tensor_array
from sketchlab.core.query import to_grey
from trainer.config import SourceConfig, TrainConfig
from trainer.data.align_cache import AlignedSet, load_aligned
from trainer.data.artist_augment import artist_augment
from trainer.data.augment import apply_pair, random_affine
from trainer.data.folds import fold_rows
from trainer.data.styles import synthesize
from trainer.negatives import person_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    config: SourceConfig
    data: AlignedSet


def load_sources(cfg: TrainConfig, progress: bool = True) -> list[Source]:
    out = []
    for s in cfg.sources:
        data = load_aligned(s.manifest, s.split, cfg.frame, paired=s.kind == "paired",
                            max_items=s.max_items, workers=cfg.align_workers,
                            cache=cfg.cache_dir, progress=progress, subset=s.subset)
        if s.folds:
            data = data.take(fold_rows(data.rows, s.folds, s.held_out_fold, held_out=False))
        if s.manifest_styles:
            data = data.take([i for i, r in enumerate(data.rows) if r.style in s.manifest_styles])
        log.info("source %s: %d images (%s, weight %.2f)", s.name, len(data), s.kind, s.weight)
        out.append(Source(s, data))
    return out


class MixedDataset(Dataset):
    """Map-style dataset over global sample numbers; item i -> (sketch, photo, source id,
    person code): the code (`trainer.negatives.person_code`) keeps a person's other photos
    out of the contrastive term's negatives."""

    def __init__(self, sources: Sequence[Source], seed: int, augment: bool = True,
                 rotate: float = 5.0, scale: float = 0.05, shift: float = 0.04,
                 length: int = 2**62, reverse: bool = False) -> None:
        self.sources = list(sources)
        w = np.array([s.config.weight for s in self.sources], np.float64)
        self.cum = np.cumsum(w / w.sum())
        self.seed = seed
        self.augment = augment
        self.rotate, self.scale, self.shift = rotate, scale, shift
        self.length = length
        self.reverse = reverse  # items as (photo's luma, sketch): a drawing network's

    def __len__(self) -> int:
        return self.length

    def draw(self, index: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """uint8 (sketch, photo) in the canonical frame, the source number and the
        person code."""
        rng = np.random.default_rng([self.seed, index])
        k = int(min(np.searchsorted(self.cum, rng.random(), side="right"), len(self.cum) - 1))
        src = self.sources[k]
        j = int(rng.integers(len(src.data)))
        photo = np.asarray(src.data.photos[j])
        if src.data.sketches is not None:
            sketch = np.asarray(src.data.sketches[j])
        else:
            style = src.config.styles[int(rng.integers(len(src.config.styles)))]
            sketch = synthesize(photo, style, rng)
        if self.augment:
            m = random_affine(photo.shape[:2], rng, self.rotate, self.scale, self.shift)
            sketch, photo = apply_pair(sketch, photo, m)
            # Last, so the source, image, style and warp of sample i are those of a run
            # without them; the paper effects then cover the warp's padding too.
            if src.config.artist_augment:
                sketch = artist_augment(sketch, src.config.artist_augment,
                                        src.config.artist_augment_p, rng)
        return sketch, photo, k, person_code(src.config.name, src.data.rows[j].identity)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """(network input, target, source number, person code)."""
        sketch, photo, k, person = self.draw(int(index))
        if self.reverse:  # a drawing network reads the photo's luma (core.drawn)
            sketch, photo = to_grey(photo), sketch
        return (torch.from_numpy(to_tensor_array(sketch)),
                torch.from_numpy(to_tensor_array(photo)), k, person)


class StepSampler(Sampler[int]):
    """Sample numbers for steps start..steps-1 of one rank: rank r of R reads
    step*B*R + r*B + (0..B-1), so all ranks together cover each global batch once."""

    def __init__(self, start_step: int, steps: int, batch_size: int, rank: int = 0,
                 world: int = 1) -> None:
        self.start, self.steps, self.batch = start_step, steps, batch_size
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.batch

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.steps):
            base = (step * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)


def build_dataset(cfg: TrainConfig, sources: Sequence[Source]) -> MixedDataset:
    return MixedDataset(sources, cfg.seed, augment=True, rotate=cfg.augment_rotate,
                        scale=cfg.augment_scale, shift=cfg.augment_shift,
                        reverse=cfg.direction == "photo_to_sketch")
