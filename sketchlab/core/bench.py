"""Latency measurement shared by `sketchlab bench` and the variant sweep.

Medians and p90 over repeated single-image runs after warm-up; timings on a shared
2-core machine are noisy, so compare ratios taken in one run rather than across runs.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from sketchlab.core.cpus import cpu_flags, cpu_name
from sketchlab.core.engine_torch import choose_device, configure_cpu_threads
from sketchlab.core.inference import Inverter
from sketchlab.core.network import Generator, GeneratorConfig, count_parameters, estimate_gflops
from sketchlab.core.timing import summarise, time_samples


def time_call(fn: Callable[[], object], runs: int, warmup: int = 10) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    return summarise(time_samples(fn, runs))


def bench_inverter(inverter: Inverter, runs: int = 30) -> dict[str, object]:
    """End-to-end inversion latency: array in, array out, as the app calls it."""
    rng = np.random.default_rng(0)
    h, w = inverter.resolution
    sketch = np.where(rng.random((h, w, 1)) < 0.1, 0, 255).repeat(3, axis=2).astype(np.uint8)
    out = time_call(lambda: inverter.invert(sketch), runs)
    return {**out, "resolution": [h, w], "precision": inverter.precision,
            "engine": inverter.device_label}


def bench_config(config: GeneratorConfig, device: str = "cpu", runs: int = 20,
                 channels_last: bool = False) -> dict[str, object]:
    """Forward latency of an untrained network of this shape (for choosing a design)."""
    dev = choose_device(device)
    if dev.type == "cpu":
        configure_cpu_threads()
    net = Generator(config).eval().to(dev)
    x = torch.zeros(1, config.in_channels, config.height, config.width, device=dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.inference_mode():
            net(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return {**time_call(step, runs), "params": count_parameters(net),
            "gflops": round(estimate_gflops(config), 3)}


VARIANTS: dict[str, GeneratorConfig] = {
    "paper-width32-res5-128sq": GeneratorConfig(base_width=32, n_residual=5, height=128,
                                                width=128, upsample="transpose"),
    "w32-res6-160x128": GeneratorConfig(base_width=32, n_residual=6),
    "w24-res6-160x128 (default)": GeneratorConfig(),
    "w24-res6-160x128-transpose": GeneratorConfig(upsample="transpose"),
    "w24-res6-128sq-padded": GeneratorConfig(height=128, width=128),
    "w16-res6-160x128": GeneratorConfig(base_width=16),
    "w24-res6-256x208": GeneratorConfig(height=256, width=208),
}


def sweep(device: str = "cpu", runs: int = 20) -> dict[str, dict[str, object]]:
    results = {}
    for name, cfg in VARIANTS.items():
        results[name] = bench_config(cfg, device, runs)
    default = VARIANTS["w24-res6-160x128 (default)"]
    results["w24-res6-160x128 channels_last"] = bench_config(replace(default), device, runs,
                                                             channels_last=True)
    return results


def machine_info() -> dict[str, object]:
    info: dict[str, object] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu_name(platform.processor() or platform.machine()),
        "cpu_flags": " ".join(cpu_flags()),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def bench_query(inverter: Inverter, sketches: list[np.ndarray], runs: int = 10
                ) -> dict[str, object]:
    """One sketch search's query, as `sketchlab match` and the app's Search make it for
    this model (`pipeline.plan_query`: its variants, raw-sketch weight and adapter): align,
    invert the variants in one batch, embed, fuse, adapt. Ranking the gallery is apart
    (search_1m). Real sketches, since a face not found costs the whole detector chain."""
    from sketchlab.core.model_catalog import read_calibration
    from sketchlab.core.pipeline import plan_query
    from sketchlab.core.query import sketch_query

    plan = plan_query(inverter, read_calibration(inverter.model.path)[1])
    warmup = 2  # first runs, left out of the total and of the stage medians alike
    stages: dict[str, list[float]] = {}
    i = 0

    def once() -> None:
        nonlocal i
        q = sketch_query(sketches[i % len(sketches)], inverter, variants=plan.variants,
                         raw_weight=plan.raw_weight, adapter=plan.adapter)
        i += 1
        for k, v in q.stages_ms.items():
            stages.setdefault(k, []).append(v)

    out = time_call(once, runs, warmup=warmup)
    return {**out, "kind": plan.kind, "variants": plan.variants, "sketches": len(sketches),
            "stages_ms": {k: round(float(np.median(v[warmup:])), 1)
                          for k, v in stages.items()},
            "engine": inverter.device_label, "precision": inverter.precision}
