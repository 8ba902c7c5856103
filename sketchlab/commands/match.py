"""`sketchlab match SKETCH`: invert a sketch and rank the gallery against it.

Candidates are investigative leads, not identifications.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sketchlab.commands.gallery import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("match", help="search the gallery with a sketch")
    p.add_argument("sketch", type=Path, metavar="SKETCH")
    add_db_argument(p)
    p.add_argument("--top", type=int, default=10, metavar="K", help="candidates (default 10)")
    p.add_argument("--threshold", type=float, default=None,
                   help="distance counted as a likely match (default 0.6, dlib's)")
    p.add_argument("--raw", action="store_true",
                   help="query with the sketch itself, not the inverted photo (for comparison)")
    p.add_argument("--all-photos", action="store_true",
                   help="rank photos, not subjects (a subject may appear several times)")
    p.add_argument("--model", default=None, help="installed model name or .safetensors path")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--save-photo", type=Path, default=None, metavar="PNG",
                   help="also write the synthesized photo that was searched with")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {rank, subject, photo_sha256, distance, score}")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sketchlab.cli import UserError
    from sketchlab.commands.gallery import _open
    from sketchlab.core.imageio import save_image
    from sketchlab.core.matching import DEFAULT_THRESHOLD
    from sketchlab.db.search import match_sketch

    if args.top < 1:
        raise UserError("--top must be at least 1")
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    inverter = None
    if not args.raw:
        from sketchlab.core.inference import Inverter
        from sketchlab.core.model_catalog import resolve_model

        inverter = Inverter(resolve_model(args.model), device=args.device)
    g = _open(args)
    try:
        if g.stats().embeddings == 0:
            raise UserError("the gallery is empty; add photos with "
                            "`sketchlab gallery enroll PATH...`")
        result = match_sketch(args.sketch, inverter, g, k=args.top, threshold=threshold,
                              raw=args.raw, distinct_subjects=not args.all_photos,
                              thumbnails=False)
    finally:
        g.close()
    if args.save_photo is not None and result.photo is not None:
        save_image(args.save_photo, result.photo)
    if args.json:
        print(json.dumps([c.as_json() for c in result.candidates], indent=2))
        return 0
    what = "sketch itself (raw)" if args.raw else "inverted photo"
    print(f"query: {args.sketch} -> {what}; {result.gallery_size} faces searched in "
          f"{result.search_ms:.1f} ms; threshold {threshold:g}", file=sys.stderr)
    print(f"{'rank':>4}  {'subject':28s} {'distance':>8} {'score':>6}  match  photo")
    for c in result.candidates:
        mark = "yes" if c.within_threshold else "-"
        print(f"{c.rank:>4}  {c.subject_name[:28]:28s} {c.distance:8.4f} {c.score:6.3f}  "
              f"{mark:5s}  {c.photo_sha256[:12]}  {c.source_path}")
    print("Candidates are investigative leads, not identifications.", file=sys.stderr)
    return 0
