"""`python -m trainer evaluate`: image quality and identification figures of a model.

Quality (see trainer.metrics for exact definitions): each test sketch is aligned with its
photo (one transform found on the photo, `preprocess.align_pair`), inverted, and compared
with the aligned photo in the network's frame. Figures are means over pairs.

Identification runs on the app's path: each test sketch file goes through
`sketchlab.core.query.sketch_query`, the function behind `sketchlab match` (aligned on its
own, inverted, embedded at the canonical face box); the raw-sketch comparison is the same
call with raw=True. The gallery is every test photo of the evaluated manifests plus every
photo of the distractor manifests, embedded by face_recognition on the original file
(HOG-detected largest face); a photo with no detected face is enrolled anyway from its
aligned frame with the known canonical face box. Rank-k is the share of queries whose own
photo is among the k nearest gallery descriptors (ties count in the query's favour).

LFW distractors are grayscale while CUFS/FS2K photos are colour, so colour alone can pull
a colour query toward the colour test photos. Every rank figure is therefore reported
twice: as is, and "grey", with every query and gallery image converted to luma before
embedding. Gallery descriptors live in the shared EmbeddingCache, keyed by file SHA-256
and model, so gallery enrolment and reruns do not embed LFW again.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sketchlab.core import paths
from sketchlab.core.adapter import QueryAdapter, model_adapter, read_adapter
from sketchlab.core.checkpoint import load_generator
from sketchlab.core.drawn import (
    DRAWN_MODEL,
    REDRAWN_SHARE,
    WEIGHT,
    Drawing,
    draw_chip,
    drawn_distance,
    drawn_query,
    network_drawn_descriptors,
    two_way,
)
from sketchlab.core.embedding_cache import EmbeddingCache
from sketchlab.core.frame import face_box
from sketchlab.core.hashing import sha256_file
from sketchlab.core.manifest import read_manifest, resolve_manifest
from sketchlab.core.matching import (
    EMBEDDING_MODEL,
    distances,
    embed_aligned,
    embed_batch,
)
from sketchlab.core.model_catalog import read_calibration, resolve_model
from sketchlab.core.query import fuse, reading_spread, to_grey
from sketchlab.core.variants import DEFAULT_VARIANTS, shading_phrase
from trainer import metrics
from trainer.data.align_cache import load_aligned

log = logging.getLogger(__name__)

JSON_KEYS = ("fsim", "ssim", "pearson_r", "rank1", "rank5", "rank10", "rank50",
             "rank1_no_adapter", "rank10_no_adapter", "rank1_raw_sketch", "rank10_raw_sketch",
             "rank50_raw_sketch", "rank1_grey", "rank10_grey", "rank50_grey",
             "rank1_no_adapter_grey", "rank10_no_adapter_grey", "rank1_raw_sketch_grey",
             "rank10_raw_sketch_grey", "landmarks_found", "n_queries", "gallery_size",
             "model_sha256")
PENCIL = "pencil"  # `--drawer pencil`: the pencil filter of `core.drawn`
GREY_MODEL = EMBEDDING_MODEL + "+grey"  # cache key of descriptors of luma-only images


def embedding_cache() -> EmbeddingCache:
    return EmbeddingCache(paths.user_cache_dir() / "embeddings.sqlite")


def model_path(spec: str | None) -> Path:
    """A model name, a .safetensors file, or a run directory (its generator snapshot)."""
    if spec is not None and Path(spec).is_dir():
        snap = Path(spec) / "generator.safetensors"
        if not snap.is_file():
            raise FileNotFoundError(f"{spec} has no generator.safetensors (not a run dir?)")
        return snap
    return resolve_model(spec)


# --- embedding, in worker processes ------------------------------------------------------
def _embed_files(jobs: list[tuple[str, bool, bool, str]]) -> list[np.ndarray | None]:
    """Detected-face descriptors of a chunk of files (path, grey, drawn, drawer), batched
    through the PyTorch port (`embed_batch`, interchangeable with face_recognition's
    `embed`); drawn: of the face drawn as a sketch (`core.drawn`), by the pencil filter,
    or with a drawer (a photo-to-sketch model file) by that network from the luma of the
    photo's canonical frame."""
    import torch

    from sketchlab.core.imageio import load_image
    from sketchlab.core.preprocess import prepare_photo

    torch.set_num_threads(1)  # one process per core
    kinds = {(d, w) for _, _, d, w in jobs}
    if len(kinds) != 1:
        raise ValueError("a chunk is all drawn (by one drawer) or all photo descriptors")
    drawn, drawer = kinds.pop()
    net = _drawer(drawer) if drawer else None
    images = []
    for path, grey, _, _ in jobs:
        rgb = prepare_photo(path, net.resolution).image if net else load_image(path)
        images.append(to_grey(rgb) if grey else rgb)
    if net is not None:
        return list(network_drawn_descriptors(images, net))
    return embed_batch(images, chip_transform=draw_chip if drawn else None)


_DRAWERS: dict[str, Any] = {}


def _drawer(path: str) -> Any:
    """A worker's photo-to-sketch network, loaded once (`core.drawn.load_drawer`, as the
    app's gallery draws)."""
    if path not in _DRAWERS:
        from sketchlab.core.drawn import load_drawer

        _DRAWERS[path] = load_drawer(path)
    return _DRAWERS[path]


def model_drawers(path: str | os.PathLike[str]) -> list[str]:
    """The drawing the model's two-way search compares with, as `--drawer` names it: the
    drawing network its rates were measured with (`model_catalog.search_drawing`), else
    the pencil filter."""
    from sketchlab.core.model_catalog import search_drawing
    from sketchlab.core.model_file import read_metadata

    drawing = search_drawing(read_metadata(Path(path)))
    return [PENCIL if drawing is None or drawing.drawer is None else str(drawing.drawer)]


_QUERY_INVERTER: Any = None
# Workers are spawned, not forked: a child forked after the parent ran torch's OpenMP pool
# (the inversions above) deadlocks the first time it runs torch itself.
_SPAWN = multiprocessing.get_context("spawn")


def _init_query_worker(model_file: str, device: str, threads: int) -> None:
    global _QUERY_INVERTER
    from sketchlab.core.engine_torch import configure_cpu_threads
    from sketchlab.core.inference import Inverter

    configure_cpu_threads(threads)
    _QUERY_INVERTER = Inverter(model_file, device=device, warmup=False)


# searched: what `sketchlab match` searches with (adapted when the model has an adapter);
# fused: the variants + raw sketch without the adapter; raw: the sketch itself.
QUERY_KINDS = ("searched", "fused", "raw", "searched_grey", "fused_grey", "raw_grey")


def adapter_of(loaded: Any) -> QueryAdapter | None:
    return model_adapter(loaded.metadata, loaded.sha256)


def loaded_variants(loaded: Any) -> int:
    return int(read_calibration(loaded.path)[1].get("variants", DEFAULT_VARIANTS))


def group_of(row: Any) -> str:
    """The per-group reading of a test row: CUFS by sex (its file names start f/m), FS2K
    by drawing style; other sets are one group."""
    ident = str(row.identity).lower()
    if ident[:1] in ("f", "m") and "-" in ident[:3]:  # f-005-01, m1-012-01
        return "female" if ident[0] == "f" else "male"
    if getattr(row, "style", ""):
        return f"style {row.style}"
    return "all"


def resolve_adapter(loaded: Any, spec: str = "model") -> QueryAdapter | None:
    """"model": the model file's own adapter; "none": no adapter; else a JSON file of
    adapter metadata (`python -m trainer adapter fit --out`), checked like the model's."""
    if spec == "none":
        return None
    if spec == "model":
        return adapter_of(loaded)
    return read_adapter(json.loads(Path(spec).read_text(encoding="utf-8")), loaded.sha256)


def identification_queries(loaded: Any, rows: Sequence[Any], pack_name: str, workers: int,
                           adapter: QueryAdapter | None, ink_gamma: float | None = None,
                           redraw_with: str = "") -> dict[str, Any]:
    """Every sketch's descriptors as `sketchlab match` makes them (QUERY_KINDS, colour and
    grey), from the model's descriptor pack when it holds this set (`trainer.descriptors`:
    the same `sketch_query` call), else computed and stored there. `ink_gamma`: another
    shading reading than the model's own. `redraw_with` (a drawing network's file): also
    "redrawn", each sketch's searched photos drawn by it (a pack of their own)."""
    from trainer.adapter import model_ink_gamma, model_raw_weight, pack_dir
    from trainer.descriptors import QuerySpec, describe_queries, save_pack

    w = model_raw_weight(loaded)
    gamma = model_ink_gamma(loaded.path, ink_gamma)
    pack = pack_dir(loaded.sha256, ink_gamma=gamma) / f"{pack_name}{pack_tag(loaded)}.npz"
    specs = [QuerySpec(str(r.sketch)) for r in rows]
    keys = np.array([q.key for q in specs])
    held = _current_pack(pack, loaded.sha256, keys)
    stored = held[0][pack_name] if held else None
    redrawn_pack = _redrawn_pack(pack, redraw_with) if redraw_with else None
    held = _current_pack(redrawn_pack, loaded.sha256, keys) if redrawn_pack else None
    redrawn = held[1]["redrawn"] if held else None
    if stored is None or (redrawn_pack and redrawn is None):  # one pass makes both
        fresh = describe_queries(loaded.path, specs, loaded_variants(loaded), workers,
                                 pack_name, gamma, Path(redraw_with) if redrawn_pack else None)
        if stored is None:
            stored = fresh
            save_pack(pack, loaded.sha256, {pack_name: stored}, {"specs": keys})
        if redrawn_pack:
            redrawn = fresh.redrawn
            save_pack(redrawn_pack, loaded.sha256, {}, {"specs": keys, "redrawn": redrawn})
    out: dict[str, Any] = {"methods": stored.methods}
    for suffix, var, raw in (("", stored.variants, stored.raw),
                             ("_grey", stored.variants_grey, stored.raw_grey)):
        out["fused" + suffix], out["searched" + suffix] = searched_descriptors(var, raw, w,
                                                                              adapter)
        out["spread" + suffix] = reading_spread(var)
        out["raw" + suffix] = raw
    if redraw_with:
        out["redrawn"] = redrawn
    return out


def _redrawn_pack(pack: Path, drawer: str) -> Path:
    """Where the queries' searched photos drawn by `drawer` are kept: beside their pack,
    named by the drawer's weights (another drawer draws other descriptors)."""
    from sketchlab.core.model_file import read_metadata

    by = str(read_metadata(Path(drawer))["sha256"])
    return pack.with_name(f"{pack.stem}-redrawn-{by[:12]}.npz")


def _current_pack(path: Path, model_sha256: str, keys: np.ndarray
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """A pack's (query sets, extras) when it holds exactly these queries and comes from
    today's query path; None when it is absent or must be remade."""
    from trainer.descriptors import is_current, load_pack

    if not path.is_file():
        return None
    parts, extra = load_pack(path, model_sha256)
    same = [str(x) for x in extra.get("specs", [])] == list(keys)
    return (parts, extra) if same and is_current(extra) else None


def pack_tag(loaded: Any) -> str:
    """How the descriptor packs made under the engine or precision asked for in the
    environment are told apart: an explicit request gets packs of its own, and the default
    packs ("") hold what `trainer adapter describe` made."""
    asked = [os.environ.get(k, "") for k in ENGINE_ENV]
    tag = "@" + "-".join(a or "auto" for a in asked) if any(asked) else ""
    if asked[1] == "int8":  # one pack per int8 export: a new one is other arithmetic
        from sketchlab.core.int8_export import find_export

        found = find_export(loaded.path, loaded.sha256)
        tag += "-" + (found.record["onnx_sha256"][:12] if found else "none")
    return tag


def searched_descriptors(variants: np.ndarray, raw: np.ndarray, raw_weight: float,
                         adapter: QueryAdapter | None) -> tuple[np.ndarray, np.ndarray]:
    """(Q, 128) fused descriptors of (Q, V, 128) variants and (Q, 128) raw sketches, and
    what `sketchlab match` searches with: the fused ones moved by the adapter, if any."""
    fused = fuse(variants, raw, raw_weight)
    return fused, (fused if adapter is None else adapter(fused, variants.mean(axis=1), raw))


def _pmap(fn: Any, items: Sequence[Any], workers: int, desc: str) -> list[Any]:
    if not items:
        return []
    if workers <= 1:
        return [fn(x) for x in tqdm(items, desc=desc, leave=False)]
    with ProcessPoolExecutor(workers, mp_context=_SPAWN) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=8), total=len(items), desc=desc,
                         leave=False))


def _is_grey_file(path: Path) -> bool:
    from sketchlab.core.imageio import load_image

    rgb = load_image(path).astype(np.int16)
    return bool(np.abs(rgb - rgb[..., :1]).max() <= 1)


def embed_photo_files(files: Sequence[Path], cache: EmbeddingCache, workers: int = 2,
                      desc: str = "embedding gallery", grey: bool = False,
                      drawn: bool = False, drawer: str = "") -> list[np.ndarray]:
    """Descriptors of photo files (detected face), from the cache or computed and cached;
    files with no detectable face are embedded from their aligned frame (canonical box).
    `grey` embeds each photo's luma; a photo that is grey already keeps its descriptor.
    `drawn` embeds each face drawn as a sketch (`core.drawn`: luma only, so not grey too);
    with `drawer` (a photo-to-sketch model file) drawn by that network from the luma of the
    photo's canonical frame."""
    from sketchlab.core.preprocess import prepare_photo

    if grey and drawn:
        raise ValueError("a drawn descriptor is colour-blind already: ask for drawn alone")
    if drawer and not drawn:
        raise ValueError("a drawer draws: ask for drawn descriptors")
    model = (Drawing.by_network(drawer).model if drawer
             else DRAWN_MODEL if drawn else GREY_MODEL if grey else EMBEDDING_MODEL)
    shas = [sha256_file(f) for f in files]
    out: list[np.ndarray | None] = [None] * len(files)
    todo = []
    for i, sha in enumerate(shas):
        hit, vec = cache.get(sha, None, model)
        if not hit and grey:
            hit, vec = cache.get(sha, None)  # the colour descriptor, valid if grey already
            hit = hit and _is_grey_file(files[i])
        if hit:
            out[i] = vec
        else:
            todo.append(i)
    log.info("%s: %d of %d cached", desc, len(files) - len(todo), len(files))
    chunk = 2048  # write to the cache as we go so an interrupted run keeps its work
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        jobs = [(str(files[i]), grey, drawn, str(drawer)) for i in part]
        chunks = _pmap(_embed_files, [jobs[j:j + 16] for j in range(0, len(jobs), 16)],
                       workers, f"{desc} {start + len(part)}/{len(todo)}")
        vecs = [v for c in chunks for v in c]
        for i, v in zip(part, vecs, strict=True):
            cache.put(shas[i], v, None, model)
            out[i] = v
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        log.info("%s: %d photos without a detected face; using the aligned face box",
                 desc, len(missing))
    aligned_model = model + "+aligned-frame"  # the fallback's descriptor, by file
    for i in missing:
        hit, vec = cache.get(shas[i], None, aligned_model)
        if not hit or vec is None:
            frame = prepare_photo(files[i]).image
            if drawn:
                vec = embed_batch([frame], [face_box(frame.shape[:2])],
                                  chip_transform=draw_chip)[0]
            else:
                vec = embed_aligned(to_grey(frame) if grey else frame)
            cache.put(shas[i], vec, None, aligned_model)
        out[i] = vec
    return [np.asarray(v, np.float32) for v in out]  # type: ignore[arg-type]


# --- evaluation ----------------------------------------------------------------------------
@dataclass
class SetResult:
    name: str
    n: int
    quality: dict[str, float]
    ranks: dict[str, float] = field(default_factory=dict)


def _invert_all(generator: Any, sketches: np.ndarray, device: str, batch: int = 16,
                ink_gamma: float = 1.0) -> np.ndarray:
    from sketchlab.core.inference import Inverter
    from sketchlab.core.variants import lighten_shading

    inv = Inverter(generator, device=device, warmup=False)
    out = []
    for i in tqdm(range(0, len(sketches), batch), desc="inverting", leave=False):
        out.extend(inv.invert_batch([lighten_shading(np.asarray(s), ink_gamma)
                                     for s in sketches[i:i + batch]]))
    return np.stack(out)


def _metrics_pair(args: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    return metrics.all_metrics(*args)


RANKS = (1, 5, 10, 50)
QUALITY_KEYS = ("fsim", "fsim_colour", "ssim", "ssim_colour", "pearson_r", "pearson_r_colour")


def truth_ranks(queries: np.ndarray, gallery: np.ndarray, truth: Sequence[int],
                penalty: np.ndarray | None = None,
                drawn: tuple[np.ndarray, Any] | None = None) -> np.ndarray:
    """1-based rank of each query's true gallery row (ties favourable), by distance plus
    an optional per-row `penalty` (e.g. `trainer.hubness`'s discount). `drawn`: (raw
    sketch descriptors, drawn gallery descriptors or a list of them, one a drawing), to
    rank by the two-way distance (`core.drawn`)."""
    ranks = []
    for i, (q, t) in enumerate(zip(queries, truth, strict=True)):
        d = distances(q, gallery)
        if drawn is not None:
            d = two_way(d, drawn_distance(drawn[0][i], drawn[1]))
        if penalty is not None:
            d = d + penalty
        ranks.append(int((d < d[t]).sum()) + 1)
    return np.asarray(ranks, int)


def rank_hits(queries: np.ndarray, gallery: np.ndarray, truth: Sequence[int],
              ks: Sequence[int] = RANKS, penalty: np.ndarray | None = None,
              drawn: tuple[np.ndarray, Any] | None = None) -> dict[int, float]:
    """Share of queries whose true gallery row is within the k nearest (ties favourable);
    `drawn` as `truth_ranks`."""
    r = truth_ranks(queries, gallery, truth, penalty, drawn)
    return {k: float((r <= k).mean()) if len(r) else 0.0 for k in ks}


def evaluate(model: str | None, manifests: Sequence[str], split: str = "test",
             distractors: Sequence[str] = (), max_distractors: int = 0, device: str = "auto",
             workers: int = 2, out_dir: Path | None = None, adapter: str = "model",
             quality: bool = True, ink_gamma: float | None = None,
             two_way_search: bool = False, drawers: Sequence[str] | None = None,
             identification: bool = True, redraw: bool = False) -> dict[str, Any]:
    """Quality of the photos the search makes (sketches read with the model's shading
    reading, or `ink_gamma`) and identification on the app's path, either one alone when
    the other is switched off (`quality`, `identification`: the gallery is the slow part,
    and a fidelity check needs none); `two_way_search` also
    ranks by the two-way distance (`core.drawn`: the gallery drawn as sketches too, by
    each of `drawers`: PENCIL, the pencil filter, or a photo-to-sketch network's model;
    with several, the sketch's mean distance to a face's drawings; None: as the app's
    search draws for this model, `model_drawers`). `redraw` also ranks two ways with the
    searched photos redrawn by the one drawing network (`core.drawn.drawn_query`)."""
    if drawers is not None and not two_way_search:
        raise ValueError("a drawer draws the gallery for the two-way search: add --two-way")
    if drawers is not None and not drawers:
        raise ValueError("the two-way search needs at least one drawer")
    if not (quality or identification):
        raise ValueError("nothing to evaluate: both quality and identification are off")
    if two_way_search and not identification:
        raise ValueError("the two-way search is part of identification: drop --quality-only")
    from trainer.adapter import model_ink_gamma

    t0 = time.time()
    loaded = load_generator(model_path(model))
    drawers = [d if d == PENCIL else str(model_path(d))
               for d in (drawers if drawers is not None else model_drawers(loaded.path))]
    if redraw and not (two_way_search and len(drawers) == 1 and drawers[0] != PENCIL):
        raise ValueError("redrawing the searched photo needs the two-way search with one "
                         "drawing network (--two-way --drawer MODEL)")
    moved = resolve_adapter(loaded, adapter)
    gamma = model_ink_gamma(loaded.path, ink_gamma)
    frame = loaded.config.resolution
    cache = embedding_cache()
    sets: list[SetResult] = []
    queries: dict[str, list[np.ndarray]] = {k: [] for k in (*QUERY_KINDS, "redrawn")}
    truth_keys: list[tuple[str, str]] = []
    gallery_files: list[Path] = []
    gallery_keys: list[tuple[str, str]] = []
    per_pair: list[dict[str, float]] = []
    methods: list[str] = []
    groups: list[str] = []
    for spec in manifests:
        mpath = resolve_manifest(spec)
        name = mpath.parent.name
        # Quality: sketch and photo aligned with one transform, compared pixel by pixel.
        data = load_aligned(mpath, split, frame, paired=True, workers=workers)
        preds = _invert_all(loaded, data.sketches, device, ink_gamma=gamma) if quality else None
        if preds is not None:
            pairs = [(preds[i], np.asarray(data.photos[i])) for i in range(len(data))]
            q = _pmap(_metrics_pair, pairs, workers, f"metrics {name}")
            per_pair.extend(q)
            figures = {k: float(np.mean([m[k] for m in q])) for k in q[0]}
        else:
            figures = dict.fromkeys(QUALITY_KEYS)  # None: not measured (identification only)
        sets.append(SetResult(name, len(data), figures))
        if identification:  # the sketch file on the app's own path (variants, fused, adapted)
            found = identification_queries(loaded, data.rows, f"{name}_{split}", workers,
                                           moved, gamma, drawers[0] if redraw else "")
            for k in QUERY_KINDS + (("redrawn",) if redraw else ()):
                queries[k].extend(found[k])
            truth_keys.extend((name, r.identity) for r in data.rows)
            groups.extend(f"{name} {group_of(r)}" for r in data.rows)
            methods.extend(found["methods"])
            for r in data.rows:
                gallery_files.append(r.photo)
                gallery_keys.append((name, r.identity))
        if out_dir is not None and preds is not None:
            from trainer.plots import grid, save_png

            k = min(8, len(data))
            save_png(out_dir / f"samples-{name}.png",
                     grid([[np.asarray(data.sketches[i]) for i in range(k)],
                           [preds[i] for i in range(k)],
                           [np.asarray(data.photos[i]) for i in range(k)]]))
    for spec in distractors if identification else ():
        mpath = resolve_manifest(spec)
        rows = read_manifest(mpath)
        if max_distractors:
            rows = rows[:max_distractors]
        gallery_files.extend(r.photo for r in rows)
        gallery_keys.extend((f"distractor:{mpath.parent.name}", r.identity) for r in rows)
    galleries = {"": np.stack(embed_photo_files(gallery_files, cache, workers)),
                 "_grey": np.stack(embed_photo_files(gallery_files, cache, workers,
                                                     "embedding gallery (grey)", grey=True))
                 } if identification else {}
    # luma only, whoever draws: one drawing of each face serves colour and grey searches
    drawn = [np.stack(embed_photo_files(gallery_files, cache, workers,
                                        f"drawing gallery ({d})", drawn=True,
                                        drawer="" if d == PENCIL else d))
             for d in drawers] if two_way_search else None
    index: dict[tuple[str, str], int] = {}
    for i, key in enumerate(gallery_keys):
        index.setdefault(key, i)
    truth = [index[k] for k in truth_keys]

    def ranks(sl: slice | np.ndarray) -> dict[str, float]:
        rows = np.arange(len(truth))[sl]
        out = {}
        for suffix, g in galleries.items():
            for kind, label in (("searched", ""), ("fused", "_no_adapter"),
                                ("raw", "_raw_sketch")):
                q = np.stack(queries[kind + suffix])[rows]
                hits = rank_hits(q, g, [truth[i] for i in rows], RANKS)
                for k in RANKS:
                    out[f"rank{k}{label}{suffix}"] = hits[k]
                if drawn is not None and kind != "fused":  # the sketch drawn both ways
                    raw = np.stack(queries["raw" + suffix])[rows]
                    hits = rank_hits(q, g, [truth[i] for i in rows], RANKS,
                                     drawn=(raw, drawn))
                    for k in RANKS:
                        out[f"rank{k}{label}_two_way{suffix}"] = hits[k]
                if drawn is not None and redraw and kind == "searched":
                    side = drawn_query(np.stack(queries["raw" + suffix])[rows],
                                       np.stack(queries["redrawn"])[rows])
                    hits = rank_hits(q, g, [truth[i] for i in rows], RANKS, drawn=(side, drawn))
                    for k in RANKS:
                        out[f"rank{k}_two_way_redrawn{suffix}"] = hits[k]
        aligned = [methods[i] for i in rows]
        out["landmarks_found"] = (sum(m == "landmarks" for m in aligned) / len(aligned)
                                  if aligned else 0.0)
        return out

    everything: dict[str, float] = {}
    if identification:
        start = 0
        for s in sets:  # per set, against the same full gallery
            s.ranks = ranks(slice(start, start + s.n))
            start += s.n
        everything = ranks(slice(0, len(truth)))
    by_group = {g: {"n": int(sum(x == g for x in groups)),
                    **ranks(np.flatnonzero(np.array(groups) == g))}
                for g in sorted(set(groups))}
    def mean_of(key: str) -> float | None:
        return float(np.mean([m[key] for m in per_pair])) if per_pair else None

    summary = {
        "fsim": mean_of("fsim"), "ssim": mean_of("ssim"), "pearson_r": mean_of("pearson_r"),
        **{k: everything[k] for k in JSON_KEYS if k in everything},
        "n_queries": sum(s.n for s in sets), "gallery_size": len(gallery_files),
        "model_sha256": loaded.sha256,
    }
    summary = {k: summary.get(k) for k in JSON_KEYS}  # None: not measured (quality only)
    details = {
        "summary": summary,
        "model": str(loaded.path), "model_name": loaded.name, "split": split,
        "manifests": [str(resolve_manifest(m)) for m in manifests],
        "distractors": [str(resolve_manifest(m)) for m in distractors],
        "sets": [{"name": s.name, "n": s.n, **s.quality, **s.ranks} for s in sets],
        "queries": "app path (sketchlab.core.query.sketch_query: sketch aligned on its own, "
                   f"{loaded_variants(loaded)} variants fused with the raw sketch"
                   + (", query adapter" if moved else "")
                   + (f", {shading_phrase(gamma)}" if gamma != 1.0 else "")
                   + ")",
        "adapter_sha256": moved.sha256 if moved else "",
        "ink_gamma": gamma,
        "two_way": {"drawn_model": [DRAWN_MODEL if d == PENCIL else
                                    Drawing.by_network(d).model for d in drawers],
                    "drawers": list(drawers), "weight": WEIGHT,
                    "redrawn_share": REDRAWN_SHARE if redraw else None}
        if two_way_search else None,
        "ranks": everything,
        "groups": by_group,
        "colour": {k: mean_of(k) for k in ("fsim_colour", "ssim_colour", "pearson_r_colour")},
        "seconds": round(time.time() - t0, 1),
    }
    cache.close()
    return details


def format_table(details: dict[str, Any]) -> str:
    if all(s.get("fsim") is not None for s in details["sets"]):
        lines = ["| set | n | FSIM | FSIMc | SSIM | SSIM (colour) | R | R (colour) |",
                 "|" + "---|" * 8]
        lines += [f"| {s['name']} | {s['n']} | "
                  + " | ".join(f"{s[k]:.3f}" for k in QUALITY_KEYS) + " |"
                  for s in details["sets"]]
    else:
        lines = ["Image quality not measured (identification only)."]
    if not all("rank1" in s for s in details["sets"]):
        return "\n".join([*lines, "", "Identification not measured (quality only)."])
    lines += ["", "Identification on the app's path (each sketch aligned on its own, inverted "
              "as 8 variants fused with the raw sketch, as `sketchlab match`):", "",
              "| set | images | rank-1 | rank-10 | rank-50 | without adapter rank-1 / 10 | "
              "raw sketch rank-1 / 10 / 50 | rank-1 vs raw | landmarks found |",
              "|" + "---|" * 9]

    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    def three(s: dict[str, Any], key: str) -> str:
        """Rank 1 / 10 / 50 of `key` ("rank{k}..." with k to fill in)."""
        return " / ".join(pct(s[key.format(k=k)]) for k in (1, 10, 50))

    for s in details["sets"]:
        for suffix, label in (("", "as is"), ("_grey", "all grey")):
            inv, raw = s[f"rank1{suffix}"], s[f"rank1_raw_sketch{suffix}"]
            ratio = f"{inv / raw:.1f}x" if raw > 0 else ("-" if inv == 0 else "inf")
            lines.append(
                f"| {s['name']} | {label} | {pct(inv)} | {pct(s[f'rank10{suffix}'])} | "
                f"{pct(s[f'rank50{suffix}'])} | {pct(s[f'rank1_no_adapter{suffix}'])} / "
                f"{pct(s[f'rank10_no_adapter{suffix}'])} | {pct(raw)} / "
                f"{pct(s[f'rank10_raw_sketch{suffix}'])} / "
                f"{pct(s[f'rank50_raw_sketch{suffix}'])} | {ratio} | "
                f"{pct(s['landmarks_found'])} |")
    if any("rank1_two_way" in s for s in details["sets"]):
        redrawn = all("rank1_two_way_redrawn" in s for s in details["sets"])
        lines += ["", "Two-way search (each gallery photo also drawn as a sketch and compared "
                  "with the sketch as drawn, `sketchlab.core.drawn`):", "",
                  "| set | images | rank-1 / 10 / 50 | raw sketch both ways, rank-1 / 10 / 50 |"
                  + (" with the searched photo redrawn, rank-1 / 10 / 50 |" if redrawn else ""),
                  "|" + "---|" * (5 if redrawn else 4)]
        for s in details["sets"]:
            for suffix, label in (("", "as is"), ("_grey", "all grey")):
                lines.append(f"| {s['name']} | {label} | "
                             f"{three(s, 'rank{k}_two_way' + suffix)} | "
                             f"{three(s, 'rank{k}_raw_sketch_two_way' + suffix)} |"
                             + (f" {three(s, 'rank{k}_two_way_redrawn' + suffix)} |"
                                if redrawn else ""))
    if details.get("groups"):
        two = any("rank1_two_way" in r for r in details["groups"].values())
        again = two and all("rank1_two_way_redrawn" in r for r in details["groups"].values())
        lines += ["", "By group (same searches; sex from CUFS file names, FS2K drawing style):",
                  "", "| group | n | rank-1 | rank-10 | rank-50 | rank-1 grey | raw rank-1 |"
                  + (" two ways: rank-1 / 10 / 50 | two ways, grey |" if two else "")
                  + (" redrawn | redrawn, grey |" if again else ""),
                  "|" + "---|" * (7 + 2 * two + 2 * again)]
        for name, r in details["groups"].items():
            row = (f"| {name} | {r['n']} | {pct(r['rank1'])} | {pct(r['rank10'])} | "
                   f"{pct(r['rank50'])} | {pct(r['rank1_grey'])} | "
                   f"{pct(r['rank1_raw_sketch'])} |")
            for way in ("_two_way",) * two + ("_two_way_redrawn",) * again:
                row += "".join(f" {three(r, 'rank{k}' + way + g)} |" for g in ("", "_grey"))
            lines.append(row)
    g = details["summary"]["gallery_size"]
    lines.append(f"\nGallery: {g} photos (test photos + distractors: "
                 f"{', '.join(Path(d).parent.name for d in details['distractors']) or 'none'}).")
    return "\n".join(lines)


ENGINE_ENV = ("SKETCHLAB_ENGINE", "SKETCHLAB_PRECISION")


def use_engine(engine: str | None, precision: str | None) -> None:
    """Through the environment, so the spawned query workers run the same engine (and
    the descriptor packs are tagged with it)."""
    for env, value in zip(ENGINE_ENV, (engine, precision), strict=True):
        if value:
            os.environ[env] = value


@contextmanager
def engine_env(engine: str | None, precision: str | None) -> Iterator[None]:
    """`use_engine` for one block of a longer command; the environment restored after."""
    before = {k: os.environ.get(k) for k in ENGINE_ENV}
    try:
        use_engine(engine, precision)
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(args: argparse.Namespace) -> int:
    out_dir = Path(args.out).parent if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    use_engine(args.engine, args.precision)
    details = evaluate(args.model, args.manifest, args.split, args.distractors,
                       args.max_distractors, args.device, args.workers, out_dir,
                       adapter="none" if args.no_adapter else args.adapter or "model",
                       quality=not args.identification_only, ink_gamma=args.ink_gamma,
                       two_way_search=args.two_way, drawers=args.drawer,
                       identification=not args.quality_only, redraw=args.redraw)
    details["engine"] = {k: os.environ.get(f"SKETCHLAB_{k.upper()}", "auto")
                         for k in ("engine", "precision")}
    if args.out:
        Path(args.out).write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({k: details["summary"][k] for k in JSON_KEYS}))
    else:
        print("engine {engine}, precision {precision}".format(**details["engine"]))
        print(format_table(details))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(os.EX_USAGE)
