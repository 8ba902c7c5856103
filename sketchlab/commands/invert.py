"""`sketchlab invert SKETCH... -o OUT`: sketches in, synthesized photos out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from sketchlab.core.frame import STYLES
from sketchlab.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invert", help="turn sketch image(s) into photo-like faces")
    p.add_argument("sketches", nargs="+", type=Path, metavar="SKETCH")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="output PNG (one sketch) or folder (several)")
    p.add_argument("--model", default=None, help="installed model name or .safetensors path")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--style", default="auto", choices=STYLES,
                   help="sketch style: colour keeps colour hints, others are read in grey")
    p.add_argument("--source", default="auto", choices=["auto", "canvas", "scan", "photo"],
                   help="where the sketch came from: canvas skips alignment")
    p.add_argument("--aligned", action="store_true",
                   help="also write the aligned sketch beside each photo")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sketchlab.core.atomic import private_dir
    from sketchlab.core.imageio import ImageLoadError, save_image
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import resolve_model
    from sketchlab.core.preprocess import prepare_sketch

    many = len(args.sketches) > 1 or args.out.suffix == "" or args.out.is_dir()
    if many:
        private_dir(args.out)
    elif args.out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
        raise UserError(f"{args.out}: give a .png/.jpg output name, or a folder")
    inverter = Inverter(resolve_model(args.model), device=args.device)
    failures = 0
    for sketch in tqdm(args.sketches, desc="inverting", unit="img", disable=len(args.sketches) < 3,
                       file=sys.stderr):
        try:
            prepared = prepare_sketch(sketch, inverter.resolution, source=args.source,
                                      style=args.style)
        except ImageLoadError as exc:
            print(f"skipped {sketch}: {exc}", file=sys.stderr)
            failures += 1
            continue
        photo = inverter.invert(prepared.image)
        target = args.out / f"{sketch.stem}_photo.png" if many else args.out
        save_image(target, photo)
        if args.aligned:
            save_image(target.with_name(f"{target.stem}_sketch.png"), prepared.image)
        note = " (empty sketch)" if prepared.empty else ""
        print(f"{sketch} -> {target}  [{prepared.transform.method}, {inverter.last_ms:.0f} ms on "
              f"{inverter.device_label}]{note}")
    return 1 if failures else 0
