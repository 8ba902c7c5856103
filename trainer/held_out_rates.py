"""`search-rates --present-from MODEL`: a model's present-person rates read from sketches
its generator never trained on, by artists it knows.

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
the bundled drawer drew those very train pairs.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core import search_rates as sr
from sketchlab.core.drawn import TWO_WAY, pair

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
                 drawer: str) -> dict[str, str]:
    """What draws the fold's two-way gallery ({} for the pencil filter). The stored tables
    name the drawing they were read on: a network there needs a drawer of its kind here,
    one whose run held out every fold the generator's did (`trainer.data.folds`)."""
    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.drawn import PENCIL
    from trainer.data.folds import held_out_of, same_fold

    stored = extra.get("two_way", {}).get("drawn_model", PENCIL.model)
    if not drawer:
        if stored != PENCIL.model:
            raise ValueError("the stored two-way tables were read on a drawing network's "
                             "drawings: pass --drawer, a drawer whose run held out the same "
                             "people (trainer/configs/drawing-held-out-fold0.toml)")
        return {}
    d = load_generator(drawer)
    drew = held_out_of(d.metadata)
    unheld = [h for h in generator_held if not any(same_fold(h, x) for x in drew)]
    if unheld:
        raise ValueError(f"{Path(drawer).name} drew people the generator held out "
                         f"({unheld}): its run must hold out the same folds")
    return {"drawer": Path(drawer).name, "drawer_sha256": d.sha256}


def present_from(loaded: Any, kinds: dict[str, sr.SearchCalibration], extra: dict[str, Any],
                 fold_model: Path, two_way: bool, workers: int = 2, drawer: str = "",
                 groups_by: str = "spread"
                 ) -> tuple[dict[str, sr.SearchCalibration], dict[str, Any], dict[str, Any]]:
    """(tables, extra, what read them): a loaded model's stored
    tables `kinds` (read with `extra`, `search_rates.stored_tables`) with their
    present-person rates re-read from `fold_model`'s held-out sketches, cut into
    sketches like this by `groups_by` (`search_rates.GROUPINGS`). `drawer`: the network
    that draws the two-way gallery ("" the pencil filter), one that never drew them."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.adapter import (
        describe,
        load_train_data,
        model_ink_gamma,
        model_raw_weight,
        train_sets,
    )
    from trainer.data.folds import held_out_of
    from trainer.evaluate import adapter_of
    from trainer.search_rates import measure, synthetic_pool

    model = loaded.path
    reader = load_generator(fold_model)
    sets = fold_sets(reader.metadata)
    gamma = model_ink_gamma(model)
    root = describe(str(fold_model), sets, workers, ink_gamma=gamma)
    w = model_raw_weight(loaded)
    two_way = two_way and any(k.endswith(TWO_WAY) for k in kinds)
    drew = check_drawer(extra, held_out_of(reader.metadata), drawer) if two_way else {}
    # the bank the stored tables were read against (every train set's photos + LFW
    # train): a search's rates depend on how many faces of its own group it meets
    data = load_train_data(root, [s.name for s in sets], w, workers, drawn=two_way,
                           drawer=drawer if two_way else "", bank_sets=train_sets())
    queries = {"variants": data.fused, "raw": data.raw}
    adapter = adapter_of(reader)
    if adapter is not None and adapter.info.get("held_out_queries") and \
            float(adapter.info.get("raw_weight", -1)) == w:
        queries["adapted"] = adapter(data.fused, data.mean, data.raw)
    else:
        log.warning("%s carries no query adapter fitted without its held-out people on "
                    "readings fused as this model fuses them (raw-sketch share %g; `adapter "
                    "fit --write` on it fits one): the adapted tables keep their stored "
                    "present-person rates", fold_model.name, w)
    rank = next(iter(kinds.values())).reference_rank
    names = tuple(s.name for s in sets)
    synthetic = synthetic_pool(data)
    words = (f"of {', '.join(names)}: sketches the generator never trained on, read "
             f"through {fold_model.name}, a generator of this recipe whose run held their "
             f"people out" + (f" (the gallery drawn by {drew['drawer']}, which never drew "
                              f"them)" if drew else ""))
    fresh = measure(data, queries, synthetic, None, names, rank, None, groups_by=groups_by)
    if two_way:
        fresh.update(measure(data, {k + TWO_WAY: pair(q, data.raw) for k, q in queries.items()},
                             synthetic_pool(data, two_way=True), None, names, rank, None,
                             bank=pair(data.bank, data.drawn), groups_by=groups_by))
    read_by = {"model": fold_model.name, "model_sha256": reader.sha256,
               "adapter_sha256": adapter.sha256 if "adapted" in queries else "",
               **drew, "two_way": two_way, "groups": groups_by,
               "sets": {s.name: len(s.specs) for s in sets},
               "kinds": sorted(k for k in fresh if k in kinds)}
    return reread(kinds, fresh, words), {**extra, "present_from": read_by}, read_by
