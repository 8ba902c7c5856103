"""The loss history of a training run: kept in its checkpoint, drawn by `trainer.plots`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOSS_KEYS = ("g_l1", "g_adv", "g_fm", "g_tv", "g_ssim", "g_id", "g_perc", "g_con", "g_total", "d")


@dataclass
class History:
    """Mean losses per logging interval, kept in the checkpoint and plotted."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LOSS_KEYS})

    def add(self, step: int, means: dict[str, float]) -> None:
        self.steps.append(step)
        for k in LOSS_KEYS:
            self.values[k].append(float(means.get(k, 0.0)))

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.steps = list(d["steps"])
        h.values.update({k: list(v) for k, v in d["values"].items()})
        return h
