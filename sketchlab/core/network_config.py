"""GeneratorConfig: what rebuilds a generator, stored in every checkpoint (no torch here).

Kept apart from `network.py` so that listing models (the app's Model menu, `sketchlab
models`) reads configs without importing torch, which costs seconds at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from sketchlab.core.frame import FRAME_SIZE

Norm = Literal["instance", "batch", "none"]
Upsample = Literal["nearest", "transpose"]


_INT_RANGES = {"in_channels": (1, 4), "out_channels": (1, 4), "base_width": (1, 256),
               "n_residual": (0, 64), "height": (16, 1024), "width": (16, 1024)}


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a Generator; stored inside every checkpoint."""

    in_channels: int = 3
    out_channels: int = 3
    base_width: int = 24
    n_residual: int = 6
    height: int = FRAME_SIZE[0]
    width: int = FRAME_SIZE[1]
    norm: Norm = "instance"
    upsample: Upsample = "nearest"

    def __post_init__(self) -> None:
        # Checked field by field: a config read from a model file is untrusted input, and
        # "abc" or 40000 must be a clear error here, not a traceback or 5 GB in torch.
        for name, (lo, hi) in _INT_RANGES.items():
            v = getattr(self, name)
            if type(v) is not int:
                raise ValueError(f"{name} must be an integer, got {v!r}")
            if not lo <= v <= hi:
                raise ValueError(f"{name}={v} is out of range ({lo}..{hi})")
        if self.height % 4 or self.width % 4:
            raise ValueError("height and width must be multiples of 4 (two stride-2 stages)")
        if min(self.in_channels, self.out_channels, self.base_width) < 1 or self.n_residual < 0:
            raise ValueError("channel counts must be positive and n_residual >= 0")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"unknown norm {self.norm!r}")
        if self.upsample not in ("nearest", "transpose"):
            raise ValueError(f"unknown upsample {self.upsample!r}")

    @property
    def resolution(self) -> tuple[int, int]:
        """(height, width) of the canonical frame the network works in."""
        return (self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        if not isinstance(data, dict):
            raise ValueError(f"generator config must be a JSON object, got {data!r:.40}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        return cls(**data)


def estimate_gflops(config: GeneratorConfig) -> float:
    """Multiply-adds x2 of the convolutions for one image at the native resolution.

    Counted analytically (not by tracing) so `bench` needs no extra dependency; norms,
    activations and the upsampling copy are negligible beside the convolutions.
    """
    h, w, b = config.height, config.width, config.base_width
    macs = 0

    def conv(cin: int, cout: int, k: int, oh: int, ow: int) -> int:
        return cin * cout * k * k * oh * ow

    macs += conv(config.in_channels, b, 9, h, w)
    macs += conv(b, 2 * b, 3, h // 2, w // 2)
    macs += conv(2 * b, 4 * b, 3, h // 4, w // 4)
    macs += config.n_residual * 2 * conv(4 * b, 4 * b, 3, h // 4, w // 4)
    macs += conv(4 * b, 2 * b, 3, h // 2, w // 2)
    macs += conv(2 * b, b, 3, h, w)
    macs += conv(b, config.out_channels, 9, h, w)
    return 2 * macs / 1e9
