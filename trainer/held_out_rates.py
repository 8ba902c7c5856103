"""`search-rates --present-from MODEL [MODEL ...]`: a model's present-person rates read
from sketches its generator never trained on, by artists it knows.

The stored tables read how often a present person is marked (and how far down the list
they are) off train searches, and the generator trained on those very sketches: their
people stand out more than a new sketch's (FS2K train top 10 at 13k faces 57 %, test
49 %). A generator of the same recipe that held one identity fold out of its run
(`trainer.data.folds`, e.g. `trainer/configs/held-out-fs2k-fold0.toml`) reads that fold's
sketches as the shipped model reads a new sketch by a known artist. This re-reads the
present-person half of every stored table it can from those searches; the absent-person
half (FPIR, and so the threshold) and its searches are kept as stored. A two-way search
also compares the sketch with each gallery face's drawing, so the gallery is drawn by a
drawer whose run held the same people out (`trainer/configs/drawing-held-out-fold0.toml`):
the bundled drawer drew those very train pairs. With one generator (and drawer) per fold
(`held-out-fold0/1/2.toml`), every train person is read once, each by the networks that
never saw them, and all the folds' searches are measured as one set
(`search_rates.measure_pooled`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core import search_rates as sr
from sketchlab.core.drawn import TWO_WAY, pair
from trainer import search_rates as sr_train

log = logging.getLogger(__name__)

PRESENT_FIELDS = ("tpir", "hit_rates", "spread_edges", "tpir_by_spread", "hits_by_spread",
                  "hand_centroids", "hand_names")


def fold_sets(metadata: dict[str, str]) -> list[Any]:
    """The query sets of a model's held-out people: each hand-drawn train set the run held
    a fold out of, cut to that fold (named `<set>_fold<k>of<n>`)."""
    from trainer.adapter import PAIRED_TRAIN
    from trainer.data.folds import fold_set_name, held_out_of, is_held_out
    from trainer.descriptors import QuerySet, paired_set

    out = []
    for h in held_out_of(metadata):
        for name, manifest in PAIRED_TRAIN.items():
            full = paired_set(name, manifest, "train")
            keep = [i for i, who in enumerate(full.identities)
                    if is_held_out(manifest, "train", who, [h])]
            if keep:
                out.append(QuerySet(fold_set_name(name, h["fold"], h["folds"]),
                                    [full.specs[i] for i in keep],
                                    [full.targets[i] for i in keep],
                                    [full.identities[i] for i in keep]))
    if not out:
        raise ValueError("the model's run held no train people out: train one with a "
                         "source's `folds` and `held_out_fold` (trainer/configs/"
                         "held-out-fs2k-fold0.toml)")
    return out


def reread(kinds: dict[str, sr.SearchCalibration], fresh: dict[str, sr.SearchCalibration],
           words: str) -> dict[str, sr.SearchCalibration]:
    """`kinds` with the present-person half of each kind `fresh` holds taken from it; the
    absent-person half, thresholds and sizes stay. The two must be read the same way."""
    out = dict(kinds)
    for kind, new in fresh.items():
        old = kinds.get(kind)
        if old is None:
            continue
        if (old.reference_rank != new.reference_rank
                or not np.array_equal(old.thresholds, new.thresholds)
                or not np.array_equal(old.sizes, new.sizes)):
            raise ValueError(f"{kind}: the stored tables are read another way than these")
        out[kind] = dataclasses.replace(
            old, **{f: getattr(new, f) for f in PRESENT_FIELDS}, n_mated=new.n_mated,
            source=f"{old.source}; present-person rates from {new.n_mated:,} searches {words}")
    return out


def check_drawer(extra: dict[str, Any], generator_held: list[dict[str, object]],
                 drawers: Sequence[str]) -> tuple[str, dict[str, str]]:
    """(the drawer's file, what it is) that draws a fold's two-way gallery ("", {} for the
    pencil filter). The stored tables name the drawing they were read on: a network there
    needs a drawer of its kind here, one of `drawers` whose run held out every fold the
    generator's did (`trainer.data.folds`)."""
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.drawn import PENCIL
    from trainer.data.folds import held_out_of, same_fold

    if not drawers:
        if sr_train.stored_drawing(extra) != PENCIL.model:
            raise ValueError("the stored two-way tables were read on a drawing network's "
                             "drawings: pass --drawer, a drawer whose run held out the same "
                             "people (trainer/configs/drawing-held-out-fold0.toml)")
        return "", {}
    for drawer in drawers:
        d = load_generator(drawer)
        drew = held_out_of(d.metadata)
        if all(any(same_fold(h, x) for x in drew) for h in generator_held):
            return drawer, {"drawer": Path(drawer).name, "drawer_sha256": d.sha256}
    raise ValueError(f"none of the drawers ({', '.join(Path(x).name for x in drawers)}) held "
                     f"out every fold the generator did ({generator_held}): each fold's "
                     "gallery needs a drawer that never drew its people")


@dataclass
class Fold:
    """One held-out fold's train searches, read as the shipped model reads a new sketch
    by a known artist: through the fold's generator (and its adapter), against a gallery
    drawn by the fold's drawer."""

    blocks: list[sr_train.Searches]
    made_by: dict[str, Any]


def read_fold(loaded: Any, extra: dict[str, Any], reader: Any, kinds: set[str],
              two_way: bool, drawers: Sequence[str], workers: int) -> Fold:
    """The searches of the people the fold generator `reader` (loaded) held out of its
    run, one block a way, as query kinds `kinds` ("variants", "raw", "adapted": the last
    only from a model whose adapter was fitted without them; a warning otherwise)."""
    from trainer.adapter import (
        describe,
        load_train_data,
        model_ink_gamma,
        model_raw_weight,
        train_sets,
    )
    from trainer.data.folds import held_out_of
    from trainer.evaluate import adapter_of

    fold_model = reader.path
    sets = fold_sets(reader.metadata)
    root = describe(str(fold_model), sets, workers, ink_gamma=model_ink_gamma(loaded.path))
    w = model_raw_weight(loaded)
    drawer, drew = check_drawer(extra, held_out_of(reader.metadata), drawers) if two_way \
        else ("", {})
    # the bank the stored tables were read against (every train set's photos + LFW
    # train): a search's rates depend on how many faces of its own group it meets
    data = load_train_data(root, [s.name for s in sets], w, workers, drawn=two_way,
                           drawer=drawer, bank_sets=train_sets())
    queries = {"variants": data.fused, "raw": data.raw}
    adapter = adapter_of(reader)
    if "adapted" in kinds and adapter is not None and adapter.info.get("held_out_queries") \
            and float(adapter.info.get("raw_weight", -1)) == w:
        queries["adapted"] = adapter(data.fused, data.mean, data.raw)
    elif "adapted" in kinds:
        log.warning("%s carries no query adapter fitted without its held-out people on "
                    "readings fused as this model fuses them (raw-sketch share %g; `adapter "
                    "fit --write` on it fits one): the adapted tables keep their stored "
                    "present-person rates", fold_model.name, w)
    queries = {k: q for k, q in queries.items() if k in kinds}
    blocks = [sr_train.Searches(data, queries, sr_train.synthetic_pool(data))]
    if two_way:
        blocks.append(sr_train.Searches(
            data, {k + TWO_WAY: pair(q, data.raw) for k, q in queries.items()},
            sr_train.synthetic_pool(data, two_way=True), bank=pair(data.bank, data.drawn)))
    return Fold(blocks, {"model": fold_model.name, "model_sha256": reader.sha256,
                         "adapter_sha256": adapter.sha256 if "adapted" in queries else "",
                         **drew, "sets": {s.name: len(s.specs) for s in sets}})


def present_from(loaded: Any, kinds: dict[str, sr.SearchCalibration], extra: dict[str, Any],
                 fold_models: Sequence[Path], two_way: bool, workers: int = 2,
                 drawers: Sequence[str] = (), groups_by: str = "spread"
                 ) -> tuple[dict[str, sr.SearchCalibration], dict[str, Any], dict[str, Any]]:
    """(tables, extra, what read them): a loaded model's stored tables `kinds` (read with
    `extra`, `search_rates.stored_tables`) with their present-person rates re-read from
    the sketches each of `fold_models` held out, read through it, all folds' searches
    measured as one set and cut into sketches like this by `groups_by`
    (`search_rates.GROUPINGS`). `drawers`: the networks that draw each fold's two-way
    gallery (none: the pencil filter), one that never drew its people."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.data.folds import held_out_of, same_fold

    if not fold_models:
        raise ValueError("no held-out-fold generator to read the present-person rates with")
    readers = [load_generator(m) for m in fold_models]
    helds = [held_out_of(r.metadata) for r in readers]
    for i, a in enumerate(helds):
        for b in helds[:i]:
            if any(same_fold(x, y) for x in a for y in b):
                raise ValueError("two of the generators held out the same people: each "
                                 "person's searches would be read twice")
    two_way = two_way and any(k.endswith(TWO_WAY) for k in kinds)
    wanted = {k.removesuffix(TWO_WAY) for k in kinds} & {"variants", "raw", "adapted"}
    folds = [read_fold(loaded, extra, r, wanted, two_way, drawers, workers) for r in readers]
    common = set.intersection(*(set(f.blocks[0].queries) for f in folds))
    if any(set(f.blocks[0].queries) != common for f in folds):
        log.warning("the adapted tables keep their stored present-person rates: not every "
                    "fold's generator carries an adapter fitted without its people")
        for f in folds:
            for b in f.blocks:
                b.queries = {k: q for k, q in b.queries.items()
                             if k.removesuffix(TWO_WAY) in common}
    rank = next(iter(kinds.values())).reference_rank
    names = tuple(n for f in folds for n in f.made_by["sets"])
    models = sr_train.listed(f.made_by["model"] for f in folds)
    drawn = sr_train.listed(f.made_by["drawer"] for f in folds if "drawer" in f.made_by) \
        if two_way and drawers else ""
    many = len(folds) > 1
    words = (f"of {', '.join(names)}: sketches the generator{'s' * many} never trained on, "
             f"each read through {models}, {'generators' if many else 'a generator'} of "
             f"this recipe whose run{'s' * many} held their people out"
             + (f" (the gallery drawn by {drawn}, which never drew them)" if drawn else "")
             + (sr_train.SET_BOUND_WORDS if groups_by == "set" else ""))
    fresh: dict[str, sr.SearchCalibration] = {}
    for way in range(1 + two_way):
        fresh.update(sr_train.measure_pooled([f.blocks[way] for f in folds], names, rank,
                                             None, groups_by=groups_by))
    read_by = {"folds": [f.made_by for f in folds], "two_way": two_way, "groups": groups_by,
               "kinds": sorted(k for k in fresh if k in kinds)}
    return reread(kinds, fresh, words), {**extra, "present_from": read_by}, read_by


def main(args: argparse.Namespace) -> int:
    """`search-rates --present-from MODEL [MODEL ...]`: the stored tables, their
    present-person half re-read from the sketches each MODEL's run held out."""
    from sketchlab.core.checkpoint import load_generator, update_metadata
    from trainer.evaluate import model_path

    clash = [o for o, on in (("--unseen-artist", args.unseen_artist), ("--by-set", args.by_set),
                             ("--query-sets", args.query_sets), ("--absent-sets", args.absent_sets),
                             ("--stored", args.stored)) if on]
    if clash:
        raise ValueError(f"--present-from re-reads the stored tables: drop {', '.join(clash)}")
    fold_drawers = sr_train.drawer_args(args)
    loaded = load_generator(model_path(args.model))
    stored, extra = sr_train.stored_tables(loaded)
    kinds, extra, read_by = present_from(loaded, stored, extra,
                                         [model_path(m) for m in args.present_from],
                                         args.two_way, args.workers, drawers=fold_drawers,
                                         groups_by=args.groups)
    if args.write:
        update_metadata(loaded.path, {sr.METADATA_KEY: sr.dumps(kinds, extra)})
    report: dict[str, Any] = {"present_from": read_by, "hits": {
        k: {n: kinds[k].hits(n) for n in sr_train.TEST_SIZES} for k in read_by["kinds"]}}
    if args.test:  # the same test searches against the tables before and after, the test
        # galleries drawn as the app draws them (not by the fold's drawer)
        reread = {k.removesuffix(TWO_WAY) for k in read_by["kinds"]} - {"raw"}
        drawer = sr_train.stored_drawer(extra)
        pools = sr_train.test_pools(bool(read_by["two_way"]), drawer, args.workers)
        report["test_stored"] = sr_train.test_check(
            loaded, stored, pools, args.workers, drawer=drawer,
            query_kinds=sorted(reread | ({"adapted"} & set(stored))), by_group=args.by_group)
        report["test"] = sr_train.test_check(loaded, kinds, pools, args.workers, drawer=drawer,
                                             query_kinds=sorted(reread), by_group=args.by_group)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("test")}, indent=2))
    if args.test:
        print("Stored tables:\n" + sr_train.format_check(report["test_stored"]))
        print("\nPresent-person rates re-read:\n" + sr_train.format_check(report["test"]))
        sr_train.print_by_group(args, report["test"])
    return 0
