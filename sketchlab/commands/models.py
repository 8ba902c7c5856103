"""`sketchlab models`: list installed models."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list installed inversion models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sketchlab.core.model_catalog import list_models

    models = list_models()
    if args.json:
        print(json.dumps([{"name": m.name, "path": str(m.path), "sha256": m.sha256,
                           "resolution": list(m.config.resolution), "styles": list(m.styles)}
                          for m in models], indent=2))
        return 0
    if not models:
        print("no models installed")
        return 1
    for m in models:
        h, w = m.config.resolution
        print(f"{m.name:24s} {h}x{w}  sha256 {m.sha256[:12]}  {m.path}")
    return 0
