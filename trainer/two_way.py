"""`python -m trainer two-way`: choose the two-way search's drawing and weight
(`sketchlab.core.drawn`) on train sketches only.

1. The drawing. Each raw CUFS and FS2K train sketch (as `sketchlab match` embeds it) is
   searched against the train bank's faces drawn each candidate way (10,671 faces: the
   two sets' train photos and LFW train): how often its own photo's drawing comes first,
   in the top 10 and in the top 50. No generator is involved, so the train sketches are
   as new to this step as test ones would be.
2. The weight. CUFS train sketches are searched two ways through the protocol generator
   that never saw CUFS (`trainer/protocol`, with its own adapter): the searched photo's
   distance plus `weight` x the raw sketch's distance to the drawing, for each weight.

Nothing is written: the chosen values are constants in `core.drawn`, and the lab record
keeps this command's output beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from trainer import search_rates

log = logging.getLogger(__name__)

DRAWINGS = ((2.0, 0.0), (4.0, 0.0), (8.0, 0.0), (4.0, 0.3))  # (blur px, tone)
WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5)
# the protocol generator that never saw CUFS (`trainer.search_rates.PROTOCOL_GENERATORS`)
PROTOCOL = search_rates.PROTOCOL / search_rates.PROTOCOL_GENERATORS["cufs_train"]
RANKS = (1, 10, 50)


def _bank(workers: int) -> tuple[list[Path], dict[str, Any]]:
    """The train bank's files and the raw train sketches with their photos' rows."""
    from sketchlab.core.model_catalog import resolve_model
    from trainer.adapter import lfw_train_photos, pack_dir
    from trainer.descriptors import load_pack

    sha = _sha(resolve_model(None))
    files: list[Path] = []
    sets = {}
    for name in ("cufs_train", "fs2k_train"):
        pack = pack_dir(sha) / f"{name}.npz"
        if not pack.is_file():
            raise FileNotFoundError(f"{pack} is missing: `python -m trainer adapter describe` "
                                    "makes the train packs")
        parts, extra = load_pack(pack)
        sets[name] = (parts[name], [Path(t) for t in extra["targets"]])
        files += sets[name][1]
    files += list(lfw_train_photos()[0])
    first: dict[Path, int] = {}
    for i, f in enumerate(files):
        first.setdefault(f, i)
    return files, {n: (d, [first[t] for t in targets]) for n, (d, targets) in sets.items()}


def _sha(path: Path) -> str:
    from sketchlab.core.checkpoint import read_metadata

    return str(read_metadata(path)["sha256"])


def pencil_drawings(files: list[Path], sigma: float, tone: float) -> np.ndarray:
    """(N, 128) descriptors of each file's face drawn as (sigma, tone), at the face box
    enrolment finds (the embedding cache's, else detected again)."""
    from sketchlab.core.drawn import draw_chip
    from sketchlab.core.hashing import sha256_file
    from sketchlab.core.imageio import load_image
    from sketchlab.core.matching import detect_faces, embed_chips, face_chip
    from trainer.evaluate import embedding_cache

    cache = embedding_cache()
    chips = []
    try:
        for f in files:
            rgb = np.ascontiguousarray(load_image(f))
            hit, scan = cache.get_scan(sha256_file(f))
            box = scan.box if hit and scan is not None and scan.box is not None else None
            if box is None:
                found = detect_faces(rgb)
                box = found[0] if found else (0, rgb.shape[1], rgb.shape[0], 0)
            chips.append(draw_chip(face_chip(rgb, box), sigma, tone))
    finally:
        cache.close()
    return embed_chips(chips)


def _hits(ranks: np.ndarray) -> list[float]:
    return [round(float((ranks <= k).mean()), 4) for k in RANKS]


def _ranks(d: np.ndarray, truth: list[int]) -> np.ndarray:
    return np.array([(d[i] < d[i, t]).sum() + 1 for i, t in enumerate(truth)])


def choose(workers: int = 2) -> dict[str, Any]:
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.manifest import read_manifest, resolve_manifest
    from sketchlab.core.matching import distances
    from trainer.adapter import embed_gallery_photos
    from trainer.evaluate import adapter_of, identification_queries, use_engine

    files, sets = _bank(workers)
    photos = embed_gallery_photos(files, workers)
    out: dict[str, Any] = {"bank": len(files), "drawings": {}, "weights": {}}
    for name, (d, truth) in sets.items():
        out["drawings"].setdefault("photo (no drawing)", {})[name] = _hits(
            _ranks(distances(d.raw, photos["colour"]), truth))
    banks = {}
    for sigma, tone in DRAWINGS:
        key = f"blur {sigma:g} px, tone {tone:g}"
        banks[key] = pencil_drawings(files, sigma, tone)
        for name, (d, truth) in sets.items():
            out["drawings"].setdefault(key, {})[name] = _hits(
                _ranks(distances(d.raw, banks[key]), truth))
        log.info("%s: %s", key, out["drawings"][key])
    # The weight: CUFS train sketches through the generator that never saw CUFS.
    use_engine("torch", "fp32")  # as its lab-record figures were made
    loaded = load_generator(PROTOCOL)
    adapter = adapter_of(loaded)
    mpath = resolve_manifest("$DATA/cufs_cuhk/manifest.csv")
    rows = [r for r in read_manifest(mpath, "train") if r.sketch is not None]
    found = identification_queries(loaded, rows, "cufs_cuhk_train", workers, adapter)
    index = {f: i for i, f in reversed(list(enumerate(files)))}
    truth = [index[Path(r.photo)] for r in rows]
    for suffix, gallery in (("", photos["colour"]), ("_grey", photos["grey"])):
        searched = distances(np.asarray(found["searched" + suffix]), gallery)
        raw = np.asarray(found["raw" + suffix])
        one_way = _hits(_ranks(searched, truth))
        for key, bank in banks.items():
            drawn = distances(raw, bank)
            table = out["weights"].setdefault(key, {})
            table["one way" + suffix] = one_way
            for w in WEIGHTS:
                table[f"{w:g}{suffix}"] = _hits(_ranks(searched + np.float32(w) * drawn, truth))
    out["adapter_sha256"] = adapter.sha256 if adapter is not None else ""
    return out


def format_tables(res: dict[str, Any]) -> str:
    def pct(h: list[float]) -> str:
        return " / ".join(f"{100 * x:.1f}" for x in h)

    lines = [f"Raw train sketches against the train bank's drawings ({res['bank']:,} faces), "
             "rank 1 / 10 / 50 %:", "", "| drawing | CUFS train (88) | FS2K train (1,058) |",
             "|---|---|---|"]
    for key, by_set in res["drawings"].items():
        lines.append(f"| {key} | {pct(by_set['cufs_train'])} | {pct(by_set['fs2k_train'])} |")
    lines += ["", "CUFS train sketches searched two ways through the generator that never saw "
              "CUFS (its adapter on), rank 1 / 10 / 50 %:", "",
              "| drawing | weight | colour | grey |", "|---|---|---|---|"]
    for key, table in res["weights"].items():
        for w in ("one way", *(f"{w:g}" for w in WEIGHTS)):
            lines.append(f"| {key} | {w} | {pct(table[w])} | {pct(table[w + '_grey'])} |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    res = choose(args.workers)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(format_tables(res))
    return 0
