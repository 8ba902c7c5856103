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
3. The redrawn photo's share (`--redrawn-share`, alone). The same CUFS train sketches,
   the train bank drawn by the protocol drawer that never saw CUFS either, and the
   sketch's side of the drawn direction mixed with its searched photos redrawn by that
   drawer (`core.drawn.drawn_query`), for each share.

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
SHARES = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)  # of the redrawn photo (0: the app's search)
# the protocol generator and drawer that never saw CUFS (`trainer.search_rates`)
PROTOCOL = search_rates.PROTOCOL / search_rates.PROTOCOL_GENERATORS["cufs_train"]
PROTOCOL_DRAWER = search_rates.PROTOCOL / search_rates.PROTOCOL_DRAWERS["cufs_train"]
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
    from sketchlab.core.matching import distances
    from trainer.adapter import embed_gallery_photos

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
    rows, found, adapter_sha256 = _cufs_train(workers)
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
    out["adapter_sha256"] = adapter_sha256
    return out


def _cufs_train(workers: int, redraw_with: str = "") -> tuple[list[Any], dict[str, Any], str]:
    """CUFS's train sketch rows, their app-path queries through the protocol generator
    (fp32 PyTorch, as its lab-record figures were made) and its own adapter's hash."""
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.manifest import read_manifest, resolve_manifest
    from trainer.evaluate import adapter_of, identification_queries, use_engine

    use_engine("torch", "fp32")
    loaded = load_generator(PROTOCOL)
    rows = [r for r in read_manifest(resolve_manifest("$DATA/cufs_cuhk/manifest.csv"), "train")
            if r.sketch is not None]
    adapter = adapter_of(loaded)
    found = identification_queries(loaded, rows, "cufs_cuhk_train", workers, adapter,
                                   redraw_with=redraw_with)
    return rows, found, adapter.sha256 if adapter is not None else ""


def choose_share(workers: int = 2) -> dict[str, Any]:
    """Step 3: rank 1 / 10 / 50 of CUFS train sketches searched two ways against the train
    bank (CUFS's and FS2K's train photos and LFW train, drawn by the protocol drawer), for
    each share of the redrawn photo in the drawn direction."""
    from sketchlab.core.drawn import WEIGHT, drawn_query
    from sketchlab.core.manifest import read_manifest, resolve_manifest
    from sketchlab.core.matching import distances
    from trainer.adapter import embed_gallery_photos, lfw_train_photos

    files = [r.photo for m in ("cufs_cuhk", "fs2k")
             for r in read_manifest(resolve_manifest(f"$DATA/{m}/manifest.csv"), "train")
             if r.sketch is not None] + list(lfw_train_photos()[0])
    bank = embed_gallery_photos(files, workers, drawn=True, drawer=str(PROTOCOL_DRAWER))
    rows, found, adapter_sha256 = _cufs_train(workers, str(PROTOCOL_DRAWER))
    index = {Path(f): i for i, f in reversed(list(enumerate(files)))}
    truth = [index[Path(r.photo)] for r in rows]
    out: dict[str, Any] = {"bank": len(files), "drawer": str(PROTOCOL_DRAWER),
                           "adapter_sha256": adapter_sha256, "shares": {}}
    for suffix, gallery in (("", bank["colour"]), ("_grey", bank["grey"])):
        searched = distances(np.asarray(found["searched" + suffix]), gallery)
        for share in SHARES:
            side = drawn_query(found["raw" + suffix], found["redrawn"], share)
            d = searched + np.float32(WEIGHT) * distances(side, bank["drawn"])
            out["shares"].setdefault(f"{share:g}", {})["colour" if not suffix else "grey"] = \
                _hits(_ranks(d, truth))
    return out


def format_shares(res: dict[str, Any]) -> str:
    lines = [f"CUFS train sketches (88) searched two ways through the generator and drawer "
             f"that never saw CUFS, the train bank ({res['bank']:,} faces) drawn by that "
             "drawer; the drawn direction's sketch side mixed with its searched photos "
             "redrawn, rank 1 / 10 / 50 %:", "", "| redrawn share | colour | grey |",
             "|---|---|---|"]
    for share, r in res["shares"].items():
        lines.append(f"| {share} | " + " | ".join(" / ".join(f"{100 * x:.1f}" for x in r[c])
                                                  for c in ("colour", "grey")) + " |")
    return "\n".join(lines)


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
    res = choose_share(args.workers) if args.redrawn_share else choose(args.workers)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(format_shares(res) if args.redrawn_share else format_tables(res))
    return 0
