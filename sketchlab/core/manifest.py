"""`manifest.csv` files and the shared data folder: the one reader of both.

A manifest lists images by path relative to its own folder. The datasets and the trainer
use columns `sketch,photo,identity,split[,style]` (`read_manifest` -> `Row`); enrolment
accepts a looser set of column names through `read_records`. A manifest named `$DATA/...`
lives in the shared data folder: $SKETCHLAB_SHARED_DATA, else `../shared/data` beside the
repository (or the bundle), so configs and benchmarks work on any machine with the data in
the usual place.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from sketchlab.core import paths

COLUMNS = ("sketch", "photo", "identity", "split")


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
    """Where the datasets live (read-only): $SKETCHLAB_SHARED_DATA or ../shared/data."""
    env = os.environ.get("SKETCHLAB_SHARED_DATA")
    return Path(env) if env else paths.bundle_root().parent / "shared" / "data"


def resolve_manifest(spec: str | os.PathLike[str]) -> Path:
    """The manifest file `spec` names: a file, a folder holding manifest.csv, or `$DATA/...`."""
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


def read_records(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of a CSV file, names stripped and lower-cased, a UTF-8 BOM
    (spreadsheet exports) ignored. Raises OSError when the file cannot be read."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [c.strip().lower() for c in next(reader, [])]
        rows = [dict(zip(header, rec, strict=False)) for rec in reader if rec]
    return header, rows


def read_manifest(spec: str | os.PathLike[str], split: str | None = None) -> list[Row]:
    """Rows of a dataset manifest, optionally only one split, in file order."""
    path = resolve_manifest(spec)
    root = path.parent
    header, records = read_records(path)
    missing = set(COLUMNS) - set(header)
    if missing:
        raise ManifestError(f"{path}: missing columns {sorted(missing)}")
    rows: list[Row] = []
    for rec in records:
        if split is not None and rec.get("split") != split:
            continue
        if not rec.get("photo"):
            raise ManifestError(f"{path}: row without a photo: {rec}")
        rows.append(Row(sketch=root / rec["sketch"] if rec.get("sketch") else None,
                        photo=root / rec["photo"], identity=rec.get("identity", ""),
                        split=rec.get("split", ""), style=rec.get("style") or ""))
    return rows
