"""Reliability fixtures: the case fixtures, and hostile files built the way an attacker
or a careless export would build them."""

from __future__ import annotations

from pathlib import Path

import torch

# A case store with real work in it (tiny model, recorded candidates).
from tests.cases.conftest import inverter, store, worked_case  # noqa: F401


def forge_model(path: Path, state: dict[str, torch.Tensor], config_text: str,
                sha256: str | None = None) -> Path:
    """A model file whose recorded SHA-256 is consistent with what it holds (unless
    `sha256` is given): only the config checks, not the hash, can catch it."""
    from safetensors.torch import save_file

    from sketchlab.core.checkpoint import weights_sha256

    save_file(state, str(path), metadata={
        "format": "sketchlab-generator", "format_version": "2", "config": config_text,
        "sha256": sha256 or weights_sha256(state, config_text), "name": path.stem})
    return path


def tiny_state(base_width: int = 4) -> tuple[dict[str, torch.Tensor], dict]:
    from sketchlab.core.network import Generator, GeneratorConfig

    torch.manual_seed(0)
    cfg = GeneratorConfig(base_width=base_width, n_residual=1, height=32, width=32)
    g = Generator(cfg)
    return {k: v.detach().clone() for k, v in g.state_dict().items()}, cfg.to_dict()


def json_dumps_deep(depth: int) -> str:
    return "[" * depth + "]" * depth

