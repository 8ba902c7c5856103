"""Save and load generator weights with the config they were built with.

Files are safetensors: tensors plus string metadata, no pickle, so a file a user hands
us can never run code. The SHA-256 covers the tensors (names, dtypes, shapes, bytes) in
a fixed order and then the config text, so neither can be edited unnoticed; it
identifies a model across renames and is checked on every load. A model file is
untrusted input: the config is validated (types, ranges, channels, compute) and matched
against the tensors' shapes before any memory is allocated for the network, and
non-finite weights are refused (they would invert every sketch to a black face).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from sketchlab.core.atomic import atomic_write
from sketchlab.core.model_file import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    model_config,
    read_metadata,
)
from sketchlab.core.network import Generator, GeneratorConfig, unwrap

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "LoadedModel", "check_model",
           "load_generator",
           "read_metadata", "save_generator", "update_metadata", "weights_sha256"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class LoadedModel:
    generator: Generator
    config: GeneratorConfig
    sha256: str
    path: Path
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


def weights_sha256(state: dict[str, torch.Tensor], config_text: str) -> str:
    """The model's identity: tensors in name order, then the config text as stored."""
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(t.dtype).encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    digest.update(b"config\0" + config_text.encode())
    return digest.hexdigest()


def _clean_state(generator: Generator) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in unwrap(generator).state_dict().items()}


def save_generator(path: str | os.PathLike[str], generator: Generator,
                   extra: dict[str, str] | None = None) -> str:
    """Write weights + config + hash atomically; returns the weights' SHA-256."""
    path = Path(path)
    state = _clean_state(generator)
    config = unwrap(generator).config
    config_text = json.dumps(config.to_dict(), sort_keys=True)
    sha = weights_sha256(state, config_text)
    metadata = {k: str(v) for k, v in (extra or {}).items()}
    metadata.update(format=FORMAT, format_version=FORMAT_VERSION, config=config_text,
                    sha256=sha)
    with atomic_write(path) as fh:
        fh.write(safetensors_bytes(state, metadata=metadata))
    return sha


def _check_shapes(config: GeneratorConfig, state: dict[str, torch.Tensor], name: str) -> None:
    """Compare names and shapes on a meta-device network: nothing is allocated, so a
    config claiming a huge network costs nothing."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Generator(config).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise CheckpointError(f"{name}: weights do not fit the recorded config (missing "
                              f"{missing[:3]}, unexpected {extra[:3]}, wrong shape {wrong[:3]})")


def check_model(path: str | os.PathLike[str]
                ) -> tuple[dict[str, str], GeneratorConfig, dict[str, torch.Tensor], str]:
    """Every check a model file must pass before its network is built: header, config,
    tensors readable (not truncated), SHA-256, shapes against the config, finite
    weights. Returns (metadata, config, tensors, sha256) or raises CheckpointError with
    the reason; `sketchlab models` lists a file as usable only when this passes."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    meta = read_metadata(path)
    config = model_config(meta, path.name)
    try:
        state = load_file(str(path), device="cpu")
    except (ValueError, TypeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path.name} is damaged or incomplete: {exc}") from exc
    sha = weights_sha256(state, meta["config"])
    if meta["sha256"] != sha:
        raise CheckpointError(f"{path.name}: weights or config do not match their recorded "
                              "SHA-256 (file corrupted or edited)")
    _check_shapes(config, state, path.name)
    bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{path.name}: weights hold NaN or infinite values ({bad[0]}"
                              f"{' and others' if len(bad) > 1 else ''}); the model is "
                              "broken, retrain or re-export it")
    return meta, config, state, sha


def load_generator(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                   ) -> LoadedModel:
    """Rebuild the generator from the file alone, after every check (`check_model`)."""
    path = Path(path)
    meta, config, state, sha = check_model(path)
    generator = Generator(config)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path.name}: weights do not fit the recorded config: {exc}"
                              ) from exc
    generator.eval().to(device)
    log.info("loaded %s (%s, sha256 %s)", path.name, config, sha[:12])
    return LoadedModel(generator=generator, config=config, sha256=sha, path=path, metadata=meta)


def update_metadata(path: str | os.PathLike[str], updates: dict[str, str],
                    dest: str | os.PathLike[str] | None = None) -> None:
    """Rewrite a model file's metadata (e.g. its score calibration), weights and config
    text untouched, so its hash and whatever was measured under it stay valid; into `dest`
    when given, else in place. Refuses a file whose weights do not match their hash."""
    path = Path(path)
    meta = read_metadata(path)
    model_config(meta, path.name)
    state = load_file(str(path), device="cpu")
    if weights_sha256(state, meta["config"]) != meta["sha256"]:
        raise CheckpointError(f"{path.name}: weights or config do not match their recorded "
                              "SHA-256")
    meta.update(updates)
    with atomic_write(Path(dest) if dest is not None else path) as fh:
        fh.write(safetensors_bytes(state, metadata=meta))
