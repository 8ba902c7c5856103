"""Synthetic sketches from photos, in the three styles of Güçlütürk et al. (2016).

- line: XDoG (Winnemöller et al. 2012) or dilated Canny edges, black on white;
- pencil: colour-dodge of the photo's grey by its blurred inverse ("pencil sketch" filter);
- colour: coloured-pencil strokes: the pencil texture's ink tinted with the photo's colours.

Each draw randomises stroke width, paper texture, blur and contrast from the rng it is
given, so the network does not learn to undo one fixed filter. The result is passed
through `sketchlab.core.preprocess.normalise_paper`, the same clean-up the app applies to
every sketch, so training inputs look like what the app feeds the network.
"""

from __future__ import annotations

import cv2
import numpy as np

from sketchlab.core.frame import SKETCH_STYLES
from sketchlab.core.preprocess import normalise_paper


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def xdog(gray: np.ndarray, sigma: float, k: float = 1.6, p: float = 20.0,
         eps: float = 0.6, phi: float = 10.0) -> np.ndarray:
    """eXtended Difference of Gaussians on a [0,255] grey image -> [0,1] (1 = paper)."""
    g = gray / 255.0
    a = cv2.GaussianBlur(g, (0, 0), sigma)
    b = cv2.GaussianBlur(g, (0, 0), sigma * k)
    d = (1 + p) * a - p * b
    return np.where(d >= eps, 1.0, 1.0 + np.tanh(phi * (d - eps))).astype(np.float32)


def line_sketch(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gray = _gray(rgb)
    if rng.random() < 0.7:
        out = xdog(gray, sigma=float(rng.uniform(0.6, 1.3)), p=float(rng.uniform(15, 40)),
                   eps=float(rng.uniform(0.05, 0.3)), phi=float(rng.uniform(10, 40)))
    else:
        smooth = cv2.bilateralFilter(gray.astype(np.uint8), 5, 40, 5)
        lo = int(rng.uniform(30, 70))
        edges = cv2.Canny(smooth, lo, lo * int(rng.integers(2, 4)))
        out = 1.0 - edges.astype(np.float32) / 255.0
    return out


def pencil_sketch(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gray = _gray(rgb)
    blur = cv2.GaussianBlur(255.0 - gray, (0, 0), float(rng.uniform(2.0, 7.0)))
    dodge = np.minimum(1.0, gray / np.maximum(255.0 - blur, 1.0))
    # Shading: keep some of the photo's tone, as a pencil artist does.
    tone = float(rng.uniform(0.0, 0.35))
    return (dodge * (1 - tone) + tone * dodge * (gray / 255.0)).astype(np.float32)


def _pencil_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Directional grain like hatching strokes, in [0,1] with mean ~1 (multiplicative)."""
    h, w = shape
    noise = rng.random((h, w), dtype=np.float32)
    length = int(rng.integers(5, 13))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    angle = float(rng.uniform(20, 70))
    m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, m, (length, length))
    kernel /= max(kernel.sum(), 1e-6)
    streaks = cv2.filter2D(noise, -1, kernel)
    streaks = (streaks - streaks.mean()) / (streaks.std() + 1e-6)
    return np.clip(1.0 + 0.08 * streaks, 0.0, 1.0)


def colour_sketch(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Coloured pencil: strokes take the photo's (deepened) colours on white paper.

    Colour lives in the strokes, not in flat washes, so it survives `normalise_paper`,
    which flattens large uniform areas to white.
    """
    shade = pencil_sketch(rgb, rng) * _pencil_texture(rgb.shape[:2], rng)
    ink = 1.0 - shade
    colours = cv2.bilateralFilter(rgb, 7, 50, 7).astype(np.float32) / 255.0
    deepen = float(rng.uniform(1.0, 1.6))
    pigment = np.power(colours, deepen)
    wash = float(rng.uniform(0.0, 0.25))
    gain = float(rng.uniform(1.5, 3.0))
    out = 1.0 - np.clip(ink * gain, 0, 1)[..., None] * (1.0 - pigment) - wash * (1.0 - colours)
    return np.clip(out, 0.0, 1.0)


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stroke width, contrast, blur and paper texture on a [0,1] image (1 = paper)."""
    width = int(rng.integers(0, 3))  # 0: as drawn, 1-2: thicker strokes
    if width:
        img = cv2.erode(img, np.ones((width + 1, width + 1), np.uint8))
    gamma = float(rng.uniform(0.7, 1.5))
    img = np.power(np.clip(img, 0.0, 1.0), gamma)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.0)))
    h, w = img.shape[:2]
    # Paper: a low-frequency tone plus fine grain, darkening strokes-and-paper together.
    lowf = cv2.resize(rng.random((4, 4), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    paper = 1.0 - float(rng.uniform(0, 0.08)) * lowf - float(rng.uniform(0, 0.04)) * grain
    if img.ndim == 3:
        paper = paper[..., None]
    return np.clip(img * paper, 0.0, 1.0)


def synthesize(rgb: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (H, W, 3) uint8 sketch of `style`, deterministic in rng."""
    if style == "line":
        img = line_sketch(rgb, rng)
    elif style == "pencil":
        img = pencil_sketch(rgb, rng)
    elif style == "colour":
        img = colour_sketch(rgb, rng)
    else:
        raise ValueError(f"unknown sketch style {style!r}; choose one of {SKETCH_STYLES}")
    img = _finish(img.astype(np.float32), rng)
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return normalise_paper(out)
