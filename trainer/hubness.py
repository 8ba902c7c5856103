"""`python -m trainer hubness`: does discounting "hub" faces find more people?

Photos the generator makes share its habits (lighting, skin, background), so some gallery
faces sit near many of them and crowd the top of every list: hubs. Cross-domain similarity
local scaling (CSLS; Conneau et al., "Word translation without parallel data", 2018)
discounts them: each gallery face's distance is lowered by `weight` times its mean
distance to its `k` nearest *reference* queries (sketches not in the test, made into
descriptors on the app's path), so a face close to every generated photo gains nothing
from being close to this one. The query's own term is a constant per search and leaves the
order alone.

This is a measurement, not yet the app's search: the weight and k are fixed before looking
at a test set (CSLS's own 0.5 and 10), and the figures for other weights are shown beside
them for the record. Same queries, galleries and descriptors as `trainer evaluate`.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core.checkpoint import load_generator
from sketchlab.core.manifest import read_manifest, resolve_manifest
from sketchlab.core.matching import distances

log = logging.getLogger(__name__)

K, WEIGHT = 10, 0.5  # CSLS's published setting, chosen before any test figure was seen
WEIGHTS = (0.0, 0.25, 0.5, 1.0)
RANKS = (1, 10, 50)


def hub_radius(gallery: np.ndarray, reference: np.ndarray, k: int = K) -> np.ndarray:
    """Per gallery row, the mean distance to its k nearest reference descriptors: small
    for a face that many generated photos land near."""
    d = distances(reference, gallery).T  # (G, R)
    k = min(k, d.shape[1])
    return np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1)


def discount(radius: np.ndarray, weight: float) -> np.ndarray | None:
    """The per-row penalty `trainer.evaluate.truth_ranks` adds: minus `weight` x the hub
    radius (None: the plain search)."""
    return -np.float32(weight) * radius.astype(np.float32) if weight else None


def reference_descriptors(model: str | None, loaded: Any, set_name: str, n: int,
                          adapter: Any, workers: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Searched descriptors (colour, grey) of `n` seeded train sketches of one set, from
    a pack of their own under runs/descriptors (described once)."""
    from trainer.adapter import describe, model_raw_weight, train_sets
    from trainer.descriptors import QuerySet, load_pack
    from trainer.evaluate import searched_descriptors

    base = {s.name: s for s in train_sets()}[set_name]
    pick = np.sort(np.random.default_rng(seed).permutation(len(base.specs))[:n])
    sub = QuerySet(f"hubref_{set_name}_{len(pick)}_s{seed}", [base.specs[i] for i in pick],
                   [base.targets[i] for i in pick], [base.identities[i] for i in pick])
    parts, _ = load_pack(describe(model, [sub], workers) / f"{sub.name}.npz", loaded.sha256)
    d = parts[sub.name]
    w = model_raw_weight(loaded)
    return {"": searched_descriptors(d.variants, d.raw, w, adapter)[1],
            "_grey": searched_descriptors(d.variants_grey, d.raw_grey, w, adapter)[1]}


def measure(model: str | None, manifest: str, distractors: Sequence[str], reference: str,
            n_reference: int, adapter_spec: str = "model", workers: int = 2) -> dict[str, Any]:
    from trainer.adapter import embed_gallery_photos
    from trainer.evaluate import identification_queries, model_path, rank_hits, resolve_adapter

    loaded = load_generator(model_path(model))
    adapter = resolve_adapter(loaded, adapter_spec)
    mpath = resolve_manifest(manifest)
    rows = [r for r in read_manifest(mpath, "test") if r.sketch is not None]
    found = identification_queries(loaded, rows, f"{mpath.parent.name}_test", workers, adapter)
    files = [Path(r.photo) for r in rows]
    for spec in distractors:
        files.extend(Path(r.photo) for r in read_manifest(resolve_manifest(spec)))
    first: dict[Path, int] = {}
    for i, f in enumerate(files):
        first.setdefault(f, i)
    truth = [first[Path(r.photo)] for r in rows]
    photos = embed_gallery_photos(files, workers)
    galleries = {"": photos["colour"], "_grey": photos["grey"]}
    refs = reference_descriptors(model, loaded, reference, n_reference, adapter, workers)
    out: dict[str, Any] = {
        "model_sha256": loaded.sha256, "adapter_sha256": adapter.sha256 if adapter else "",
        "test": str(mpath), "n_queries": len(rows), "gallery_size": len(files),
        "reference": reference, "n_reference": len(refs[""]), "k": K,
        "chosen_weight": WEIGHT, "by_weight": {}}
    for suffix, gallery in galleries.items():
        radius = hub_radius(gallery, refs[suffix])
        q = np.asarray(found["searched" + suffix])
        for w in WEIGHTS:
            h = rank_hits(q, gallery, truth, RANKS, discount(radius, w))
            out["by_weight"].setdefault(f"{w:g}", {}).update(
                {f"rank{k}{suffix}": v for k, v in h.items()})
    return out


def format_table(res: dict[str, Any]) -> str:
    lines = [f"{Path(res['test']).parent.name} test, {res['n_queries']} sketches, gallery "
             f"{res['gallery_size']:,}; hub radius from {res['n_reference']} "
             f"{res['reference']} sketches, k {res['k']}", "",
             "| hub weight | rank 1 / 10 / 50, colour | grey |", "|---|---|---|"]
    for w, h in res["by_weight"].items():
        mark = " (chosen)" if float(w) == res["chosen_weight"] else (
            " (off)" if float(w) == 0 else "")
        lines.append(f"| {w}{mark} | " + " / ".join(f"{100 * h[f'rank{k}']:.1f}" for k in RANKS)
                     + " % | " + " / ".join(f"{100 * h[f'rank{k}_grey']:.1f}" for k in RANKS)
                     + " % |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from trainer.evaluate import use_engine

    use_engine(args.engine, args.precision)
    res = measure(args.model, args.manifest, args.distractors, args.reference,
                  args.n_reference, "none" if args.no_adapter else "model", args.workers)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(format_table(res))
    return 0
