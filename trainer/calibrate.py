"""`python -m trainer calibrate`: what a distance means for a model's sketch queries, and
which way of searching (one photo, variants, variants + raw sketch) finds people best.

    python -m trainer calibrate --model sketchlab-default --write      # train pairs
    python -m trainer calibrate --model sketchlab-default --test       # test report

Calibration pairs are never test data: CUFS and FS2K train sketches against their photos,
and synthetic sketches (trainer.data.styles) of LFW train identities with two or more
photos, made from one photo and matched against the others, so their genuine pairs are
two different pictures of one person, as in the field. The gallery is every train photo
of those sets plus every LFW train photo (minus the ones the sketches were made from).
Every query goes through the app's path (`sketchlab.core.query.sketch_query`, variants
included), so the rates describe what `sketchlab match` shows.

Caveat stated in the model card: the model trained on the CUFS/FS2K train sketches, so
their genuine distances are optimistic; `--test` measures the resulting rates on held-out
test sets against 13k faces.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sketchlab.core import calibration as cal
from sketchlab.core.checkpoint import load_generator
from sketchlab.core.manifest import read_manifest, resolve_manifest
from sketchlab.core.matching import distances
from sketchlab.core.query import fuse, raw_weight_of
from sketchlab.core.variants import DEFAULT_VARIANTS
from trainer import evaluate
from trainer.evaluate import _SPAWN, embed_photo_files, embedding_cache, model_path

log = logging.getLogger(__name__)

RAW_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
SKETCH_SETS = ("cufs_cuhk", "fs2k")


@dataclass(frozen=True)
class Query:
    """One sketch to search with: a sketch file, or an LFW photo to draw one from."""

    key: str  # "set/identity"
    sketch: str | None
    photo_for_synthetic: str | None = None
    style: str = ""
    seed: int = 0


# --- queries on the app's path, in spawned workers ---------------------------------------
def _query_embeddings(q: Query) -> tuple[np.ndarray, np.ndarray]:
    """(variant descriptors (V, 128), raw-sketch descriptor) of one query, in a worker
    set up by `evaluate._init_query_worker` (the same worker `evaluate` uses)."""
    from sketchlab.core.matching import embed_aligned
    from sketchlab.core.query import sketch_query

    inverter = evaluate._QUERY_INVERTER
    if q.sketch is not None:
        source: Any = q.sketch
    else:
        from sketchlab.core.preprocess import prepare_photo
        from trainer.data.styles import synthesize

        frame = prepare_photo(q.photo_for_synthetic, inverter.resolution).image
        source = synthesize(frame, q.style, np.random.default_rng(q.seed))
    sq = sketch_query(source, inverter, variants=DEFAULT_VARIANTS)
    return sq.variant_embeddings, embed_aligned(sq.prepared.image)


def query_embeddings(model_file: Path, queries: Sequence[Query], workers: int, cache: Path,
                     chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(N, V, 128) variant descriptors and (N, 128) raw ones. Each chunk of queries is
    cached in an .npz named by model and chunk, so an interrupted run (or `--test` after
    `--write`) resumes where it stopped instead of inverting again."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    pool: ProcessPoolExecutor | None = None
    try:
        for start in tqdm(range(0, len(queries), chunk), desc="query chunks"):
            part = list(queries[start:start + chunk])
            f = cache.with_name(f"{cache.stem}-{_tag(part)}.npz")
            if f.is_file():
                z = np.load(f)
                parts.append((z["variants"], z["raw"]))
                continue
            if pool is None:
                pool = ProcessPoolExecutor(workers, mp_context=_SPAWN,
                                           initializer=evaluate._init_query_worker,
                                           initargs=(str(model_file), "cpu", 1))
            rows = list(pool.map(_query_embeddings, part, chunksize=2))
            var = np.stack([r[0] for r in rows]).astype(np.float32)
            raw = np.stack([r[1] for r in rows]).astype(np.float32)
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, variants=var, raw=raw)
            parts.append((var, raw))
    finally:
        if pool is not None:
            pool.shutdown()
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def described_sketches(loaded: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Colour (variant descriptors, raw-sketch descriptor) of every sketch file in the
    model's descriptor packs (`trainer adapter describe`, `trainer evaluate`), by file. The
    packs hold the same `sketch_query` call as `_query_embeddings`, so a sketch found there
    is not inverted again (most of a calibration's half hour)."""
    from trainer.adapter import model_ink_gamma, pack_dir
    from trainer.descriptors import QuerySpec, is_current, load_pack

    tag = evaluate.pack_tag(loaded)
    folder = pack_dir(loaded.sha256, ink_gamma=model_ink_gamma(loaded.path))
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for f in sorted(folder.glob("*.npz")):
        if not (f.stem.endswith(tag) if tag else "@" not in f.stem):
            continue  # made under another engine or precision
        parts, extra = load_pack(f, loaded.sha256)
        specs = [str(s) for s in extra.get("specs", [])]
        if len(parts) != 1 or not is_current(extra):
            continue
        (d,) = parts.values()
        if len(specs) != len(d) or d.variants.shape[1] != DEFAULT_VARIANTS:
            continue
        for i, key in enumerate(specs):
            path = key.split("|", 1)[0]
            if key == QuerySpec(path).key:  # a sketch file, not a synthetic sketch
                found[path] = (d.variants[i], d.raw[i])
    return found


def study_embeddings(loaded: Any, queries: Sequence[Query], workers: int, cache: Path
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`query_embeddings` of the queries, reading the sketch files the model's packs hold
    (`described_sketches`) and inverting only the rest."""
    stored = described_sketches(loaded)
    rest = [i for i, q in enumerate(queries) if q.sketch not in stored]
    log.info("%d of %d queries read from the model's descriptor packs",
             len(queries) - len(rest), len(queries))
    computed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if rest:
        var, raw = query_embeddings(loaded.path, [queries[i] for i in rest], workers, cache)
        computed = {i: (var[j], raw[j]) for j, i in enumerate(rest)}
    rows = [computed[i] if i in computed else stored[str(q.sketch)]
            for i, q in enumerate(queries)]
    return (np.stack([r[0] for r in rows]).astype(np.float32),
            np.stack([r[1] for r in rows]).astype(np.float32))


def _tag(queries: Sequence[Query]) -> str:
    from sketchlab.core.hashing import sha256_bytes

    return sha256_bytes(json.dumps([q.__dict__ for q in queries]).encode())[:12]


# --- the data ------------------------------------------------------------------------------
def build_sets(split: str, lfw_queries: int, max_per_set: int = 0, seed: int = 0
               ) -> tuple[list[Query], list[Path], list[str]]:
    """(queries, gallery photo files, gallery identity keys) for one split. `max_per_set`
    searches with a seeded sample of each sketch set's pairs; every photo of the split
    stays in the gallery."""
    queries: list[Query] = []
    files: list[Path] = []
    keys: list[str] = []
    for name in SKETCH_SETS:
        rows = [r for r in read_manifest(f"$DATA/{name}", split) if r.sketch is not None]
        picked = set(range(len(rows)))
        if max_per_set and len(rows) > max_per_set:
            picked = set(random.Random(seed).sample(range(len(rows)), max_per_set))
        for i, r in enumerate(rows):
            if i in picked:
                queries.append(Query(f"{name}/{r.identity}", str(r.sketch)))
            files.append(r.photo)
            keys.append(f"{name}/{r.identity}")
    lfw = read_manifest(resolve_manifest("$DATA/lfw"), split if split == "train" else None)
    by_id: dict[str, list[Path]] = {}
    for r in lfw:
        by_id.setdefault(r.identity, []).append(r.photo)
    sources: set[Path] = set()
    if split == "train" and lfw_queries:
        rng = random.Random(seed)
        multi = sorted(i for i, ps in by_id.items() if len(ps) >= 2)
        for n, ident in enumerate(rng.sample(multi, min(lfw_queries, len(multi)))):
            src = by_id[ident][0]
            sources.add(src)
            queries.append(Query(f"lfw/{ident}", None, str(src), ("pencil", "line")[n % 2],
                                 seed + n))
    for ident, photos in by_id.items():
        for p in photos:
            if p not in sources:
                files.append(p)
                keys.append(f"lfw/{ident}")
    return queries, files, keys


# --- modes, ranks and rates ----------------------------------------------------------------
def mode_queries(var: np.ndarray, raw: np.ndarray, mode: str, w: float = 0.0) -> np.ndarray:
    """(N, 128) descriptors searched with under a mode."""
    if mode == "single":
        return var[:, 0]
    if mode == "raw":
        return raw
    return fuse(var, raw, w)


@dataclass
class Scored:
    """Per-query rank of the first mate and top-1 mate flag, and the gallery-normalised
    scores (z) of the top-1, of genuine pairs and of impostor pairs."""

    ranks: np.ndarray
    top_z: np.ndarray
    top_is_mate: np.ndarray
    genuine: np.ndarray
    impostor: np.ndarray


def _group(key: str) -> str:
    return key.split("/", 1)[0]


def score(queries: np.ndarray, gallery: np.ndarray, q_keys: Sequence[str],
          g_keys: Sequence[str], keep_impostors: bool = True, own_gallery: bool = False
          ) -> Scored:
    """Ranks and pair scores. Each query's distances are normalised by their mean and
    spread over the gallery, as the app does (`Matcher.gallery_norm`); with `own_gallery`
    the gallery of a query is only its own dataset's photos (one capture setting, as a real
    gallery is), and pairs across datasets are left out. (N, V, 128) queries are scored by
    the mean of their V distances (the alternative to searching with the mean
    descriptor)."""
    g_sq = (gallery * gallery).sum(1)
    g_arr = np.asarray(g_keys)
    g_grp = np.asarray([_group(k) for k in g_keys])
    ranks, top_z, top_mate, gen, imp = [], [], [], [], []
    for s in range(0, len(queries), 256):
        q = queries[s:s + 256]
        d = (distances(q, gallery, g_sq) if q.ndim == 2 else
             np.mean([distances(q[:, v], gallery, g_sq) for v in range(q.shape[1])], axis=0))
        for j, row in enumerate(d):
            key = q_keys[s + j]
            mate = g_arr == key
            if own_gallery:
                keep = g_grp == _group(key)
                row, mate = row[keep], mate[keep]
            z = (row - row.mean()) / max(float(row.std()), 1e-6)
            best_mate = row[mate].min()
            ranks.append(int((row[~mate] < best_mate).sum()) + 1)
            t = int(row.argmin())
            top_z.append(float(z[t]))
            top_mate.append(bool(mate[t]))
            gen.append(z[mate])
            if keep_impostors:
                imp.append(z[~mate].astype(np.float32))
    return Scored(np.asarray(ranks), np.asarray(top_z), np.asarray(top_mate),
                  np.concatenate(gen), np.concatenate(imp) if imp else np.zeros(0))


def by_set(queries: np.ndarray, gallery: np.ndarray, q_keys: Sequence[str],
           g_keys: Sequence[str], distance: float, z: float) -> dict[str, dict[str, float]]:
    """Why distances are read against the gallery: for each query set and gallery set, the
    share of non-mates within one distance threshold, and (own set only) within the
    z threshold after normalising over that set's gallery."""
    g_sq = (gallery * gallery).sum(1)
    q_grp = np.asarray([_group(k) for k in q_keys])
    g_grp = np.asarray([_group(k) for k in g_keys])
    g_arr = np.asarray(g_keys)
    out: dict[str, dict[str, float]] = {}
    for qs in dict.fromkeys(q_grp):
        qi = np.flatnonzero(q_grp == qs)
        d = distances(queries[qi], gallery, g_sq)
        mate = np.asarray(q_keys)[qi][:, None] == g_arr[None, :]
        row: dict[str, float] = {}
        for gs in dict.fromkeys(g_grp):
            cols = g_grp == gs
            row[f"within_distance_{gs}"] = float((d[:, cols][~mate[:, cols]] <= distance).mean())
        own = d[:, g_grp == qs]
        zz = (own - own.mean(1, keepdims=True)) / own.std(1, keepdims=True)
        row["within_z_own"] = float((zz[~mate[:, g_grp == qs]] <= z).mean())
        out[qs] = row
    return out


def rank_k(ranks: np.ndarray, k: int) -> float:
    return float((ranks <= k).mean()) if len(ranks) else 0.0


# --- the command ---------------------------------------------------------------------------
def _gallery(files: list[Path], workers: int) -> np.ndarray:
    cache = embedding_cache()
    try:
        return np.stack(embed_photo_files(files, cache, workers))
    finally:
        cache.close()


def _study_cache(model_sha: str, split: str) -> Path:
    """Named by model and, unless fp32, the CPU precision its query workers invert in
    (bf16 photos give other descriptors; a cache must not mix them)."""
    import torch

    from sketchlab.core.engine_torch import choose_precision

    precision = choose_precision(torch.device("cpu"))
    tag = "" if precision == "fp32" else f"-{precision}"
    return Path("runs") / "score-study" / f"{split}-{model_sha[:12]}{tag}.npz"


def calibrate(model: str | None, lfw_queries: int = 300, workers: int = 2,
              max_per_set: int = 0
              ) -> tuple[dict[str, cal.ScoreCalibration], dict[str, Any], dict[str, Any]]:
    """(calibrations by query kind, fields to store beside them, a report)."""
    t0 = time.time()
    loaded = load_generator(model_path(model))
    queries, files, g_keys = build_sets("train", lfw_queries, max_per_set)
    var, raw = study_embeddings(loaded, queries, workers, _study_cache(loaded.sha256, "train"))
    gallery = _gallery(files, workers)
    q_keys = [q.key for q in queries]
    # The raw sketch's share of the fused descriptor: chosen on these train pairs.
    table = {}
    for w in RAW_WEIGHTS:
        s = score(mode_queries(var, raw, "variants", w), gallery, q_keys, g_keys, False)
        table[w] = (rank_k(s.ranks, 1), rank_k(s.ranks, 10))
    best_w = max(RAW_WEIGHTS, key=lambda w: table[w][0] + table[w][1])
    source = (f"{len(queries)} train sketches (CUFS {sum(k.startswith('cufs') for k in q_keys)}, "
              f"FS2K {sum(k.startswith('fs2k') for k in q_keys)}, synthetic LFW "
              f"{sum(k.startswith('lfw') for k in q_keys)}), each against its own set's "
              f"train photos ({len(files)} in all)")
    kinds: dict[str, cal.ScoreCalibration] = {}
    report: dict[str, Any] = {"raw_weight_sweep": {str(w): v for w, v in table.items()},
                              "raw_weight": best_w}
    for kind, q in (("single", mode_queries(var, raw, "single")),
                    ("variants", mode_queries(var, raw, "variants", best_w)),
                    ("raw", raw)):
        s = score(q, gallery, q_keys, g_keys, own_gallery=True)
        kinds[kind] = cal.ScoreCalibration.fit(kind, s.genuine, s.impostor, source)
        thr = kinds[kind].threshold_at(cal.DEFAULT_FMR)
        everyone = score(q, gallery, q_keys, g_keys, keep_impostors=False)
        report[kind] = {"rank1": rank_k(everyone.ranks, 1), "rank10": rank_k(everyone.ranks, 10),
                        "threshold_at_1pct": round(thr, 4),
                        "fnmr_at_threshold": float(kinds[kind].fnmr(thr)),
                        "genuine_pairs": len(s.genuine), "impostor_pairs": len(s.impostor)}
    # One distance threshold (the variants' 1% point over all train impostors) vs z.
    fused = mode_queries(var, raw, "variants", best_w)
    flat = np.concatenate([distances(fused[i:i + 256], gallery, (gallery * gallery).sum(1))[
        np.asarray(q_keys[i:i + 256])[:, None] != np.asarray(g_keys)[None, :]]
        for i in range(0, len(fused), 256)])
    d1 = float(np.quantile(flat, cal.DEFAULT_FMR))
    report["by_set"] = {"distance_threshold": round(d1, 4),
                        "z_threshold": round(kinds["variants"].threshold_at(cal.DEFAULT_FMR), 3),
                        **by_set(fused, gallery, q_keys, g_keys, d1,
                                 kinds["variants"].threshold_at(cal.DEFAULT_FMR))}
    extra = {"raw_weight": best_w, "variants": DEFAULT_VARIANTS, "model_sha256": loaded.sha256,
             "default_fmr": cal.DEFAULT_FMR}
    report["seconds"] = round(time.time() - t0, 1)
    return kinds, extra, report


def test_report(model: str | None, workers: int = 2, max_per_set: int = 0,
                fmr: float = cal.DEFAULT_FMR) -> dict[str, Any]:
    """Rank-1/10 per mode and per test set against the test photos plus all of LFW, and the
    error rates at the model's default threshold (its stored calibration)."""
    from sketchlab.core.model_catalog import read_calibration

    loaded = load_generator(model_path(model))
    kinds, extra = read_calibration(loaded.path)
    if not kinds:
        raise SystemExit("the model has no score calibration: run with --write first")
    queries, files, g_keys = build_sets("test", 0, max_per_set)
    var, raw = study_embeddings(loaded, queries, workers, _study_cache(loaded.sha256, "test"))
    gallery = _gallery(files, workers)
    q_keys = np.asarray([q.key for q in queries])
    w = raw_weight_of(extra)
    # Rates only where the row is exactly a query kind the model is calibrated for.
    modes = {"one photo": ("single", mode_queries(var, raw, "single")),
             "variants, mean descriptor": (None if w else "variants",
                                           mode_queries(var, raw, "variants", 0.0)),
             "variants, mean distance": (None, var),
             f"variants + raw sketch ({w:g})": ("variants" if w else None,
                                                mode_queries(var, raw, "variants", w)),
             "raw sketch": ("raw", raw)}
    out: dict[str, Any] = {"gallery_size": len(files), "raw_weight": w, "fmr": fmr,
                           "sets": {}}
    for name in SKETCH_SETS:
        sel = np.array([k.startswith(name + "/") for k in q_keys])
        for gallery_kind, own in (("own test photos", True), ("test photos + LFW", False)):
            rows = {}
            for label, (kind, q) in modes.items():
                s = score(q[sel], gallery, list(q_keys[sel]), g_keys,
                          keep_impostors=bool(kind), own_gallery=own)
                row: dict[str, Any] = {"rank1": rank_k(s.ranks, 1),
                                       "rank10": rank_k(s.ranks, 10), "n": int(sel.sum())}
                if kind:
                    z = kinds[kind].threshold_at(fmr)
                    row |= {"z_threshold": round(z, 3),
                            "fmr_at_threshold": float((s.impostor <= z).mean()),
                            "fnmr_at_threshold": float((s.genuine > z).mean()),
                            "top_nonmate_within": float(((~s.top_is_mate)
                                                         & (s.top_z <= z)).mean())}
                rows[label] = row
            out["sets"][f"{name} vs {gallery_kind}"] = rows
    return out


def format_calibration(report: dict[str, Any]) -> str:
    """The model card's section: how the calibration was made and what it says."""
    lines = ["## Score calibration (sketch queries)", "",
             "Made by `python -m trainer calibrate --write` on train pairs only; stored in the "
             "model file (`score_calibration`). The app's threshold is the distance whose "
             "gallery-normalised score (z) has a 1% false-match rate.", "",
             "| query | rank-1 (train) | rank-10 (train) | z threshold at 1% FMR | FNMR there | "
             "genuine pairs | impostor pairs |", "|" + "---|" * 7]
    for kind in cal.QUERY_KINDS:
        r = report.get(kind)
        if r:
            lines.append(f"| {kind} | {r['rank1']:.1%} | {r['rank10']:.1%} | "
                         f"{r['threshold_at_1pct']:.3f} | {r['fnmr_at_threshold']:.1%} | "
                         f"{r['genuine_pairs']:,} | {r['impostor_pairs']:,} |")
    sweep = ", ".join(f"{w}: {v[0]:.1%}/{v[1]:.1%}"
                      for w, v in report.get("raw_weight_sweep", {}).items())
    b = report.get("by_set")
    if b:
        sets = [k for k in b if isinstance(b[k], dict)]
        lines += ["", f"Why distances are read against the gallery (variants queries): share "
                  f"of non-mates within one distance threshold ({b['distance_threshold']}, "
                  f"the 1% point over all train pairs) by gallery set, and within the z "
                  f"threshold ({b['z_threshold']}) over the query's own set:", "",
                  "| sketches | " + " | ".join(f"d <= t, {g} photos" for g in sets)
                  + " | z <= t, own set |", "|" + "---|" * (len(sets) + 2)]
        for q in sets:
            lines.append(f"| {q} | " + " | ".join(
                f"{b[q].get('within_distance_' + g, float('nan')):.2%}" for g in sets)
                + f" | {b[q]['within_z_own']:.2%} |")
    lines += ["", f"Raw-sketch share of the fused descriptor: {report.get('raw_weight')} "
              f"(chosen on train pairs by rank-1 + rank-10; sweep rank-1/rank-10: {sweep})."]
    return "\n".join(lines)


def format_report(test: dict[str, Any]) -> str:
    lines = [f"Galleries: each test set's own photos, and all test photos + all LFW "
             f"({test['gallery_size']} photos). Threshold at the model's calibrated "
             f"{test.get('fmr', cal.DEFAULT_FMR):.1%} false-match rate, read against the "
             "gallery searched.", "",
             "| set vs gallery | search | rank-1 | rank-10 | z threshold | FMR | FNMR | "
             "top-1 non-mate within |", "|" + "---|" * 8]
    for name, rows in test["sets"].items():
        for label, r in rows.items():
            rates = (f"{r['z_threshold']:.2f} | {r['fmr_at_threshold']:.2%} | "
                     f"{r['fnmr_at_threshold']:.1%} | {r['top_nonmate_within']:.1%}"
                     if "z_threshold" in r else "– | – | – | –")
            lines.append(f"| {name} (n={r['n']}) | {label} | {r['rank1']:.1%} | "
                         f"{r['rank10']:.1%} | {rates} |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from sketchlab.core.model_catalog import write_calibration

    result: dict[str, Any] = {}
    if args.write or not args.test:
        kinds, extra, report = calibrate(args.model, args.lfw_queries, args.workers,
                                          args.max_per_set)
        result["train"] = report
        if args.write:
            write_calibration(model_path(args.model), kinds, extra)
            result["written"] = str(model_path(args.model))
    if args.test:
        result["test"] = test_report(args.model, args.workers, args.max_per_set, args.fmr)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if "train" in result:
            print(format_calibration(result["train"]), end="\n\n")
        if "test" in result:
            print(format_report(result["test"]))
    return 0
