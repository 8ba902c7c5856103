"""`sketchlab models`: list installed models, each checked as `invert` would load it."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list installed inversion models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sketchlab.core.model_catalog import scan_models

    models, unusable = scan_models(verify=True)
    if args.json:
        print(json.dumps([{"name": m.name, "path": str(m.path), "sha256": m.sha256,
                           "resolution": list(m.config.resolution), "styles": list(m.styles),
                           "usable": True} for m in models]
                         + [{"name": u.path.stem, "path": str(u.path), "usable": False,
                             "reason": u.reason} for u in unusable], indent=2))
        return 0 if models else 1
    for m in models:
        h, w = m.config.resolution
        print(f"{m.name:24s} {h}x{w}  sha256 {m.sha256[:12]}  {m.path}")
    for u in unusable:
        print(f"{u.path.stem:24s} UNUSABLE  {u.reason}")
    if not models:
        print("no usable models installed")
        return 1
    return 0
