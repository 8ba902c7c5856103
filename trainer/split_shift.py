"""`python -m trainer split-shift`: is a set's test split harder than its train split,
group by group, or only mixed otherwise?

Rates read off train searches are told to test searches by group ("sketches like
this"). When they miss, either the test sketches are harder than train sketches of the
same group, or the test split holds the groups in another mix than the train split and
the grouping the app uses cannot tell them apart. This reads both splits the same way:
each sketch searches its own split's photos and the same LFW train photos (no test photo
of another set, no synthetic face), group by group (`evaluate.group_of`: CUFS by sex,
FS2K by drawing style), and states the train split's rates reweighted to the test
split's mix of groups. The raw sketch's descriptor is no network's work, so its rates
are the split's own; the model's kinds are shown beside it, read off its packs (the
train sketches are ones its generator and adapter trained on).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RANKS = (1, 10, 50)
# each set's query sets by split, named as `adapter describe` names their packs
SETS = {"fs2k": {"train": "fs2k_train", "test": "fs2k_test"},
        "cufs": {"train": "cufs_train", "test": "cufs_cuhk_test"}}


def mate_ranks(queries: np.ndarray, photos: np.ndarray, mate: np.ndarray,
               distractors: np.ndarray) -> np.ndarray:
    """(Q,) how many faces lie nearer each query than its own photo (`mate`: its row in
    `photos`): the split's other photos and every distractor. 0 is rank 1."""
    from sketchlab.core.drawn import row_distances, search_distances

    d_mate = row_distances(queries, photos[mate])
    out = np.zeros(len(queries), np.int64)
    for i, q in enumerate(queries):
        d = search_distances(q, photos)
        d[mate[i]] = np.inf  # its own photo, however the two distances round
        out[i] = int((d < d_mate[i]).sum() + (search_distances(q, distractors) < d_mate[i]).sum())
    return out


def by_group(ranks: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Each group's searches: how many, and the share with the mate in the top 1/10/50."""
    out = {}
    for g in sorted(set(groups.tolist())):
        r = ranks[groups == g]
        out[g] = {"n": len(r), **{f"top{k}": float((r < k).mean()) for k in RANKS}}
    return out


def reweighted(train: dict[str, dict[str, float]], test: dict[str, dict[str, float]]
               ) -> dict[str, float]:
    """The train split's top-k rates, each group weighted by its share of the test split
    (groups the train split lacks are left out, and said so by `missing`)."""
    shared = [g for g in test if g in train]
    n = sum(test[g]["n"] for g in shared)
    out: dict[str, Any] = {f"top{k}": sum(train[g][f"top{k}"] * test[g]["n"] for g in shared)
                           / n for k in RANKS}
    out["missing"] = sorted(set(test) - set(train))
    return out


def overall(groups: dict[str, dict[str, float]]) -> dict[str, float]:
    n = sum(g["n"] for g in groups.values())
    return {"n": n, **{f"top{k}": sum(g[f"top{k}"] * g["n"] for g in groups.values()) / n
                       for k in RANKS}}


def split_queries(loaded: Any, manifest: str, name: str, split: str, workers: int
                  ) -> tuple[dict[str, dict[str, np.ndarray]], list[Any]]:
    """({"colour"|"grey": {kind: (N, 128)}}, manifest rows) of one split's sketches, read
    off the model's descriptor pack (`adapter describe`; described first when missing)."""
    from sketchlab.core.manifest import read_manifest
    from sketchlab.core.query import fuse
    from trainer.adapter import describe, model_raw_weight
    from trainer.descriptors import load_pack, paired_set
    from trainer.evaluate import adapter_of

    spec = paired_set(name, manifest, split)
    root = describe(str(loaded.path), [spec], workers)
    d = load_pack(root / f"{name}.npz", loaded.sha256)[0][name]
    rows = [r for r in read_manifest(manifest, split) if r.sketch is not None]
    if len(d.raw) != len(rows):
        raise ValueError(f"{root / name}.npz does not list {name}'s sketches as its "
                         "manifest does")
    w = model_raw_weight(loaded)
    adapter = adapter_of(loaded)
    out = {}
    for way, var, raw in (("colour", d.variants, d.raw), ("grey", d.variants_grey, d.raw_grey)):
        fused = fuse(var, raw, w)
        kinds = {"raw": raw, "variants": fused}
        if adapter is not None:
            kinds["adapted"] = adapter(fused, var.mean(axis=1), raw)
        out[way] = kinds
    return out, rows


def group_label(row: Any, by_source: bool = False) -> str:
    """`evaluate.group_of`, and with `by_source` the folder of the row's photo too (FS2K's
    photos come from three sources, which its split pairs with the styles otherwise)."""
    from trainer.evaluate import group_of

    return group_of(row) + (f", {Path(row.photo).parent.name}" if by_source else "")


def measure(model: str | None, set_name: str, workers: int = 2, by_source: bool = False
            ) -> dict[str, Any]:
    """Each kind's rates, colour and grey, group by group, train and test, and the train
    split's reweighted to the test split's mix: see the module's docstring."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.adapter import PAIRED_TRAIN, embed_gallery_photos, lfw_train_photos
    from trainer.evaluate import model_path

    names = SETS[set_name]
    manifest = PAIRED_TRAIN[names["train"]]
    loaded = load_generator(model_path(model))
    files, _ = lfw_train_photos()
    lfw = embed_gallery_photos(files, workers)
    out: dict[str, Any] = {"model": loaded.path.name, "model_sha256": loaded.sha256,
                           "set": set_name, "distractors": len(files), "kinds": {}}
    read = {}
    for split in ("train", "test"):
        queries, rows = split_queries(loaded, manifest, names[split], split, workers)
        photo_files = sorted({str(r.photo) for r in rows})
        photos = embed_gallery_photos([Path(f) for f in photo_files], workers)
        mate = np.array([photo_files.index(str(r.photo)) for r in rows])
        groups = np.array([group_label(r, by_source) for r in rows])
        read[split] = (queries, photos, mate, groups)
        out[f"{split}_photos"] = len(photo_files)
    for way in ("colour", "grey"):
        for kind in read["train"][0][way]:
            table = {split: by_group(mate_ranks(q[way][kind], photos[way], mate, lfw[way]),
                                     groups)
                     for split, (q, photos, mate, groups) in read.items()}
            out["kinds"][f"{kind}, {way}"] = {
                **table, "train_overall": overall(table["train"]),
                "test_overall": overall(table["test"]),
                "train_at_test_mix": reweighted(table["train"], table["test"])}
    return out


def format_report(r: dict[str, Any]) -> str:
    """The report as Markdown: one table a kind, a row a group, then the overall rows."""
    lines = [f"{r['set']}: each sketch searches its split's photos (train {r['train_photos']:,}"
             f", test {r['test_photos']:,}) and {r['distractors']:,} LFW train photos; "
             f"model {r['model']} ({r['model_sha256'][:12]})", ""]
    for kind, t in r["kinds"].items():
        lines += [f"### {kind}", "",
                  "| group | train n | train top 1 / 10 / 50 | test n | test top 1 / 10 / 50 |",
                  "|---|---|---|---|---|"]

        def rates(x: dict[str, float] | None) -> str:
            return "-" if x is None else " / ".join(f"{100 * x[f'top{k}']:.1f}" for k in RANKS)

        for g in sorted(set(t["train"]) | set(t["test"])):
            a, b = t["train"].get(g), t["test"].get(g)
            lines.append(f"| {g} | {a['n'] if a else 0} | {rates(a)} | {b['n'] if b else 0} | "
                         f"{rates(b)} |")
        lines.append(f"| all | {t['train_overall']['n']} | {rates(t['train_overall'])} | "
                     f"{t['test_overall']['n']} | {rates(t['test_overall'])} |")
        mix = t["train_at_test_mix"]
        lines.append(f"| train at the test split's mix | | {rates(mix)} | | "
                     f"{rates(t['test_overall'])} |")
        if mix["missing"]:
            lines.append(f"\n(groups with no train sketch: {', '.join(mix['missing'])})")
        lines.append("")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    report = measure(args.model, args.set, args.workers, args.by_source)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_report(report))
    return 0
