"""A model file's header: format constants, the error type and `read_metadata` (no torch).

`checkpoint.py` saves and loads the tensors; this part only reads the safetensors header
(8-byte length + JSON), so the app lists its models before torch is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = "sketchlab-generator"
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """A model file that is unreadable, foreign, corrupt or inconsistent."""


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Header metadata only (cheap: no tensors are read)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if n <= 0 or n > 100_000_000:
                raise CheckpointError(f"{path.name} is not a SketchLab model file (bad header)")
            header = json.loads(fh.read(n))
    except (OSError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"cannot read model file {path}: {exc}") from exc
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path.name} is not a SketchLab generator (format={meta.get('format')!r}); "
            "export models with `python -m trainer export`.")
    return dict(meta)
