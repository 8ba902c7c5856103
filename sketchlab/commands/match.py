"""`sketchlab match SKETCH`: invert a sketch and rank the gallery against it.

Candidates are investigative leads, not identifications. Each comes with how many
non-mates come as close (the model's calibration for sketch queries) and, when the sketch
was searched as several variants, in how many of them it reached the top k.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sketchlab.commands.common import add_db_argument, open_gallery
from sketchlab.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("match", help="search the gallery with a sketch")
    p.add_argument("sketch", type=Path, metavar="SKETCH")
    add_db_argument(p)
    p.add_argument("--top", type=int, default=10, metavar="K", help="candidates (default 10)")
    p.add_argument("--fpir", type=float, default=None, metavar="RATE",
                   help="the threshold lets a search for someone absent from the gallery mark "
                        "a candidate at most this share of the time, at this gallery's size "
                        "(default 0.05; models with 1:N search rates)")
    p.add_argument("--fmr", type=float, default=None, metavar="RATE",
                   help="mark candidates closer than this share of non-mates (default 0.01, "
                        "from the model's calibration)")
    p.add_argument("--threshold", type=float, default=None,
                   help="mark candidates within this distance instead (overrides --fmr)")
    p.add_argument("--variants", type=int, default=None, metavar="N",
                   help="search with N plausible variants of the sketch (default: the "
                        "model's calibrated setting; 1 = the sketch as drawn only)")
    p.add_argument("--raw", action="store_true",
                   help="query with the sketch itself, not the inverted photo (for comparison)")
    p.add_argument("--no-adapter", action="store_true",
                   help="search with the fused descriptor as it is, without the model's "
                        "query adapter (for comparison)")
    p.add_argument("--all-photos", action="store_true",
                   help="rank photos, not subjects (a subject may appear several times)")
    p.add_argument("--model", default=None, help="installed model name or .safetensors path")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--save-photo", type=Path, default=None, metavar="PNG",
                   help="also write the synthesized photo that was searched with")
    p.add_argument("--json", action="store_true",
                   help="print the search as JSON: what the threshold means at this gallery "
                        "size (`reading`) and the candidates {rank, subject, photo_sha256, "
                        "distance, score, within_threshold, fpir or false_match_rate}")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: `sketchlab --help` and the other commands start without numpy/cv2/torch
    from sketchlab.core.calibration import DEFAULT_FMR
    from sketchlab.core.checkpoint import CheckpointError
    from sketchlab.core.drawn import drawing_words
    from sketchlab.core.imageio import save_image
    from sketchlab.core.model_catalog import read_calibration, resolve_model
    from sketchlab.core.pipeline import (
        ALIGNMENT_UNSURE,
        NOTHING_PASSES,
        TWO_WAY_WORDS,
        match_sketch,
    )
    from sketchlab.core.query import NOTHING_TO_SEARCH
    from sketchlab.core.search_rates import DEFAULT_FPIR
    from sketchlab.core.variants import DEFAULT_VARIANTS, shading_phrase
    from sketchlab.db.search import Matcher

    if args.top < 1:
        raise UserError("--top must be at least 1")
    if args.fmr is not None and not 0 < args.fmr < 1:
        raise UserError("--fmr is a share of non-mates between 0 and 1, e.g. 0.01")
    if args.fpir is not None and not 0 < args.fpir < 1:
        raise UserError("--fpir is a share of searches between 0 and 1, e.g. 0.05")
    if args.variants is not None and not 1 <= args.variants <= DEFAULT_VARIANTS:
        raise UserError(f"--variants must be between 1 and {DEFAULT_VARIANTS}")
    inverter, model_path = None, None
    try:
        model_path = resolve_model(args.model)
    except CheckpointError:
        if not args.raw:
            raise
    # --raw too: the raw-sketch kind is measured in the same calibration run.
    calibration = read_calibration(model_path) if model_path else ({}, {})
    if not args.raw:
        from sketchlab.core.inference import Inverter  # deferred: torch only when inverting

        inverter = Inverter(model_path, device=args.device)
    with open_gallery(args) as g:
        if g.stats().embeddings == 0:
            raise UserError("the gallery is empty; add photos with "
                            "`sketchlab gallery enroll PATH...`")
        matcher = Matcher(g)
        result = match_sketch(args.sketch, inverter, matcher, k=args.top,
                              threshold=args.threshold, raw=args.raw, fmr=args.fmr or DEFAULT_FMR,
                              fpir=args.fpir or DEFAULT_FPIR,
                              variants=args.variants, calibration=calibration,
                              distinct_subjects=not args.all_photos, thumbnails=False,
                              adapter=not args.no_adapter)
    if result.empty:
        if args.json:
            print(json.dumps({"nothing_to_search": True, "candidates": []}))
        print(f"{args.sketch}: {NOTHING_TO_SEARCH}", file=sys.stderr)
        return 1
    if args.save_photo is not None and result.photo is not None:
        save_image(args.save_photo, result.photo)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
        return 0
    what = "sketch itself (raw)" if args.raw else "inverted photo"
    if len(result.variant_names) > 1:
        what = f"{len(result.variant_names)} inverted variants"
        if result.raw_weight:
            what += f" + raw sketch ({result.raw_weight:g})"
        if result.ink_gamma != 1.0:
            what += f", {shading_phrase(result.ink_gamma)}"
        if result.adapter_sha256:
            what += f", query adapter {result.adapter_sha256[:12]}"
    way = "two ways" if result.two_way else "one way"
    print(f"query: {args.sketch} -> {what}; {result.gallery_size} faces searched {way} in "
          f"{result.search_ms:.1f} ms", file=sys.stderr)
    print(result.rule.describe(), file=sys.stderr)
    if result.two_way:
        print(TWO_WAY_WORDS, drawing_words(result.drawing), file=sys.stderr)
    elif result.undrawn:
        print(f"{result.undrawn} gallery faces are not drawn as this model's two-way "
              "search draws them, so it searched one way: `sketchlab gallery draw` draws "
              "them.", file=sys.stderr)
    if result.alignment_unsure:
        print(ALIGNMENT_UNSURE, file=sys.stderr)
    if result.nothing_passes:
        print(NOTHING_PASSES, file=sys.stderr)
    heading = result.rate_heading.replace("\n", " ").lower()
    print(f"{'rank':>4}  {'subject':28s} {'distance':>8}  {heading:>26}  "
          f"{'stable':>6}  match  photo")
    for c in result.candidates:
        mark = "yes" if c.within_threshold else "-"
        stable = "" if c.stability is None else f"{c.stability}/{c.n_variants}"
        print(f"{c.rank:>4}  {c.subject_name[:28]:28s} {c.distance:8.4f}  "
              f"{result.rate_text(c):>26}  {stable:>6}  {mark:5s}  {c.photo_sha256[:12]}  "
              f"{c.source_path}")
    print("Candidates are investigative leads, not identifications.", file=sys.stderr)
    return 0
