"""`python -m trainer adapter`: train the query adapter (`sketchlab.core.adapter`).

describe: the app-path descriptors of the train query sets (and the test sets, for
evaluation) in packs under `runs/descriptors/MODEL12/` (`trainer.descriptors`).
fit: metric learning on the train packs only; the test packs are never read.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sketchlab.core.adapter import QueryAdapter
from trainer.descriptors import QueryDescriptors, QuerySet, paired_set, synthetic_set

log = logging.getLogger(__name__)

CUFS, FS2K = "$DATA/cufs_cuhk/manifest.csv", "$DATA/fs2k/manifest.csv"
LFW, CELEBA = "$DATA/lfw/manifest.csv", "$DATA/celeba_color/manifest.csv"


def train_sets() -> list[QuerySet]:
    """Hand-drawn train pairs, and synthetic sketches of people with two or more photos
    (LFW train people, CelebA align/ train people): each must find another photo."""
    return [paired_set("cufs_train", CUFS, "train"), paired_set("fs2k_train", FS2K, "train"),
            synthetic_set("lfw_synth", LFW, "train", 700, seed=1),
            synthetic_set("celeba_synth", CELEBA, "train", 200, seed=2, subset="align",
                          per_person=2)]


def test_sets() -> list[QuerySet]:
    # Named as `trainer evaluate` names a manifest folder's split, so it reuses the packs.
    return [paired_set("cufs_cuhk_test", CUFS, "test"), paired_set("fs2k_test", FS2K, "test")]


def protocol_sets(leave_out: Sequence[str] = ()) -> list[QuerySet]:
    """What `describe` computes: every train and test set, or for the leave-one-dataset-out
    protocol only the train sets kept (the left-out set's test sketches are scored by
    `trainer evaluate --adapter`, which describes them itself)."""
    if not leave_out:
        return train_sets() + test_sets()
    return [s for s in train_sets() if not any(s.name.startswith(x) for x in leave_out)]


def pack_dir(model_sha256: str, root: Path = Path("runs/descriptors"),
             ink_gamma: float = 1.0) -> Path:
    """Where a model's descriptor packs live: one folder per weights and shading reading
    (`core.variants.lighten_shading`), so packs read two ways never mix."""
    return root / (model_sha256[:12] + ("" if ink_gamma == 1.0 else f"-ink{ink_gamma:g}"))


def model_ink_gamma(path: str | Path, override: float | None = None) -> float:
    """The shading reading a model searches with (its calibration's `ink_gamma`), unless
    a measurement asks for another."""
    from sketchlab.core.model_catalog import read_calibration
    from sketchlab.core.variants import INK_GAMMA_FIELD, ink_gamma_of

    return ink_gamma_of({INK_GAMMA_FIELD: override} if override
                        else read_calibration(path)[1])


# The raw sketch's share the default recipe's model is searched with (its calibration's,
# chosen by `trainer calibrate`'s sweep): a model with no calibration of its own, such as
# a protocol generator standing in for that model, is read as that model is searched.
RECIPE_RAW_WEIGHT = 0.2


def model_raw_weight(loaded: Any) -> float:
    """The raw sketch's share a loaded model is searched, measured and fitted with: its
    calibration's; without one, the share its query adapter was fitted at (an adapter
    moves the descriptor it was fitted on), else the recipe's."""
    from sketchlab.core.model_catalog import read_calibration
    from sketchlab.core.query import RAW_WEIGHT_FIELD, raw_weight_of
    from trainer.evaluate import adapter_of

    fields = read_calibration(loaded.path)[1]
    if RAW_WEIGHT_FIELD in fields:
        return raw_weight_of(fields)
    adapter = adapter_of(loaded)
    fitted = {} if adapter is None else adapter.info
    return raw_weight_of({RAW_WEIGHT_FIELD: fitted.get(RAW_WEIGHT_FIELD, RECIPE_RAW_WEIGHT)})


def describe(model: str | None, sets: list[QuerySet], workers: int = 2,
             root: Path = Path("runs/descriptors"), ink_gamma: float | None = None) -> Path:
    """Compute each set's pack unless it is there already (a set is the unit of resume),
    read with the model's shading reading or `ink_gamma`. A held-out fold of a set
    (`cufs_train_fold0of3`) is cut from its set's pack when that one is there."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.data.folds import base_set
    from trainer.descriptors import describe_queries, pack_is_current, save_pack
    from trainer.evaluate import model_path

    path = model_path(model)
    sha = load_generator(path).sha256
    gamma = model_ink_gamma(path, ink_gamma)
    out = pack_dir(sha, root, gamma)
    for s in sets:
        target = out / f"{s.name}.npz"
        if target.is_file():
            if pack_is_current(target):
                log.info("%s: already described", target)
                continue
            log.info("%s: made by an older query path; describing again", target)
        specs = [q.key for q in s.specs]
        d = _cut_from_whole_set(out / f"{base_set(s.name)}.npz", specs)
        if d is None:
            log.info("describing %s: %d queries", s.name, len(s.specs))
            d = describe_queries(path, s.specs, workers=workers, desc=s.name, ink_gamma=gamma)
        save_pack(target, sha, {s.name: d}, {
            "targets": np.array([str(t) for t in s.targets]),
            "identities": np.array(s.identities), "specs": np.array(specs)})
    return out


def _cut_from_whole_set(whole: Path, specs: list[str]) -> QueryDescriptors | None:
    """These queries' descriptors from the pack of the set they are a part of, when it is
    there, current and holds every one of them (else None: describe them)."""
    from trainer.descriptors import load_pack, pack_is_current

    if not whole.is_file() or not pack_is_current(whole):
        return None
    parts, extra = load_pack(whole)
    (d,) = parts.values()
    at = {str(k): i for i, k in enumerate(extra["specs"])}
    if not all(k in at for k in specs):
        return None
    rows = [at[k] for k in specs]
    log.info("%s: %d queries cut from %s", whole.stem, len(rows), whole.name)
    return QueryDescriptors(d.variants[rows], d.raw[rows], d.variants_grey[rows],
                            d.raw_grey[rows], [d.methods[i] for i in rows])


def embed_gallery_photos(files: list[Path], workers: int = 2, drawn: bool = False,
                         drawer: str = "") -> dict[str, np.ndarray]:
    """Colour and grey descriptors of photo files (shared EmbeddingCache, as evaluate), and
    with `drawn` those of each face drawn as a sketch (`core.drawn`): by the pencil
    filter, or by `drawer` (a photo-to-sketch model file)."""
    from trainer.evaluate import embed_photo_files, embedding_cache

    cache = embedding_cache()
    try:
        out = {"colour": np.stack(embed_photo_files(files, cache, workers)),
               "grey": np.stack(embed_photo_files(files, cache, workers, "embedding (grey)",
                                                  grey=True))}
    finally:
        cache.close()
    if drawn:
        out["drawn"] = embed_drawn(files, workers, drawer)
    return out


def embed_drawn(files: list[Path], workers: int = 2, drawer: str = "") -> np.ndarray:
    """(N, 128) descriptors of photo files' faces drawn as sketches (`core.drawn`), by the
    pencil filter or by `drawer` (a photo-to-sketch model file); shared EmbeddingCache."""
    from trainer.evaluate import embed_photo_files, embedding_cache

    cache = embedding_cache()
    try:
        return np.stack(embed_photo_files(files, cache, workers, "embedding (drawn)",
                                          drawn=True, drawer=drawer))
    finally:
        cache.close()


# --- fitting --------------------------------------------------------------------------------
def _key(set_name: str, identity: str) -> str:
    return f"{set_name.split('_')[0]}/{identity}"


@dataclass
class TrainData:
    """Train queries (colour and grey, stacked) with their target rows in a photo bank."""

    mean: np.ndarray  # (N, 128) mean of the variants' descriptors
    raw: np.ndarray  # (N, 128)
    fused: np.ndarray  # (N, 128) what the app searches with today
    target: np.ndarray  # (N,) row of the true photo in the bank
    query_id: np.ndarray  # (N,) identity number
    group: list[str]  # query set of each row
    bank: np.ndarray  # (M, 128) photo descriptors (colour block, then grey block)
    bank_id: np.ndarray  # (M,) identity number
    grey: np.ndarray  # (N,) bool: a grey query (searches the grey block)
    spread: np.ndarray | None = None  # (N,) how closely the variants agree (reading_spread)
    # (N,) the photo a synthetic sketch was drawn from ('' for a sketch file), from the
    # pack's own query list
    sketched: np.ndarray | None = None
    drawn: np.ndarray | None = None  # (M, 128) the bank's faces drawn as sketches (core.drawn)
    files: list[str] | None = None  # (M / 2,) the bank's photo files (each block's rows)
    identity: np.ndarray | None = None  # (N,) each query's person, as its manifest names them


def drawn_bank(data: TrainData, drawer: str, workers: int = 2) -> np.ndarray:
    """(M, 128): `data`'s bank drawn by `drawer` (a photo-to-sketch model file, "" the
    pencil filter), row for row as `TrainData.drawn`."""
    if data.files is None:
        raise ValueError("this TrainData does not list its bank's files")
    d = embed_drawn([Path(f) for f in data.files], workers, drawer)
    return np.concatenate([d, d])


PAIRED_TRAIN = {"cufs_train": CUFS, "fs2k_train": FS2K}  # the hand-drawn train sets' manifests


def held_out_rows(data: TrainData, metadata: dict[str, str]) -> np.ndarray:
    """(N,) bool: the queries of people the model's run held out (`trainer.data.folds`).
    An adapter for such a model is fitted without them, so their sketches stay new to
    both parts, as a new sketch by a known artist is to the shipped model."""
    from trainer.data.folds import held_out_of, is_held_out

    held = held_out_of(metadata)
    out = np.zeros(len(data.target), bool)
    if not held:
        return out
    if data.identity is None:
        raise ValueError("this TrainData does not list its queries' people")
    group = np.asarray(data.group)
    for name, manifest in PAIRED_TRAIN.items():
        for r in np.flatnonzero(group == name):
            out[r] = is_held_out(manifest, "train", str(data.identity[r]), held)
    return out


def lfw_train_photos() -> tuple[list[Path], list[str]]:
    from sketchlab.core.manifest import read_manifest

    rows = read_manifest(LFW, "train")
    return [r.photo for r in rows], [_key("lfw", r.identity) for r in rows]


def load_train_data(pack: Path, names: Sequence[str], raw_weight: float, workers: int = 2,
                    drawn: bool = False, drawer: str = "",
                    bank_sets: Sequence[QuerySet] = ()) -> TrainData:
    """The named train packs, against a bank of their target photos + every LFW train
    photo (the gallery-like faces that supply hard negatives); `drawn`: with the bank's
    faces drawn as sketches too (by `drawer`, a photo-to-sketch model file, if given).
    `bank_sets`: query sets whose target photos join the bank too, so a few packs'
    searches meet as many faces of their own group as the whole train bank holds."""
    from sketchlab.core.query import fuse, reading_spread
    from trainer.descriptors import is_current, load_pack

    files, keys = lfw_train_photos()
    parts = []
    stale = []
    for n in names:
        sets, extra = load_pack(pack / f"{n}.npz")
        if not is_current(extra):
            stale.append(n)
        parts.append((n, sets[n], [Path(t) for t in extra["targets"]],
                      [_key(n, str(i)) for i in extra["identities"]],
                      [_drawn_from(str(q)) for q in extra["specs"]],
                      [str(i) for i in extra["identities"]]))
        files += parts[-1][2]
        keys += parts[-1][3]
    for s in bank_sets:
        files += list(s.targets)
        keys += [_key(s.name, i) for i in s.identities]
    if stale:  # still read: refitting on them reproduces what was fitted before
        log.warning("packs %s in %s were made by an older query path than the app's: "
                    "`python -m trainer adapter describe` remakes them", stale, pack)
    uniq: dict[str, int] = {}
    for f in files:
        uniq.setdefault(str(f), len(uniq))
    ufiles = list(uniq)
    ukeys = [""] * len(ufiles)
    for f, k in zip(files, keys, strict=True):
        ukeys[uniq[str(f)]] = k
    ids: dict[str, int] = {}
    bank_id = np.array([ids.setdefault(k, len(ids)) for k in ukeys])
    photos = embed_gallery_photos([Path(f) for f in ufiles], workers, drawn, drawer)
    m = len(ufiles)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("mean", "raw", "fused", "target",
                                                          "qid", "grey", "spread",
                                                          "sketched", "identity")}
    group: list[str] = []
    for n, d, targets, qkeys, sketched, who in parts:
        t = np.array([uniq[str(f)] for f in targets])
        q = np.array([ids[k] for k in qkeys])
        for grey, (var, raw) in ((False, (d.variants, d.raw)),
                                 (True, (d.variants_grey, d.raw_grey))):
            mean = var.mean(axis=1)
            cols["mean"].append(mean)
            cols["spread"].append(reading_spread(var))
            cols["raw"].append(raw)
            cols["fused"].append(fuse(var, raw, raw_weight))
            cols["target"].append(t + (m if grey else 0))
            cols["qid"].append(q)
            cols["grey"].append(np.full(len(t), grey))
            cols["sketched"].append(np.array(sketched, object))
            cols["identity"].append(np.array(who, object))
            group += [n] * len(t)
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return TrainData(cat["mean"], cat["raw"], cat["fused"], cat["target"], cat["qid"], group,
                     np.concatenate([photos["colour"], photos["grey"]]),
                     np.concatenate([bank_id, bank_id]), cat["grey"], cat["spread"],
                     cat["sketched"],
                     np.concatenate([photos["drawn"]] * 2) if drawn else None, ufiles,
                     cat["identity"])


def _drawn_from(spec: str) -> str:
    """The photo of a pack's query `path|style|seed` when it is a synthetic sketch."""
    path, style, _ = spec.rsplit("|", 2)
    return path if style else ""


@dataclass(frozen=True)
class FitConfig:
    hidden: int = 256
    temperature: float = 0.02  # of squared distances in the softmax over the bank
    epochs: int = 60
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def fit(data: TrainData, cfg: FitConfig, rows: np.ndarray | None = None) -> QueryAdapter:
    """Train on `rows` of `data` (all by default): each query's true photo must be nearer
    than every other person's face in the bank (softmax over squared distances, the
    other photos of the same person masked out)."""
    import torch

    from sketchlab.core.adapter import DIM
    from trainer.negatives import nearer_than_others

    torch.manual_seed(cfg.seed)
    idx = np.arange(len(data.target)) if rows is None else np.asarray(rows)
    x = torch.from_numpy(np.concatenate([data.mean, data.raw], axis=1)[idx])
    base = torch.from_numpy(data.fused[idx])
    target = torch.from_numpy(data.target[idx]).long()
    qid = torch.from_numpy(data.query_id[idx]).long()
    bank = torch.from_numpy(data.bank)
    bank_id = torch.from_numpy(data.bank_id).long()
    bank_sq = (bank * bank).sum(1)
    l0 = torch.nn.Linear(2 * DIM, DIM, bias=False)
    l1 = torch.nn.Linear(2 * DIM, cfg.hidden)
    l2 = torch.nn.Linear(cfg.hidden, DIM)
    for zero in (l0.weight, l2.weight, l2.bias):  # starts as today's descriptor
        torch.nn.init.zeros_(zero)
    params = [*l0.parameters(), *l1.parameters(), *l2.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(idx)
    steps = cfg.epochs * max(1, n // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)
    g = torch.Generator().manual_seed(cfg.seed)
    step = 0
    while step < steps:
        for b in torch.randperm(n, generator=g).split(cfg.batch):
            if step >= steps:
                break
            q = base[b] + l0(x[b]) + l2(torch.relu(l1(x[b])))
            loss = nearer_than_others(q, bank, bank_id, qid[b], target[b], cfg.temperature,
                                      bank_sq)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    with torch.no_grad():
        return QueryAdapter(l0.weight.numpy().copy(), l1.weight.numpy().copy(),
                            l1.bias.numpy().copy(),
                            l2.weight.numpy().copy(), l2.bias.numpy().copy(), "",
                            {"fit": cfg.__dict__, "queries": int(n)})


def ranks_in_bank(q: np.ndarray, data: TrainData, rows: np.ndarray) -> np.ndarray:
    """Rank of each query's true photo among the bank's faces of other people + itself."""
    from sketchlab.core.matching import distances

    out = []
    for qi, r in zip(q, rows, strict=True):
        d = distances(qi, data.bank)
        other = data.bank_id != data.query_id[r]
        out.append(int((d[other] < d[data.target[r]]).sum()) + 1)
    return np.asarray(out)


# --- the command -----------------------------------------------------------------------------
GRID = (FitConfig(hidden=128, temperature=0.02), FitConfig(hidden=512, temperature=0.02),
        FitConfig(hidden=128, temperature=0.05), FitConfig(hidden=512, temperature=0.05))
# Wider, with stronger shrinkage, for choosing by another artist's sketches (`validate_on`):
# what carries to an unseen hand may be a smaller or more damped head than what fits the
# artists it was fitted on.
WIDE_GRID = tuple(FitConfig(hidden=h, temperature=t, weight_decay=wd, epochs=e)
                  for h, t, wd, e in ((32, 0.05, 1e-4, 60), (128, 0.05, 1e-4, 60),
                                      (128, 0.05, 1e-2, 60), (128, 0.05, 1e-4, 20),
                                      (128, 0.1, 1e-4, 60), (512, 0.05, 1e-2, 60)))
TRAIN_SETS = ("cufs_train", "fs2k_train", "lfw_synth", "celeba_synth")


def _held_out(data: TrainData, share: float, seed: int) -> np.ndarray:
    """Rows of a seeded `share` of the people: validation never sees a trained face."""
    people = np.unique(data.query_id)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(people, max(1, int(len(people) * share)), replace=False).tolist())
    return np.array([q in held for q in data.query_id])


def _summary(ranks: np.ndarray) -> dict[str, float]:
    return {f"rank{k}": float((ranks <= k).mean()) for k in (1, 10, 50)}


def fit_command(model: str | None, leave_out: Sequence[str] = (), workers: int = 2,
                seed: int = 0, grid: Sequence[FitConfig] = GRID, validate_on: str = "",
                ink_gamma: float | None = None) -> tuple[QueryAdapter, dict]:
    """Choose the fit by validation on held-out people (colour queries) among `grid`, then
    fit on every train query of the kept sets. Returns the adapter and what was measured.
    `validate_on` (a train set): validate on all of that set's sketches instead, fitted
    without them: a choice by an artist the fit did not see, as an unseen artist is."""
    from sketchlab.core.checkpoint import load_generator
    from trainer.evaluate import model_path

    path = model_path(model)
    loaded = load_generator(path)
    w = model_raw_weight(loaded)
    names = [n for n in TRAIN_SETS if not any(n.startswith(x) for x in leave_out)]
    if validate_on and validate_on not in names:
        raise ValueError(f"--validate-on {validate_on}: not among the sets fitted ({names})")
    gamma = model_ink_gamma(path, ink_gamma)
    data = load_train_data(pack_dir(loaded.sha256, ink_gamma=gamma), names, w, workers)
    unseen = held_out_rows(data, loaded.metadata)  # never fitted on, nor validated with
    held = (np.asarray(data.group) == validate_on) if validate_on else _held_out(data, 0.15, seed)
    held &= ~unseen
    val = np.flatnonzero(held & ~data.grey)
    report: dict = {"sets": names, "left_out": list(leave_out), "raw_weight": w,
                    "held_out_queries": int(unseen.sum()),
                    "ink_gamma": gamma,
                    "validated_on": validate_on or "held-out people of every set",
                    "queries": len(data.target), "bank": int(len(data.bank) // 2),
                    "validation_people": len(np.unique(data.query_id[held])),
                    "without_adapter": _summary(ranks_in_bank(data.fused[val], data, val)),
                    "grid": []}
    best, best_score = grid[0], -1.0
    for cfg in grid:
        a = fit(data, cfg, np.flatnonzero(~held & ~unseen))
        r = _summary(ranks_in_bank(a(data.fused[val], data.mean[val], data.raw[val]), data,
                                   val))
        report["grid"].append({"fit": cfg.__dict__, **r})
        log.info("validation %s: %s", cfg, r)
        if r["rank1"] + r["rank10"] > best_score:
            best, best_score = cfg, r["rank1"] + r["rank10"]
    final = fit(data, best, np.flatnonzero(~unseen) if unseen.any() else None)
    info = {"fit": best.__dict__, "train_sets": names, "queries": int((~unseen).sum()),
            "held_out_queries": int(unseen.sum()), "raw_weight": w,
            "ink_gamma": gamma,
            "validation": report["grid"][list(grid).index(best)],
            "validation_without_adapter": report["without_adapter"]}
    adapter = QueryAdapter(final.w0, final.w1, final.b1, final.w2, final.b2, loaded.sha256,
                           info)
    report["chosen"] = best.__dict__
    return adapter, report


def check_left_out(model: str | None, leave_out: Sequence[str]) -> None:
    """An adapter fitted without some sets belongs only in a generator that never saw them
    either (the unseen-artist protocol's); stored in one that did, the app would search
    with an adapter that lacks the sets its photos were made from. Raises ValueError."""
    from sketchlab.core.model_file import read_metadata
    from trainer.evaluate import model_path

    path = model_path(model)
    trained = read_metadata(path).get("trained_on", "")
    if not trained:
        raise ValueError(f"{path.name} does not record what it was trained on, so an adapter "
                         "fitted without some sets cannot be stored in it: `fit --out`, then "
                         "`adapter write`, if its generator never saw them")
    sources = [s.split(":")[0] for s in trained.split(",")]
    seen = [x for x in leave_out if any(s.startswith(x) for s in sources)]
    if seen:
        raise ValueError(f"{path.name} was trained on {', '.join(seen)}: --write stores only an "
                         "adapter fitted on every set its generator saw; drop --leave-out, or "
                         "use `fit --out` to keep this one aside")


def main(args: argparse.Namespace) -> int:
    import json

    if args.action == "describe":
        sets = train_sets() if args.train_only and not args.leave_out else \
            protocol_sets(args.leave_out)
        out = describe(args.model, sets, args.workers, ink_gamma=args.ink_gamma)
        print(f"descriptor packs in {out}")
        return 0
    if args.action == "write":  # an adapter fitted before (`fit --out`), checked, stored
        from sketchlab.core.adapter import read_adapter
        from sketchlab.core.checkpoint import load_generator, update_metadata
        from trainer.evaluate import model_path

        if not args.adapter:
            raise ValueError("write needs --adapter JSON (from `adapter fit --out`)")
        path = model_path(args.model)
        meta = json.loads(Path(args.adapter).read_text(encoding="utf-8"))
        adapter = read_adapter(meta, load_generator(path).sha256)
        if adapter is None:
            raise ValueError(f"{args.adapter} holds no query adapter")
        update_metadata(path, adapter.metadata())
        print(f"stored query adapter {adapter.sha256[:12]} in {path}")
        return 0
    if args.write and args.leave_out:
        check_left_out(args.model, args.leave_out)  # before minutes of fitting, not after
    grid = WIDE_GRID if args.grid == "wide" else GRID
    if args.hidden or args.temperature:  # one setting, e.g. the one chosen with every set
        grid = (FitConfig(hidden=args.hidden or FitConfig.hidden,
                          temperature=args.temperature or FitConfig.temperature),)
    adapter, report = fit_command(args.model, args.leave_out, args.workers, grid=grid,
                                  validate_on=args.validate_on, ink_gamma=args.ink_gamma)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(adapter.metadata()) + "\n", encoding="utf-8")
    if args.write:
        from sketchlab.core.checkpoint import update_metadata
        from trainer.evaluate import model_path

        update_metadata(model_path(args.model), adapter.metadata())
    print(json.dumps(report, indent=2))
    return 0
