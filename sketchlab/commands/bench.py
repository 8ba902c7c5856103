"""`sketchlab bench [--json]`: measured latency of what the app does, on this machine.

Sections beyond inversion (gallery search, enrolment, ...) register in SECTIONS as
"module:function"; each function takes the parsed args and returns keys to merge.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from typing import Any

from sketchlab.core.precision import PRECISIONS

SECTIONS: tuple[str, ...] = (
    "sketchlab.commands.bench:invert_section",
    "sketchlab.commands.gallery:bench_sections",
    "sketchlab.commands.case:bench_section",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark inversion (and more) on this machine")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--model", default=None, help="installed model name or path")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="CPU number format (default: $SKETCHLAB_PRECISION, else auto: bf16 "
                        "where the CPU does it natively)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per measurement")
    p.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes")
    p.add_argument("--variants", action="store_true",
                   help="also time alternative network shapes (untrained) for design choices")
    p.add_argument("--scale", default=None, metavar="N[,N...]",
                   help="gallery sizes for search_10m (default 1000000; 20000 with --quick;"
                        " 0 skips it), e.g. 1000000,3000000,10000000")
    p.add_argument("--backends", default="exact,ann,pgvector",
                   help="search_10m backends: exact, ann (the local IVF index), hnsw (faiss"
                        " HNSW, for comparison), pgvector (comma-separated)")
    p.add_argument("--only", default=None, metavar="KEY[,KEY...]",
                   help="run only these sections: invert, search_1m, enroll, search_10m, case")
    p.set_defaults(handler=run)


def invert_section(args: argparse.Namespace) -> dict[str, Any]:
    from sketchlab.core.bench import bench_inverter, sweep
    from sketchlab.core.inference import Inverter, available_devices
    from sketchlab.core.model_catalog import resolve_model
    from sketchlab.core.network import count_parameters, estimate_gflops

    runs = 5 if args.quick else args.runs
    path = resolve_model(args.model)
    timings: dict[str, Any] = {}
    inverter = None
    for device in available_devices():
        inverter = Inverter(path, device=device, precision=getattr(args, "precision", None))
        timings[device] = bench_inverter(inverter, runs)
    assert inverter is not None
    model = inverter.model
    out: dict[str, Any] = {
        "invert": timings,
        "model": {"name": model.name, "params": count_parameters(model.generator),
                  "gflops": round(estimate_gflops(model.config), 3), "sha256": model.sha256},
    }
    if args.variants:
        out["variants_cpu"] = sweep("cpu", runs)
    return out


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    """When and how this bench ran: tools/benchmarks_md.py prints it above the figures."""
    options = {k: v for k, v in sorted(vars(args).items())
               if k not in ("handler", "command", "json", "verbose") and v not in (None, False)}
    return {"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "sketchlab bench --json", "options": options,
            "load_avg_1m_start": round(os.getloadavg()[0], 2)}


def run(args: argparse.Namespace) -> int:
    from sketchlab.core.bench import machine_info

    result: dict[str, Any] = {"run": run_info(args)}
    only = set(args.only.split(",")) if getattr(args, "only", None) else None
    for spec in SECTIONS:
        if only is not None and spec.endswith(":invert_section") and "invert" not in only:
            continue
        module, func = spec.split(":")
        result.update(getattr(importlib.import_module(module), func)(args))
    result["machine"] = machine_info()
    result["run"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for device, t in result.get("invert", {}).items():
        h, w = t["resolution"]
        print(f"invert [{device}, {t.get('precision', 'fp32')}] {h}x{w}: median "
              f"{t['median_ms']} ms, p90 {t['p90_ms']} ms")
    m = result.get("model")
    if m:
        print(f"model {m['name']}: {m['params']:,} params, {m['gflops']} GFLOPs/image, "
              f"sha256 {m['sha256'][:12]}")
    for key, value in result.items():
        if key not in ("invert", "model", "machine", "run"):
            print(f"{key}: {json.dumps(value)}")
    mi = result["machine"]
    print(f"machine: {mi['cpu']}, {mi['cpu_count']} cpus, torch {mi['torch']}, "
          f"threads {mi['torch_threads']}" + (f", GPU {mi['gpu']}" if mi.get("gpu") else ""))
    return 0
