"""`sketchlab bench [--json]`: measured latency of what the app does, on this machine.

Each section is a function in its command's module, named in SECTIONS (what `--only`
picks from); it takes the parsed args and returns keys to merge. `make bench` saves the
JSON and tools/benchmarks_md.py turns it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from sketchlab.commands import case, gallery
from sketchlab.core.engines import ENGINES
from sketchlab.core.precision import PRECISIONS
from sketchlab.errors import UserError

Section = Callable[[argparse.Namespace], dict[str, Any]]


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
    p.add_argument("--backends", default="exact,ann",
                   help="search_10m gallery backends, comma-separated: exact, ann (the local"
                        " IVF index), hnsw (faiss HNSW, for comparison), pgvector (a "
                        "PostgreSQL server's HNSW index; opt-in: building it over 1M faces"
                        " takes ~20 min on 2 cores). Default: exact,ann")
    p.add_argument("--engine", default=None, choices=ENGINES,
                   help="inference engine for the invert section (default: the one measured"
                        " fastest here, else PyTorch)")
    p.add_argument("--only", default=None, metavar="KEY[,KEY...]",
                   help=f"run only these sections: {', '.join(SECTIONS)}")
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
        inverter = Inverter(path, device=device, precision=getattr(args, "precision", None),
                            engine=getattr(args, "engine", None))
        timings[device] = bench_inverter(inverter, runs)
    assert inverter is not None
    model = inverter.model
    out: dict[str, Any] = {
        "invert": timings,
        "model": {"name": model.name, "gflops": round(estimate_gflops(model.config), 3),
                  "sha256": model.sha256},
    }
    if hasattr(model, "generator"):
        out["model"]["params"] = count_parameters(model.generator)
    if args.variants:
        out["variants_cpu"] = sweep("cpu", runs)
    return out


def engines_section(args: argparse.Namespace) -> dict[str, Any]:
    """engines: every inference engine and precision usable on this CPU, side by side on
    the real network (alternating rounds), as the app's first start times them: median
    and p90 ms for one sketch, ms for a search's 8 variants in one batch, and how far
    the photos are from fp32 PyTorch's. Measures only; the app's remembered choice stays."""
    from sketchlab.core.engine_trial import run_trial
    from sketchlab.core.model_catalog import resolve_model

    rounds = 3 if args.quick else max(5, args.runs // 4)
    choice = run_trial(resolve_model(args.model), rounds=rounds)
    return {"engines": {"fastest": choice.label, "trials": choice.trials,
                        "machine": choice.machine}}


def query_section(args: argparse.Namespace) -> dict[str, Any]:
    """query: one sketch search's query on the CPU (align, the model's variants in one
    batch, embed, adapt), median over CUFS and FS2K test sketches, as `sketchlab match`
    makes it; name a search model with --model. The gallery ranking is search_1m."""
    from sketchlab.core.bench import bench_query
    from sketchlab.core.imageio import load_image
    from sketchlab.core.inference import Inverter
    from sketchlab.core.manifest import ManifestError, read_manifest, shared_data_dir
    from sketchlab.core.model_catalog import resolve_model

    files = []
    for name in ("cufs_cuhk", "fs2k"):
        try:
            rows = read_manifest(shared_data_dir() / name, split="test")
        except (ManifestError, OSError):
            continue
        files += [r.sketch for r in rows[::max(1, len(rows) // 4)][:4] if r.sketch]
    if not files:
        return {"query": {"error": f"no test sketches under {shared_data_dir()} (set "
                                   "SKETCHLAB_SHARED_DATA)"}}
    inverter = Inverter(resolve_model(args.model), device="cpu",
                        precision=getattr(args, "precision", None),
                        engine=getattr(args, "engine", None))
    runs = 4 if args.quick else max(8, args.runs // 3)
    return {"query": {**bench_query(inverter, [load_image(f) for f in files], runs),
                      "model": inverter.model.name}}


# What `sketchlab bench` measures, in this order; `--only` names keys of this table.
SECTIONS: dict[str, Section] = {
    "invert": invert_section,
    "engines": engines_section,
    "query": query_section,
    "search_1m": gallery.bench_search_1m,
    "enroll": gallery.bench_enrolment,
    "search_10m": gallery.bench_search_at_scale,
    "case": case.bench_section,
}


def engines_table(engines: dict[str, Any]) -> str:
    """The engines section as text: one row per engine and precision."""
    rows = [f"engines on {engines['machine']} (fastest within tolerance: "
            f"{engines['fastest']})",
            f"  {'engine':<20} {'1 sketch ms':>12} {'p90':>7} {'8 variants ms':>14} "
            f"{'diff mean/max':>14}  ok"]
    for key, t in engines["trials"].items():
        if "ms" not in t:
            rows.append(f"  {key:<20} {t.get('error', 'not measured')}")
            continue
        rows.append(f"  {key:<20} {t['ms']:>12.1f} {t['ms_p90']:>7.1f} "
                    f"{t['ms_batch8']:>14.1f} {t['mean_diff']:>7.2f}/{t['max_diff']:<6} "
                    f"{'yes' if t['ok'] else 'NO'}"
                    + (f" ({t['error']})" if t.get("error") else ""))
    return "\n".join(rows)


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    """When and how this bench ran: tools/benchmarks_md.py prints it above the figures."""
    options = {k: v for k, v in sorted(vars(args).items())
               if k not in ("handler", "command", "json", "verbose") and v not in (None, False)}
    return {"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "sketchlab bench --json", "options": options,
            "load_avg_1m_start": round(os.getloadavg()[0], 2)}


def run(args: argparse.Namespace) -> int:
    from sketchlab.core.bench import machine_info

    # the machine as the sections find it (a section may narrow torch's threads after)
    result: dict[str, Any] = {"run": run_info(args), "machine": machine_info()}
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    unknown = sorted(set(only or ()) - set(SECTIONS))
    if unknown:
        raise UserError(f"--only: no section {', '.join(unknown)} (sections: "
                        f"{', '.join(SECTIONS)})")
    for name, section in SECTIONS.items():
        if only is None or name in only:
            result.update(section(args))
    result["run"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for device, t in result.get("invert", {}).items():
        h, w = t["resolution"]
        print(f"invert [{t.get('engine', device)}] {h}x{w}: median "
              f"{t['median_ms']} ms, p90 {t['p90_ms']} ms")
    m = result.get("model")
    if m:
        print(f"model {m['name']}: {m['gflops']} GFLOPs/image, sha256 {m['sha256'][:12]}")
    if "engines" in result:
        print(engines_table(result["engines"]))
    q = result.get("query", {})
    if "median_ms" in q:
        print(f"query [{q['model']}, {q['variants']} variants, {q['engine']}]: median "
              f"{q['median_ms']} ms, p90 {q['p90_ms']} ms; by stage {q['stages_ms']}")
    for key, value in result.items():
        if key not in ("invert", "model", "machine", "run", "engines") and not (
                key == "query" and "median_ms" in value):
            print(f"{key}: {json.dumps(value)}")
    mi = result["machine"]
    print(f"machine: {mi['cpu']}, {mi['cpu_count']} cpus, torch {mi['torch']}, "
          f"threads {mi['torch_threads']}" + (f", GPU {mi['gpu']}" if mi.get("gpu") else ""))
    return 0
