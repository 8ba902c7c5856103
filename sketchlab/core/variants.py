"""Plausible variants of an aligned sketch: what a witness's memory and an artist's hand
leave uncertain.

A sketch is one reading of a memory. Line weight, contrast, and the face's proportions
and tilt by a few percent are all within what a witness would accept, yet each moves the
synthesized photo, and with it the ranking. Searching with several readings and counting
how often a candidate stays near the top ("stability") tells an investigator which leads
depend on one stroke. Variants are deterministic, so a search can be repeated exactly.

The first variant is always the sketch as drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

# Name -> what it changes, in the words the panel and the report use.
VARIANT_KINDS: dict[str, str] = {
    "as drawn": "the sketch as drawn",
    "heavier lines": "lines thickened by about 1 px",
    "lighter lines": "lines thinned by about 1 px",
    "more contrast": "darker strokes (gamma 0.6 on the ink)",
    "wider face": "face 4% wider",
    "narrower face": "face 4% narrower",
    "tilted left": "head tilted 3 degrees",
    "tilted right": "head tilted -3 degrees",
}
DEFAULT_VARIANTS = len(VARIANT_KINDS)


def variant_record(name: str, index: int, of: int, ink_gamma: float = 1.0
                   ) -> dict[str, object]:
    """How one searched photo's input was varied, as a case records it with the photo
    (with the model's shading reading when it is not the sketch as drawn)."""
    record: dict[str, object] = {"name": name, "index": index, "of": of,
                                 "change": VARIANT_KINDS.get(name, name)}
    if ink_gamma != 1.0:
        record["ink_gamma"] = ink_gamma
        record["change"] = f"{record['change']}; {shading_phrase(ink_gamma)}"
    return record

# Where the face's centre sits in the canonical frame (between eyes and mouth), as a
# fraction of (height, width): warps pivot here so the eyes stay near their targets.
_PIVOT = (0.55, 0.5)


def _ink(rgb: np.ndarray) -> np.ndarray:
    return 1.0 - rgb.astype(np.float32) / 255.0


def _from_ink(ink: np.ndarray) -> np.ndarray:
    return np.clip((1.0 - ink) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _ink_power(rgb: np.ndarray, power: float) -> np.ndarray:
    """Ink darkness raised to `power`: below 1 darkens strokes, above 1 fades shading."""
    return _from_ink(np.power(_ink(rgb), power))


def _affine(rgb: np.ndarray, sx: float = 1.0, sy: float = 1.0, deg: float = 0.0
            ) -> np.ndarray:
    h, w = rgb.shape[:2]
    cy, cx = _PIVOT[0] * h, _PIVOT[1] * w
    rot = cv2.getRotationMatrix2D((cx, cy), deg, 1.0)
    scale = np.array([[sx, 0, cx * (1 - sx)], [0, sy, cy * (1 - sy)], [0, 0, 1]])
    m = rot @ scale
    return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _variant(rgb: np.ndarray, kind: str) -> np.ndarray:
    k = np.ones((2, 2), np.uint8)
    if kind == "as drawn":
        return rgb.copy()
    if kind == "heavier lines":  # dark strokes on light paper: a min filter widens them
        return cv2.addWeighted(rgb, 0.4, cv2.erode(rgb, k), 0.6, 0)
    if kind == "lighter lines":
        return cv2.addWeighted(rgb, 0.4, cv2.dilate(rgb, k), 0.6, 0)
    if kind == "more contrast":
        return _ink_power(rgb, 0.6)
    if kind == "wider face":
        return _affine(rgb, sx=1.04)
    if kind == "narrower face":
        return _affine(rgb, sx=0.96)
    if kind == "tilted left":
        return _affine(rgb, deg=3.0)
    if kind == "tilted right":
        return _affine(rgb, deg=-3.0)
    raise ValueError(f"unknown variant {kind!r}")


# The model's calibration field that says how its search reads a sketch's shading (1.0:
# as drawn). A model measured to search better with lighter shading carries it, and its
# adapter and 1:N tables are fitted on readings made with it.
INK_GAMMA_FIELD = "ink_gamma"


def ink_gamma_of(fields: dict[str, object]) -> float:
    """The shading reading a model's calibration `fields` ask for (1.0 when none)."""
    g = float(fields.get(INK_GAMMA_FIELD, 1.0) or 1.0)  # type: ignore[arg-type]
    if not 0.2 <= g <= 5.0:
        raise ValueError(f"{INK_GAMMA_FIELD} {g} is outside 0.2-5")
    return g


def lighten_shading(rgb: np.ndarray, gamma: float) -> np.ndarray:
    """The sketch with its ink darkness raised to `gamma` (> 1 lightens).

    Contours are an artist's darkest ink and tonal shading and hatching their lightest, so a
    power above 1 fades shading far more than lines (ink 0.2 -> 0.08, 0.8 -> 0.70 at 1.6).
    Shading is where artists differ most, and a generator that never saw an artist reads
    it least reliably; their contours it reads as it reads any other artist's."""
    if gamma == 1.0:
        return rgb
    return _ink_power(rgb, gamma)


def shading_phrase(gamma: float) -> str:
    """The shading reading in the words the CLI, case records and evaluations use ("" as
    drawn)."""
    return "" if gamma == 1.0 else f"shading lightened (ink gamma {gamma:g})"


def variant_names(n: int = DEFAULT_VARIANTS) -> list[str]:
    """The first n variant kinds, "as drawn" first."""
    if not 1 <= n <= len(VARIANT_KINDS):
        raise ValueError(f"between 1 and {len(VARIANT_KINDS)} variants")
    return list(VARIANT_KINDS)[:n]


def sketch_variants(frame: np.ndarray, n: int = DEFAULT_VARIANTS) -> list[np.ndarray]:
    """n variants of an aligned (H, W, 3) uint8 sketch, the first being the sketch itself."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 frame")
    return [_variant(frame, kind) for kind in variant_names(n)]
