"""`python -m trainer train|evaluate|export|quantize|...`: the lab's offline retraining tool."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from sketchlab.core.engines import ENGINES
from sketchlab.core.precision import PRECISIONS
from trainer.split_shift import SETS as SPLIT_SETS


def _train(args: argparse.Namespace) -> int:
    from trainer.config import load_config
    from trainer.train import train

    if args.nice and hasattr(os, "nice"):
        # A CPU training run on an artist's workstation must not make the pen lag: it
        # yields the cores to the app (and anything interactive) and loses nothing on a
        # machine that is otherwise idle.
        os.nice(args.nice)

    overrides = {}
    if args.steps:
        overrides["steps"] = args.steps
    if args.name:
        overrides["name"] = args.name
    if args.device:
        overrides["device"] = args.device
    if args.threads:
        overrides["threads"] = args.threads
    cfg = load_config(args.config, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else None
    pack = Path(args.pack) if args.pack else None
    t = train(cfg, resume=args.resume or False, run_dir=run_dir, pack=pack)
    if t.dist.main:
        print(f"done: {t.run_dir} at step {t.step} ({t.wall_s / 60:.1f} min of training)")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from trainer.pack import main as pack_main

    return pack_main(args)


def _evaluate(args: argparse.Namespace) -> int:
    from trainer.evaluate import main as evaluate_main

    return evaluate_main(args)


def _export(args: argparse.Namespace) -> int:
    from trainer.export import main as export_main

    return export_main(args)


def _calibrate(args: argparse.Namespace) -> int:
    from trainer.calibrate import main as calibrate_main

    return calibrate_main(args)


def _adapter(args: argparse.Namespace) -> int:
    from trainer.adapter import main as adapter_main

    return adapter_main(args)


def _search_rates(args: argparse.Namespace) -> int:
    if args.present_from:
        from trainer.held_out_rates import main as present_main

        return present_main(args)
    from trainer.search_rates import main as rates_main

    return rates_main(args)


def _alignment(args: argparse.Namespace) -> int:
    from trainer.alignment_check import main as alignment_main

    return alignment_main(args)


def _hubness(args: argparse.Namespace) -> int:
    from trainer.hubness import main as hubness_main

    return hubness_main(args)


def _split_shift(args: argparse.Namespace) -> int:
    from trainer.split_shift import main as split_shift_main

    return split_shift_main(args)


def _two_way(args: argparse.Namespace) -> int:
    from trainer.two_way import main as two_way_main

    return two_way_main(args)


def _quantize(args: argparse.Namespace) -> int:
    from trainer.quantize import main as quantize_main

    return quantize_main(args)


def _bench_step(args: argparse.Namespace) -> int:
    from trainer.step_bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a generator from a TOML config")
    t.add_argument("--config", required=True, help="e.g. trainer/configs/default.toml")
    t.add_argument("--resume", nargs="?", const=True, default=None,
                   help="continue the run's latest checkpoint (or the given .pt)")
    t.add_argument("--steps", type=int, help="override the config's total steps")
    t.add_argument("--name", help="override the run name (runs/NAME)")
    t.add_argument("--run-dir", help="run directory (default: out_dir/name)")
    t.add_argument("--pack", help="train from this training pack (from `pack`) instead of "
                   "the datasets: no alignment, no dlib")
    t.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    t.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default: the config's; 0 there = one per core)")
    t.add_argument("--nice", type=int, default=10,
                   help="run at this lower CPU priority, so the desktop app stays responsive "
                        "(default 10; 0 keeps the normal priority)")
    t.set_defaults(func=_train)

    pk = sub.add_parser("pack", help="one file with a config's aligned frames and dlib's face "
                        "network, to train on a machine without the datasets or dlib")
    pk.add_argument("--config", required=True, help="e.g. trainer/configs/default.toml")
    pk.add_argument("--out", required=True, help="the pack file to write")
    pk.add_argument("--quality", type=int, default=None,
                    help="WebP quality, 1-100 (default: the one docs/trainer.md gives)")
    pk.set_defaults(func=_pack)

    e = sub.add_parser("evaluate", help="quality and identification metrics of a model")
    e.add_argument("--model", default=None, help="model name, .safetensors file or run dir "
                   "(default: the app's default model)")
    e.add_argument("--manifest", required=True, action="append",
                   help="paired manifest(s) to evaluate, e.g. $DATA/cufs_cuhk/manifest.csv")
    e.add_argument("--split", default="test")
    e.add_argument("--distractors", action="append", default=[],
                   help="photo manifest(s) added to the gallery (all splits)")
    e.add_argument("--max-distractors", type=int, default=0, help="cap (0 = all)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--out", help="also write the results JSON (and samples) here")
    e.add_argument("--device", default="auto")
    e.add_argument("--engine", default=None, choices=ENGINES,
                   help="inference engine for the sketches (default: $SKETCHLAB_ENGINE, "
                        "else the one measured fastest here, else PyTorch)")
    e.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="CPU number format (default: $SKETCHLAB_PRECISION, else auto)")
    e.add_argument("--workers", type=int, default=2, help="processes for gallery embedding")
    e.add_argument("--no-adapter", action="store_true",
                   help="search without the model's query adapter (the ablation)")
    e.add_argument("--adapter", default=None, metavar="JSON",
                   help="search with this adapter (from `adapter fit --out`) instead")
    only = e.add_mutually_exclusive_group()
    only.add_argument("--identification-only", action="store_true",
                      help="skip the image-quality metrics (FSIM, SSIM)")
    only.add_argument("--quality-only", action="store_true",
                      help="only the image-quality metrics: no gallery, no searches "
                           "(minutes instead of half an hour on FS2K)")
    e.add_argument("--ink-gamma", type=float, default=None, metavar="G",
                   help="invert the sketches with their shading lightened (ink darkness to "
                        "the power G; default: the model's own reading)")
    e.add_argument("--two-way", action="store_true",
                   help="also rank by the two-way distance: the searched photo against the "
                        "gallery photos plus the sketch against each photo drawn as a sketch")
    e.add_argument("--drawer", action="append", metavar="MODEL",
                   help="with --two-way: draw the gallery faces with this photo-to-sketch "
                        "network (a run folder or .safetensors trained with direction = "
                        "\"photo_to_sketch\"), or 'pencil' (the pencil filter); given "
                        "more than once, the sketch's distance to a face's drawings is their "
                        "mean (default: as the app's search draws for the model)")
    e.add_argument("--redraw", action="store_true",
                   help="with --two-way and one drawing network: also rank with the searched "
                        "photos redrawn by it, mixed with the sketch for the drawn direction")
    e.set_defaults(func=_evaluate)

    x = sub.add_parser("export", help="copy a run's generator into models/ with a model card")
    x.add_argument("run", help="run directory (runs/NAME), a training checkpoint .pt, or a "
                   "generator .safetensors to install as it is, with the adapter and tables "
                   "measured on it (give --config)")
    x.add_argument("--config", default=None, metavar="TOML",
                   help="installing a .safetensors: the recipe that trained it")
    x.add_argument("--name", required=True)
    x.add_argument("--summary", default="")
    x.add_argument("--eval", action="append", default=[],
                   help="evaluation JSON file(s) (from evaluate --out) for the card's table")
    x.add_argument("--command", dest="train_command", default="",
                   help="the exact training command, recorded in the card")
    x.add_argument("--notes", default="", help="markdown file with extra notes for the card")
    x.add_argument("--models-dir", default=None, help="default: the repo's models/")
    x.add_argument("--no-calibrate", action="store_true",
                   help="skip the score calibration for sketch queries (the app then shows "
                        "distances without false-match rates)")
    x.set_defaults(func=_export)

    c = sub.add_parser("calibrate", help="score calibration for sketch queries, and the "
                       "one-photo / variants / raw-fusion comparison")
    c.add_argument("--model", default=None, help="model name or .safetensors file")
    c.add_argument("--write", action="store_true",
                   help="store the calibration in the model file")
    c.add_argument("--test", action="store_true",
                   help="report ranks and error rates on CUFS/FS2K test vs test photos + LFW")
    c.add_argument("--lfw-queries", type=int, default=300,
                   help="synthetic sketches of LFW train identities (default 300)")
    c.add_argument("--max-per-set", type=int, default=0,
                   help="search with a seeded sample of at most this many sketches per set "
                        "(0 = all; every photo stays in the gallery)")
    c.add_argument("--fmr", type=float, default=0.01,
                   help="false-match rate the --test error rates are measured at")
    c.add_argument("--workers", type=int, default=2)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_calibrate)

    a = sub.add_parser("adapter", help="the query adapter: describe the train/test sketches "
                       "on the app's path, then fit it by metric learning")
    a.add_argument("action", choices=("describe", "fit", "write"))
    a.add_argument("--adapter", default=None, metavar="JSON",
                   help="write: the adapter to store (from `fit --out`)")
    a.add_argument("--model", default=None, help="model name or .safetensors file")
    a.add_argument("--leave-out", action="append", default=[], metavar="SET",
                   help="fit without this train set (cufs, fs2k, lfw, celeba): the "
                        "leave-one-dataset-out protocol; describe then computes only the "
                        "train sets kept")
    a.add_argument("--write", action="store_true",
                   help="store the adapter in the model file (with --leave-out, only in a "
                        "generator whose file says it never saw those sets)")
    a.add_argument("--train-only", action="store_true",
                   help="describe: the train sets only (what `fit` reads), not the test sets")
    a.add_argument("--hidden", type=int, default=0,
                   help="fit this hidden width only (default: choose from a small grid)")
    a.add_argument("--temperature", type=float, default=0.0,
                   help="fit this softmax temperature only (default: choose from the grid)")
    a.add_argument("--grid", choices=("small", "wide"), default="small",
                   help="the settings to choose from (wide: smaller and more damped heads)")
    a.add_argument("--validate-on", default="", metavar="SET",
                   help="choose by this train set's sketches (e.g. fs2k_train), fitted "
                        "without them (default: held-out people of every set)")
    a.add_argument("--out", help="also write the adapter (model-file metadata JSON) here, "
                   "for `evaluate --adapter`")
    a.add_argument("--ink-gamma", type=float, default=None, metavar="G",
                   help="describe and fit on readings with the sketch's shading lightened "
                        "(ink darkness to the power G; default: the model's own reading)")
    a.add_argument("--workers", type=int, default=2)
    a.set_defaults(func=_adapter)

    r = sub.add_parser("search-rates", help="1:N search rates (FPIR, marked mates, how far "
                       "down the list) by gallery size, from train sketches; --test checks "
                       "them on held-out test searches")
    r.add_argument("--model", default=None, help="model name or .safetensors file")
    r.add_argument("--write", action="store_true", help="store the tables in the model file")
    r.add_argument("--test", action="store_true",
                   help="measure the same rates on CUFS/FS2K test searches and compare")
    r.add_argument("--max-queries", type=int, default=2400,
                   help="train searches the rates are measured on (a seeded sample)")
    r.add_argument("--reading", choices=("absolute", "relative"), default="relative",
                   help="relative (default): ratios to the search's K-th candidate; "
                   "absolute: distance thresholds (they overstate FPIR 2-50x on test sets)")
    r.add_argument("--reference-rank", type=int, default=None, metavar="K",
                   help="with --reading relative: the candidate distances are read against "
                   "(1 < K <= 10, the list shown; default 2, the next person)")
    r.add_argument("--query-sets", nargs="+", default=None, metavar="SET",
                   help="train sketches the rates are read from (default: all of cufs_train "
                        "fs2k_train lfw_synth celeba_synth; the hand-drawn ones are the "
                        "first two)")
    r.add_argument("--absent-sets", nargs="+", default=None, metavar="SET",
                   help="of those, the ones the absent-person rates (FPIR, and so the "
                        "threshold) are read from (default: the hand-drawn cufs_train "
                        "fs2k_train; 'all': every query set)")
    r.add_argument("--by-set", action="store_true",
                   help="also each train set's own rates at the stated thresholds (synthetic "
                        "LFW split by whether the generator trained on the photo)")
    r.add_argument("--unseen-artist", action="store_true",
                   help="also measure the rates for an artist the model never saw: the "
                        "hand-drawn train sketches, each set read through the protocol "
                        "generator that never saw it (trainer/protocol, with its own "
                        "adapter); stored as their own kinds with --write, and each set's "
                        "own with --by-set")
    r.add_argument("--two-way", action="store_true",
                   help="also measure the two-way search (each gallery face drawn as a sketch "
                        "too) and store its tables beside the one-way ones")
    r.add_argument("--drawer", nargs="+", default=None, metavar="MODEL",
                   help="with --two-way: draw the gallery with this photo-to-sketch network "
                        "(a run folder or .safetensors), or 'pencil' (the pencil filter, the "
                        "default); with --unseen-artist the gallery of each set's searches is "
                        "drawn by the network that never saw the set (trainer/protocol); with "
                        "--present-from, one for each fold: each fold's gallery is drawn by "
                        "the one whose run held out its people")
    r.add_argument("--groups", choices=("spread", "hand", "set"), default="spread",
                   help="how the present-person rates of 'sketches like this' are cut: by how "
                        "closely the sketch's readings agree (quartiles, the default), by "
                        "the hand (train set, FS2K style) its raw descriptor lies nearest, or "
                        "by the set it lies nearest, at the rates of the set's hardest hand")
    r.add_argument("--by-group", action="store_true",
                   help="with --test: also check each group's searches alone (CUFS by sex, "
                        "FS2K by drawing style)")
    r.add_argument("--stored", action="store_true",
                   help="with --test: check the tables already stored in the model file "
                        "against the test searches, reading no train search")
    r.add_argument("--present-from", nargs="+", default=None, metavar="MODEL",
                   help="re-read the stored tables' present-person rates (marked, top 1 / 10 "
                        "/ 50) from the sketches each MODEL's run held out (a source's "
                        "`folds`), read through that MODEL, all folds' searches as one set: "
                        "sketches by known artists the generator never trained on; "
                        "thresholds and absent-person rates stay as stored")
    r.add_argument("--out", help="also write the report JSON here")
    r.add_argument("--workers", type=int, default=2)
    r.set_defaults(func=_search_rates)

    al = sub.add_parser("alignment", help="landmark-found rate and eye/mouth placement error "
                        "per sketch set, HOG alone vs the detector chain")
    al.add_argument("--per-set", type=int, default=100, help="sketches per set (default 100)")
    al.add_argument("--json", action="store_true")
    al.add_argument("--sets", nargs="+", metavar="WORD",
                    help="only the sets whose name holds one of these words (e.g. "
                    "photographed, fs2k)")
    al.set_defaults(func=_alignment)

    h = sub.add_parser("hubness", help="rank with gallery faces that many generated photos "
                       "land near discounted (CSLS), against plain distance")
    h.add_argument("--model", default=None, help="model name, .safetensors file or run dir")
    h.add_argument("--manifest", required=True, help="paired manifest whose test split is "
                   "searched, e.g. $DATA/cufs_cuhk/manifest.csv")
    h.add_argument("--distractors", action="append", default=[],
                   help="photo manifest(s) added to the gallery (all splits)")
    h.add_argument("--reference", default="fs2k_train",
                   choices=("cufs_train", "fs2k_train", "lfw_synth", "celeba_synth"),
                   help="train sketches whose photos set each face's hub radius "
                   "(default fs2k_train; pick one the test artist did not draw)")
    h.add_argument("--n-reference", type=int, default=300,
                   help="how many of them (seeded; default 300)")
    h.add_argument("--engine", default=None, choices=ENGINES)
    h.add_argument("--precision", default=None, choices=PRECISIONS)
    h.add_argument("--no-adapter", action="store_true")
    h.add_argument("--workers", type=int, default=2)
    h.add_argument("--out", help="also write the results JSON here")
    h.set_defaults(func=_hubness)

    tw = sub.add_parser("two-way", help="choose the two-way search's drawing and weight on "
                        "train sketches (nothing is written)")
    tw.add_argument("--workers", type=int, default=2)
    tw.add_argument("--redrawn-share", action="store_true",
                    help="only the share of the searched photo redrawn by the gallery's "
                         "drawer in the drawn direction (core.drawn.REDRAWN_SHARE)")
    tw.add_argument("--out", help="also write the results JSON here")
    tw.set_defaults(func=_two_way)

    ss = sub.add_parser("split-shift", help="a set's train and test sketches searched alike, "
                        "group by group: is its test split harder, or mixed otherwise?")
    ss.add_argument("--set", choices=tuple(SPLIT_SETS), default="fs2k")
    ss.add_argument("--model", default=None, help="model name or .safetensors file (default: "
                    "the bundled model) whose descriptor packs are read")
    ss.add_argument("--by-source", action="store_true",
                    help="group by the folder of each sketch's photo too (FS2K's photo sources)")
    ss.add_argument("--workers", type=int, default=2)
    ss.add_argument("--out", help="also write the report JSON here")
    ss.set_defaults(func=_split_shift)

    q = sub.add_parser("quantize", help="int8 export of a model (static, calibrated on train "
                       "sketches), then --verdict: offered only if it holds against fp32")
    q.add_argument("--model", default=None, help="model name or .safetensors file")
    q.add_argument("--per-set", type=int, default=64,
                   help="calibration sketches from each of CUFS and FS2K train (default 64)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--keep-ends", action="store_true",
                   help="leave the first and last convolution in fp32")
    q.add_argument("--verdict", nargs=2, metavar=("FP32_JSON", "INT8_JSON"),
                   help="two `evaluate --out` files of the same queries (fp32, int8): offer "
                        "int8 only within 1 point at rank 1 and 10 and 0.005 FSIM")
    q.set_defaults(func=_quantize)

    b = sub.add_parser("bench-step", help="time training steps: fp32, channels-last, bf16")
    b.add_argument("--config", required=True)
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench_step)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        logging.getLogger("trainer").debug("failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
