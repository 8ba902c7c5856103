"""`python -m trainer bench-step`: seconds per training step of CPU speed variants.

Each variant (fp32, channels-last, bf16 autocast, both) gets a Trainer built from the same
config and seed and trains on one fixed batch drawn from the config's real sources, so
data loading is left out and the networks and losses are exactly the run's. Variants are
timed in rounds, A B C D A B C D ..., so a change in machine load hits them all alike;
the table gives each variant's median and its ratio to fp32 from the same rounds.
Run it on a quiet machine: it is a benchmark, and it loads both cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from trainer.config import TrainConfig, load_config

VARIANTS = {
    "fp32": {},
    "channels_last": {"channels_last": True},
    "bf16": {"cpu_bf16": True},
    "bf16+channels_last": {"cpu_bf16": True, "channels_last": True},
}


def bench_steps(cfg: TrainConfig, rounds: int = 3, steps: int = 3, warmup: int = 2,
                variants: dict[str, dict[str, Any]] | None = None,
                sources: list[Any] | None = None) -> dict[str, Any]:
    from trainer.data.datasets import build_dataset, load_sources
    from trainer.train import Trainer

    variants = variants or VARIANTS
    cfg = cfg.replace(device="cpu")
    sources = sources if sources is not None else load_sources(cfg, progress=False)
    ds = build_dataset(cfg, sources)
    sketch, photo, _, person = torch.utils.data.default_collate(
        [ds[i] for i in range(cfg.batch_size)])
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {}
        for name, change in variants.items():
            t = Trainer(cfg.replace(**change), Path(tmp) / name, sources=sources,
                        progress=False)
            t.step = max(t.step, cfg.loss.adv_start + cfg.loss.adv_ramp)  # all terms on
            for _ in range(warmup):
                t.train_step(sketch, photo, person)
            trainers[name] = t
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, t in trainers.items():
                for _ in range(steps):
                    t0 = time.perf_counter()
                    t.train_step(sketch, photo, person)
                    times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["fp32"]) if "fp32" in times else None
    return {
        "batch_size": cfg.batch_size, "threads": torch.get_num_threads(),
        "identity_loss": cfg.loss.identity > 0,
        "variants": {name: {"median_s": statistics.median(v), "min_s": min(v),
                            "max_s": max(v), "n": len(v),
                            "ratio_to_fp32": statistics.median(v) / base if base else None}
                     for name, v in times.items()},
    }


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    result = bench_steps(cfg, rounds=args.rounds, steps=args.steps)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"batch {result['batch_size']}, {result['threads']} threads, identity loss "
          f"{'on' if result['identity_loss'] else 'off'}")
    print(f"{'variant':20s} {'median s/step':>14s} {'min':>7s} {'max':>7s} {'vs fp32':>8s}")
    for name, v in result["variants"].items():
        print(f"{name:20s} {v['median_s']:14.3f} {v['min_s']:7.3f} {v['max_s']:7.3f} "
              f"{v['ratio_to_fp32']:8.2f}")
    return 0
