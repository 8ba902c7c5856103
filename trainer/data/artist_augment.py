"""Sketch-only augmentations that imitate how artists (and their scanners) differ.

A model that only ever saw one studio's sketches identifies faces drawn by that studio and
few others. Each function here takes a uint8 (H, W, 3) sketch in the canonical frame and
an rng and returns a new sketch of the same shape and dtype; the photo of the pair is
never touched, so the network learns to read past the artist's hand to the same face:

- line_weight: thinner or heavier strokes, the pressure varying over the face;
- hatching: hatched strokes laid into the darker tones, or graphite smudged around ink;
- paper: a phone photo or scan of the page (tinted paper, uneven light, blur), the app's
  own paper clean-up, then sensor noise and JPEG blocks: what reaches the network;
- proportion: a smooth warp of a few per cent (eyes apart, nose longer, face narrower);
- partial_hair: part of the hair and outline outside the central face faded or erased.

Region-based choices use the canonical frame (`sketchlab.core.frame`). They run after the
pair's flip and similarity warp, which moves a face by a few pixels: less than the width
of the regions' soft edges.
Sizes are in units of a 128-pixel-wide frame, so other frame sizes get the same look.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from sketchlab.core.frame import FACE_BOX, LEFT_EYE, MOUTH, RIGHT_EYE
from sketchlab.core.imageio import is_grey
from sketchlab.core.preprocess import normalise_paper

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _unit(shape: tuple[int, ...]) -> float:
    return shape[1] / 128.0


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, cells: int = 4
                  ) -> np.ndarray:
    """A smooth random surface over the frame, roughly in [0, 1]."""
    h, w = shape
    coarse = rng.random((cells, cells), dtype=np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def face_ellipse(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """(cx, cy, ax, ay) in pixels: the central face (brows to chin, cheek to cheek).

    dlib's face box runs from the brows to below the mouth; the ellipse through it is
    stretched upward a quarter so the forehead counts as face, not hair.
    """
    h, w = shape
    top, right, bottom, left = FACE_BOX
    cx = (LEFT_EYE[0] + RIGHT_EYE[0]) / 2 * w
    ay = (bottom - top) / 2 * 1.25 * h
    cy = bottom * h - ay * 0.9
    ax = (right - left) / 2 * w
    return cx, cy, ax, ay


def line_weight(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes thinned (a light hand) or thickened (a soft, heavy pencil) by up to about a
    pixel each side, the pressure drifting smoothly over the face. Grey morphology runs at
    twice the size, so steps are half a pixel and leave no blocky kernel marks; erosion
    and dilation of a blank page are blank."""
    h, w = sketch.shape[:2]
    up = cv2.resize(sketch, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    k = 2 * max(1, round(_unit(sketch.shape))) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    steps = int(rng.integers(1, 3))
    heavy = cv2.erode(up, kernel, iterations=steps)  # the minimum spreads dark ink
    light = cv2.dilate(up, kernel, iterations=steps)  # the maximum eats into it
    heavy, light = (cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
                    for x in (heavy, light))
    img = sketch.astype(np.float32)
    bias = float(rng.uniform(-0.9, 0.9))
    spread = float(rng.uniform(0.3, 0.9))
    wmap = np.clip(bias + spread * (2 * _smooth_field((h, w), rng) - 1), -1, 1)[..., None]
    out = img + np.maximum(wmap, 0) * (heavy - img) + np.maximum(-wmap, 0) * (light - img)
    return _to_u8(out)


def _streaks(shape: tuple[int, int], rng: np.random.Generator, angle: float,
             length: float) -> np.ndarray:
    """Noise smeared along `angle` degrees over `length` units: short parallel strokes,
    zero mean and unit spread."""
    px = max(5, round(length * _unit(shape)) | 1)
    kern = np.zeros((px, px), np.float32)
    kern[px // 2, :] = 1.0
    m = cv2.getRotationMatrix2D(((px - 1) / 2, (px - 1) / 2), -angle, 1.0)
    kern = cv2.warpAffine(kern, m, (px, px))
    kern /= max(float(kern.sum()), 1e-6)
    streak = cv2.filter2D(rng.random(shape, dtype=np.float32), -1, kern)
    return (streak - streak.mean()) / (streak.std() + 1e-6)


def _hatch_lines(shape: tuple[int, int], rng: np.random.Generator, angle: float
                 ) -> np.ndarray:
    """Parallel strokes at `angle` degrees, broken into dashes, in [0, 1] (1 = ink)."""
    h, w = shape
    spacing = float(rng.uniform(3.0, 5.0)) * _unit(shape)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle)
    wobble = (_smooth_field(shape, rng, 6) - 0.5) * spacing * 0.8
    u = xx * np.cos(t) + yy * np.sin(t) + wobble
    sharp = float(rng.uniform(3.0, 8.0))
    lines = (0.5 + 0.5 * np.cos(2 * np.pi * u / spacing)) ** sharp
    # Dashes, so each stroke starts and stops.
    dashes = np.clip(0.5 + 0.8 * _streaks(shape, rng, angle, float(rng.uniform(6, 14))), 0, 1)
    return lines * dashes


def hatching(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hatched shading in the darker tone regions (hair, shadows), cross-hatched where
    darkest, and/or graphite smudged around the existing ink. Nothing is laid on paper
    that has no tone near it, so a blank page stays blank."""
    img = sketch.astype(np.float32)
    h, w = sketch.shape[:2]
    unit = _unit(sketch.shape)
    grey = cv2.cvtColor(sketch, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    ink = np.zeros((h, w), np.float32)
    mode = rng.choice(["hatch", "smudge", "both"], p=[0.45, 0.25, 0.30])
    if mode in ("hatch", "both"):
        # Tone: the page's darkness over a few strokes' width; hatching goes where it is
        # below `light` (cheek and neck shadows, hair), fully where 0.15 below it. On a
        # heavily inked page `light` drops to a lower percentile of the page's tone, so
        # only its darker part is hatched, not the whole face.
        tone = cv2.GaussianBlur(grey, (0, 0), 4.0 * unit)
        light = min(float(rng.uniform(0.92, 0.98)),
                    float(np.percentile(tone, rng.uniform(40, 65))))
        dark = np.clip((light - tone) / 0.15, 0, 1)
        angle = float(rng.uniform(25, 70)) * (1 if rng.random() < 0.75 else -1)
        pressure = float(rng.uniform(0.35, 0.65))
        ink = np.maximum(ink, pressure * dark * _hatch_lines((h, w), rng, angle))
        if rng.random() < 0.5:
            cross = angle - float(rng.uniform(60, 100))
            darkest = np.clip((dark - 0.5) / 0.4, 0, 1)
            ink = np.maximum(ink, pressure * darkest * _hatch_lines((h, w), rng, cross))
    if mode in ("smudge", "both"):
        # A finger or stump drags graphite from the strokes into the paper beside them.
        spread = cv2.GaussianBlur(1.0 - grey, (0, 0), float(rng.uniform(1.5, 3.5)) * unit)
        ink = np.maximum(ink, float(rng.uniform(0.4, 0.9)) * spread)
    return _to_u8(img * (1.0 - ink[..., None]))


def photographed(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The page as a phone photo or a flatbed scan shows it: faint pencil, tinted or
    yellowed paper, uneven light (a gradient and a vignette), slight blur."""
    h, w = sketch.shape[:2]
    img = sketch.astype(np.float32) / 255.0
    img = 1.0 - (1.0 - img) * float(rng.uniform(0.45, 1.0))  # light pressure, faded scan
    if rng.random() < 0.7:  # cream or yellowed paper, warm light
        tint = np.array([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.78, 0.97)], np.float32)
    else:  # grey-blue paper, a cold white balance
        tint = np.array([rng.uniform(0.9, 0.98), rng.uniform(0.95, 1.0), 1.0], np.float32)
    img = img * tint * float(rng.uniform(0.8, 1.0))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = float(rng.uniform(0, 2 * np.pi))
    ramp = (xx / w - 0.5) * np.cos(t) + (yy / h - 0.5) * np.sin(t)
    light = 1.0 + float(rng.uniform(0.0, 0.45)) * ramp
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) / 0.5
    light *= 1.0 - float(rng.uniform(0.0, 0.35)) * r2
    img = img * light[..., None]
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 0.8)) * _unit(sketch.shape))
    return _to_u8(img * 255.0)


def sensor_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grain of a dim phone photo and the blocks of a small or heavily compressed JPEG."""
    out = img
    if rng.random() < 0.7:
        sigma = float(rng.uniform(1.0, 5.0))
        out = _to_u8(out + rng.normal(0.0, sigma, (*img.shape[:2], 1)).astype(np.float32))
    if rng.random() < 0.7:
        quality = int(rng.integers(25, 80))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def paper(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`photographed`, cleaned as the app cleans every sketch (`normalise_paper` flattens
    the paper to white and stretches faint strokes), then `sensor_noise`.

    The paper's tint and light are gone after the clean-up; what stays is its residue,
    the faint strokes' stretched contrast and the blur. Noise comes after the clean-up
    because the app cleans a page at its own resolution and the warp to the frame then
    averages most of the noise away: what reaches the frame is this weaker residue (a
    blank page stays blank-ish). A grey sketch is read as grey, as the app reads it.
    """
    grey = is_grey(sketch)
    out = sensor_noise(normalise_paper(photographed(sketch, rng)), rng)
    if grey:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return out


def _bump(d2: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * d2)


def proportion_shift(shape: tuple[int, int], rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The forward displacement (dx, dy) in pixels that `proportion` applies."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = (LEFT_EYE[0] + RIGHT_EYE[0]) / 2 * w
    eye_y = (LEFT_EYE[1] + RIGHT_EYE[1]) / 2 * h
    mouth_y = MOUTH[1] * h
    half_eyes = (RIGHT_EYE[0] - LEFT_EYE[0]) / 2 * w
    fx, fy, ax, ay = face_ellipse((h, w))
    # Each eye moves sideways: the spacing changes by up to 7 %.
    eyes = float(rng.uniform(-0.07, 0.07))
    band = _bump(((yy - eye_y) / (0.09 * h)) ** 2
                 + ((np.abs(xx - cx) - half_eyes) / (0.16 * w)) ** 2)
    dx = eyes * half_eyes * np.sign(xx - cx) * band
    # The mouth and nose tip move down or up: eye-to-mouth distance +-8 %.
    nose = float(rng.uniform(-0.08, 0.08))
    between = np.clip((yy - eye_y) / (mouth_y - eye_y), 0, 1)
    fade = _bump(((yy - mouth_y) / (0.12 * h)) ** 2 * (yy > mouth_y) + ((xx - cx) / ax) ** 2)
    dy = nose * (mouth_y - eye_y) * between * fade
    # The whole head narrower or wider (+-5 %), longer or shorter about the eyes (+-4 %).
    head = _bump(((xx - fx) / (1.6 * ax)) ** 2 + ((yy - fy) / (1.6 * ay)) ** 2)
    dx += float(rng.uniform(-0.05, 0.05)) * (xx - cx) * head
    dy += float(rng.uniform(-0.04, 0.04)) * (yy - eye_y) * head
    return dx, dy


def proportion(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth warp of a few per cent: the eyes set a little wider or closer, the nose
    longer or shorter, the face narrower or wider, longer or shorter.

    Artists and witnesses get proportions wrong by about this much while the face stays
    recognisable, and the photo stays the target; more would ask the network to draw a
    different person.
    """
    h, w = sketch.shape[:2]
    dx, dy = proportion_shift((h, w), rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # remap samples the source: a point moved by d is found at x - d (d is smooth and
    # small, so this is the inverse warp to well under a pixel).
    return cv2.remap(sketch, xx - dx, yy - dy, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def partial_hair(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Part of the hair and head outline faded toward paper or broken into a few strands,
    as a witness's sketch often leaves the hair sketchy; the central face is kept."""
    h, w = sketch.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, ax, ay = face_ellipse((h, w))
    r = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
    outside = np.clip((r - 1.0) / 0.25, 0, 1)
    # Which part: a sector of the head around the face (top, one side, both sides...).
    theta = np.arctan2(yy - cy, xx - cx)
    centre = float(rng.uniform(-np.pi, np.pi))
    half = float(rng.uniform(0.35, 1.0)) * np.pi
    off = np.abs(np.angle(np.exp(1j * (theta - centre))))
    sector = np.clip((half - off) / 0.5, 0, 1)
    strength = float(rng.uniform(0.6, 1.0))
    mask = outside * sector * strength
    if rng.random() < 0.5:  # sketchy: a few strands survive, the fill between them goes
        strands = _streaks((h, w), rng, float(rng.uniform(0, 180)), float(rng.uniform(8, 16)))
        mask *= 1.0 - np.clip(strands - float(rng.uniform(0.3, 1.0)), 0, 1)
    img = sketch.astype(np.float32)
    return _to_u8(255.0 - (255.0 - img) * (1.0 - mask[..., None]))


# Applied in this order whatever order a config names them: the artist draws (proportions,
# hair, line weight, shading), then the page is photographed.
ARTIST_AUGMENTS: dict[str, Augment] = {
    "proportion": proportion,
    "partial_hair": partial_hair,
    "line_weight": line_weight,
    "hatching": hatching,
    "paper": paper,
}


def check_names(names: Sequence[str]) -> None:
    """Refuse a name that is not an augmentation, saying which ones there are."""
    unknown = sorted(set(names) - set(ARTIST_AUGMENTS))
    if unknown:
        raise ValueError(f"unknown artist augmentations {unknown}; choose from "
                         f"{list(ARTIST_AUGMENTS)}")


def artist_augment(sketch: np.ndarray, names: Sequence[str], p: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Each named augmentation applied with probability p, in ARTIST_AUGMENTS' order."""
    check_names(names)
    for name, fn in ARTIST_AUGMENTS.items():
        if name in names and rng.random() < p:
            sketch = fn(sketch, rng)
    return sketch
