"""A model file's header: format constants, the error type and `read_metadata` (no torch).

`checkpoint.py` saves and loads the tensors; this part only reads the safetensors header
(8-byte length + JSON), so the app lists its models before torch is imported.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from sketchlab.core.network_config import GeneratorConfig, estimate_gflops

FORMAT = "sketchlab-generator"
# 2: the SHA-256 covers the config as well as the tensors (1 covered the tensors only).
FORMAT_VERSION = "2"
MAX_HEADER_BYTES = 16 * 1024 * 1024
# Compute budget for one inversion; the shipped model needs 4.1 GFLOP.
MAX_GFLOPS = 100.0
APP_CHANNELS = 3  # the app feeds RGB sketches and shows RGB photos


class CheckpointError(ValueError):
    """A model file that is unreadable, foreign, corrupt or inconsistent."""


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Header metadata only (cheap: no tensors are read)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if n <= 0 or n > MAX_HEADER_BYTES:
                raise CheckpointError(f"{path.name} is not a SketchLab model file (bad header)")
            header = json.loads(fh.read(n))
    except CheckpointError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"cannot read model file {path.name}: "
                              f"{exc.__class__.__name__}: {str(exc)[:200]}") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(
            f"{path.name} is not a SketchLab generator (format={found!r}); "
            "export models with `python -m trainer export`.")
    if not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path.name}: malformed metadata (values must be text)")
    return dict(meta)


def model_config(meta: dict[str, str], name: str) -> GeneratorConfig:
    """The validated config of a model file's metadata, or CheckpointError saying why
    the file is unusable. Used by listing and loading alike."""
    version = meta.get("format_version")
    if version == "1":
        raise CheckpointError(f"{name}: written in model format 1, whose SHA-256 does not "
                              "cover the config; re-export it with `python -m trainer "
                              "export` (format 2)")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{name}: unsupported format version {version!r} "
                              f"(this app reads {FORMAT_VERSION})")
    if not meta.get("sha256"):
        raise CheckpointError(f"{name}: no SHA-256 recorded; the file is incomplete")
    try:
        config = GeneratorConfig.from_dict(json.loads(meta.get("config") or "null"))
    except (ValueError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"{name}: invalid generator config ({exc})") from exc
    if config.in_channels != APP_CHANNELS or config.out_channels != APP_CHANNELS:
        raise CheckpointError(f"{name}: the network takes {config.in_channels} and gives "
                              f"{config.out_channels} channels; SketchLab needs RGB (3, 3)")
    gflops = estimate_gflops(config)
    if not math.isfinite(gflops) or gflops > MAX_GFLOPS:
        raise CheckpointError(f"{name}: {gflops:.0f} GFLOP per inversion is over the "
                              f"{MAX_GFLOPS:g} GFLOP budget for this app")
    return config
