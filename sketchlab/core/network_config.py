"""GeneratorConfig: what rebuilds a generator, stored in every checkpoint (no torch here).

Kept apart from `network.py` so that listing models (the app's Model menu, `sketchlab
models`) reads configs without importing torch, which costs ~2 s at start-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Norm = Literal["instance", "batch", "none"]
Upsample = Literal["nearest", "transpose"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a Generator; stored inside every checkpoint."""

    in_channels: int = 3
    out_channels: int = 3
    base_width: int = 24
    n_residual: int = 6
    height: int = 160
    width: int = 128
    norm: Norm = "instance"
    upsample: Upsample = "nearest"

    def __post_init__(self) -> None:
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        return cls(**data)
