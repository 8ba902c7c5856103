"""Read `manifest.csv` files (columns sketch,photo,identity,split[,style]).

Paths in a manifest are relative to its folder. A manifest path in a config may start with
`$DATA/`, meaning the shared data folder: $SKETCHLAB_SHARED_DATA, else `../shared/data`
beside the repository, so configs work on any machine with the data in the usual place.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from sketchlab import paths


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    sketch: Path | None
    photo: Path
    identity: str
    split: str
    style: str = ""


def shared_data_dir() -> Path:
    env = os.environ.get("SKETCHLAB_SHARED_DATA")
    return Path(env) if env else paths.bundle_root().parent / "shared" / "data"


def resolve_manifest(spec: str | os.PathLike[str]) -> Path:
    text = str(spec)
    if text.startswith("$DATA/"):
        path = shared_data_dir() / text[len("$DATA/"):]
    else:
        path = Path(text).expanduser()
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path} (set SKETCHLAB_SHARED_DATA or give "
                            "the path to a manifest.csv)")
    return path


def read_manifest(spec: str | os.PathLike[str], split: str | None = None) -> list[Row]:
    """Rows of a manifest, optionally only one split, in file order."""
    path = resolve_manifest(spec)
    root = path.parent
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"sketch", "photo", "identity", "split"} - set(reader.fieldnames or ())
        if missing:
            raise ManifestError(f"{path}: missing columns {sorted(missing)}")
        for rec in reader:
            if split is not None and rec["split"] != split:
                continue
            if not rec["photo"]:
                raise ManifestError(f"{path}: row without a photo: {rec}")
            rows.append(Row(sketch=root / rec["sketch"] if rec["sketch"] else None,
                            photo=root / rec["photo"], identity=rec["identity"],
                            split=rec["split"], style=rec.get("style") or ""))
    return rows
