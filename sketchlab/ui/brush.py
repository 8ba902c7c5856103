"""Pressure-sensitive brush rendering in numpy: deterministic, so undo and replay are exact.

A stroke is a list of input samples (x, y, pressure, x-tilt, y-tilt). Round dabs are
stamped along it at a spacing proportional to their radius (the MyPaint/Krita model):

* pressure sets both the dab radius and its opacity, like a pencil;
* hardness is the fraction of the radius at full opacity before a linear falloff;
* tilt flattens the dab into an ellipse along the tilt direction, as a tilted pencil's
  side does, up to 1.8x longer at 60 degrees;
* within one stroke dabs combine by maximum alpha, so overlapping dabs don't build up
  dark knots, then the stroke is composited once over the pixels it started on.

The eraser is the same brush painting paper white.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MIN_RADIUS_FRACTION = 0.15  # radius at zero pressure, as a fraction of the full radius
MIN_OPACITY_FRACTION = 0.35
MAX_TILT_STRETCH = 0.8  # extra length of the dab at 60 degrees of tilt
PAPER = (255, 255, 255)


@dataclass(frozen=True)
class BrushParams:
    """What the toolbar sets; copied into each stroke so a stroke replays identically."""

    size: float = 6.0  # diameter in canvas pixels at full pressure
    hardness: float = 0.8  # 0 soft .. 1 hard
    opacity: float = 1.0
    color: tuple[int, int, int] = (20, 20, 20)
    eraser: bool = False

    def __post_init__(self) -> None:
        if not 0.5 <= self.size <= 400:
            raise ValueError("brush size must be between 0.5 and 400 px")
        if not 0.0 <= self.hardness <= 1.0 or not 0.0 < self.opacity <= 1.0:
            raise ValueError("hardness must be in [0, 1] and opacity in (0, 1]")


@dataclass
class Stroke:
    params: BrushParams
    points: list[tuple[float, float, float, float, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        p = self.params
        return {"tool": "eraser" if p.eraser else "brush", "size": p.size,
                "hardness": p.hardness, "opacity": p.opacity,
                "color": "#{:02x}{:02x}{:02x}".format(*p.color),
                "points": [[round(v, 3) for v in pt] for pt in self.points]}

    @classmethod
    def from_json(cls, d: dict) -> Stroke:
        c = str(d.get("color", "#141414")).lstrip("#")
        params = BrushParams(size=float(d["size"]), hardness=float(d["hardness"]),
                             opacity=float(d.get("opacity", 1.0)),
                             color=(int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)),
                             eraser=d.get("tool") == "eraser")
        pts = [tuple(float(v) for v in pt) for pt in d["points"]]
        if any(len(pt) != 5 for pt in pts):
            raise ValueError("each stroke point must be [x, y, pressure, xtilt, ytilt]")
        return cls(params, pts)  # type: ignore[arg-type]


def dab_radius(params: BrushParams, pressure: float) -> float:
    p = min(max(pressure, 0.0), 1.0)
    return 0.5 * params.size * (MIN_RADIUS_FRACTION + (1 - MIN_RADIUS_FRACTION) * p)


def dab_alpha(params: BrushParams, pressure: float) -> float:
    p = min(max(pressure, 0.0), 1.0)
    return params.opacity * (MIN_OPACITY_FRACTION + (1 - MIN_OPACITY_FRACTION) * p)


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def union(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class StrokeRenderer:
    """Renders one stroke live onto `pixels` (H, W, 3 uint8, modified in place)."""

    def __init__(self, pixels: np.ndarray, params: BrushParams) -> None:
        self.pixels = pixels
        self.params = params
        self.before = pixels.copy()
        self.mask = np.zeros(pixels.shape[:2], np.float32)
        self.bbox: Rect | None = None
        self._last: tuple[float, float, float, float, float] | None = None
        self._carry = 0.0  # distance travelled since the last dab
        self._color = np.array(PAPER if params.eraser else params.color, np.float32)

    def add(self, pt: tuple[float, float, float, float, float]) -> Rect | None:
        """Extend the stroke to `pt`; returns the rectangle of pixels that changed."""
        dirty: Rect | None = None
        if self._last is None:
            dirty = self._dab(*pt)
        else:
            x0, y0, p0, tx0, ty0 = self._last
            x1, y1, p1, tx1, ty1 = pt
            dist = math.hypot(x1 - x0, y1 - y0)
            travelled = 0.0
            while True:
                t_frac = travelled / dist if dist > 0 else 1.0
                r = dab_radius(self.params, p0 + (p1 - p0) * t_frac)
                step = max(0.5, 0.15 * r)
                need = step - self._carry
                if travelled + need > dist:
                    self._carry += dist - travelled
                    break
                travelled += need
                self._carry = 0.0
                f = travelled / dist
                dirty = union(dirty, self._dab(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f,
                                               p0 + (p1 - p0) * f, tx0 + (tx1 - tx0) * f,
                                               ty0 + (ty1 - ty0) * f))
        self._last = pt
        if dirty is not None:
            self._composite(dirty)
            self.bbox = union(self.bbox, dirty)
        return dirty

    def _dab(self, x: float, y: float, pressure: float, xtilt: float, ytilt: float
             ) -> Rect | None:
        r = dab_radius(self.params, pressure)
        a = dab_alpha(self.params, pressure)
        tilt = min(math.hypot(xtilt, ytilt), 60.0)
        stretch = 1.0 + MAX_TILT_STRETCH * tilt / 60.0
        h, w = self.mask.shape
        reach = r * stretch + 1.0
        x0, y0 = max(0, math.floor(x - reach)), max(0, math.floor(y - reach))
        x1, y1 = min(w, math.ceil(x + reach) + 1), min(h, math.ceil(y + reach) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx + 0.5 - x, yy + 0.5 - y
        if tilt > 0.5:
            # Rotate into the tilt direction and compress that axis: an elongated dab.
            ang = math.atan2(ytilt, xtilt)
            c, s = math.cos(ang), math.sin(ang)
            along, across = dx * c + dy * s, -dx * s + dy * c
            d = np.sqrt((along / stretch) ** 2 + across ** 2)
        else:
            d = np.sqrt(dx * dx + dy * dy)
        core = r * self.params.hardness
        # Linear falloff from the hard core to the rim, never narrower than ~1 px so hard
        # brushes stay anti-aliased.
        ramp = max(r - core, 0.75)
        alpha = np.clip((r + 0.5 - d) / ramp, 0.0, 1.0) * a
        np.maximum(self.mask[y0:y1, x0:x1], alpha, out=self.mask[y0:y1, x0:x1])
        return (x0, y0, x1, y1)

    def _composite(self, rect: Rect) -> None:
        x0, y0, x1, y1 = rect
        a = self.mask[y0:y1, x0:x1, None]
        src = self.before[y0:y1, x0:x1].astype(np.float32)
        out = src + (self._color - src) * a
        self.pixels[y0:y1, x0:x1] = (out + 0.5).astype(np.uint8)
