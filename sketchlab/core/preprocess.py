"""Turn any sketch or photo into the network's canonical frame, and say how it got there.

The canonical frame (its size, eye and mouth targets, head box) is `core.frame`'s. Faces
are aligned by a similarity transform
(landmarks where dlib finds them, the ink's bounding box otherwise) and padded, never
stretched, so the face keeps its aspect ratio. The transform is returned so results can
be mapped back onto the source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sketchlab.core.frame import FRAME_SIZE, HEAD_BOX, LEFT_EYE, MOUTH, RIGHT_EYE, Style
from sketchlab.core.imageio import ImageSource, load_image, load_image_sized

log = logging.getLogger(__name__)

Source = Literal["auto", "canvas", "scan", "photo"]
Method = Literal["canvas", "landmarks", "ink_bbox", "empty", "centre"]

_DETECT_MAX_SIDE = 640
_WORK_MAX_SIDE = 2048
_INK_LEVEL = 200  # after normalisation, pixels darker than this count as ink
_BG_SIDE = 512  # short side on which normalise_paper estimates a large page's background
_DARK_PAPER = 64.0  # paper darker than this is measured against this level (normalise_paper)
_FLAT_SPREAD = 8  # levels this close to the page's own are the page (is_flat)


@dataclass(frozen=True)
class AlignTransform:
    """Affine map from source pixels to canonical-frame pixels."""

    matrix: np.ndarray  # 2x3 float64
    source_size: tuple[int, int]  # (height, width) of the original input
    frame_size: tuple[int, int]  # (height, width) of the canonical frame
    method: Method

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_source(self, points: np.ndarray) -> np.ndarray:
        inv = self.inverse
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ inv[:, :2].T + inv[:, 2]


@dataclass(frozen=True)
class Prepared:
    """A sketch or photo in the canonical frame, with the transform that put it there."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    transform: AlignTransform
    colour: bool
    empty: bool = False


def as_prepared(frame: np.ndarray, colour: bool) -> Prepared:
    """A frame that is already canonical (the app's network input) as a Prepared."""
    h, w = frame.shape[:2]
    ident = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return Prepared(frame, AlignTransform(ident, (h, w), (h, w), "canvas"), colour=colour)


def is_colour(rgb: np.ndarray, threshold: float = 12.0) -> bool:
    """True when the image carries real chroma (not grey content stored as RGB)."""
    small = np.ascontiguousarray(downscale(rgb, 256)[0])
    spread = cv2.subtract(channel_max(small), channel_min(small))
    return percentile_u8(spread, 95) > threshold


def percentile_u8(a: np.ndarray, q: float) -> float:
    """`np.percentile(a, q)` (linear interpolation) of a uint8 array, from its histogram:
    the same value without sorting (the live preview asks for it on every request)."""
    n = a.size
    cdf = np.cumsum(cv2.calcHist([np.ascontiguousarray(a)], [0], None, [256], [0, 256])
                    .ravel())
    pos = (n - 1) * q / 100.0
    k = int(np.floor(pos))
    lo = int(np.searchsorted(cdf, k + 1))  # the k-th smallest value (0-based)
    hi = int(np.searchsorted(cdf, min(k + 1, n - 1) + 1))
    return lo + (pos - k) * (hi - lo)


def is_flat(gray: np.ndarray, specks: int = 20) -> bool:
    """One level all over (black, white, grey, any size), noise and a few specks aside:
    nothing is drawn, whatever the colour of the page. Judged on 4x4 block means, which
    average a photo's sensor noise away and keep every stroke; a sparse sketch is not
    flat, its strokes are few pixels but far from the paper's level."""
    h, w = gray.shape[:2]
    if min(h, w) >= 32:
        gray = cv2.resize(gray, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    level = percentile_u8(gray, 50)
    darker = cv2.countNonZero((gray < level - _FLAT_SPREAD).view(np.uint8))
    lighter = cv2.countNonZero((gray > level + _FLAT_SPREAD).view(np.uint8))
    return darker < specks and lighter < specks


def channel_min(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel darkest channel; `rgb.min(axis=2)` is ~50x slower (a reduction over an
    axis of 3) and this runs on every live preview."""
    r, g, b = cv2.split(rgb)
    return cv2.min(cv2.min(r, g), b)


def channel_max(rgb: np.ndarray) -> np.ndarray:
    r, g, b = cv2.split(rgb)
    return cv2.max(cv2.max(r, g), b)


def downscale(img: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`img` shrunk (area-averaged) so its longer side is at most `max_side`, and the scale."""
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return img, 1.0
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), s


def normalise_paper(rgb: np.ndarray) -> np.ndarray:
    """Flatten paper tone and uneven lighting to white, and stretch faint strokes.

    Dividing by a background estimate (a large closing that erases strokes) removes the
    shadows and yellow cast of a phone photo of paper; a drawn canvas passes unchanged.
    """
    img = rgb.astype(np.float32)
    h, w = img.shape[:2]
    # The background is smooth by construction, so a large page's is estimated on a copy
    # whose short side is _BG_SIDE: a 2048 px scan took 5.7 s here at full size (the
    # closing's kernel grows with the page), 0.1 s this way. Smaller inputs (CUFS, the
    # canvas) take the exact path, unchanged.
    f = min(1.0, _BG_SIDE / min(h, w))
    small = img if f >= 1.0 else cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))),
                                            interpolation=cv2.INTER_AREA)
    k = max(15, (min(small.shape[:2]) // 12) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    bg = cv2.GaussianBlur(bg, (0, 0), k / 3)
    if f < 1.0:
        bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    # Ink is measured as darkness below the local paper, relative to the paper's
    # brightness; on paper darker than _DARK_PAPER, relative to that level instead, or
    # a black page's sensor noise (0 against 3) would read as full-strength strokes.
    # Computed in place (the same float32 operations): each copy of a 2048 px page is
    # 34 MB, and five of them made this the peak of a large scan's path.
    scale = np.maximum(bg, _DARK_PAPER)
    np.divide(255.0, scale, out=scale)
    flat = np.subtract(bg, img, out=bg)
    del img, small
    flat *= scale
    del scale
    np.subtract(255.0, flat, out=flat)
    np.clip(flat, 0, 255, out=flat)
    gray = flat.mean(axis=2)
    ink = gray[gray < 250]
    if ink.size < 0.0005 * gray.size:
        return np.full_like(rgb, 255)
    lo = float(np.percentile(ink, 2))
    # Map the darkest strokes to near-black, keep paper white; never amplify more than 4x
    # so noise on an almost empty page stays noise.
    gain = min(4.0, (255.0 - 20.0) / max(255.0 - lo, 1.0))
    np.subtract(255.0, flat, out=flat)
    flat *= gain
    np.subtract(255.0, flat, out=flat)
    flat += 0.5
    return np.clip(flat, 0, 255, out=flat).astype(np.uint8)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32),
                                       method=cv2.LMEDS)
    if m is None:
        raise ValueError("degenerate landmarks")
    return m.astype(np.float64)


def canonical_points(frame: tuple[int, int]) -> np.ndarray:
    h, w = frame
    return np.array([[LEFT_EYE[0] * w, LEFT_EYE[1] * h],
                     [RIGHT_EYE[0] * w, RIGHT_EYE[1] * h],
                     [MOUTH[0] * w, MOUTH[1] * h]])


def reinked(rgb: np.ndarray) -> np.ndarray:
    """A line drawing given pencil-like tone: the strokes thickened and their surroundings
    shaded, which is what dlib's HOG detector was trained to see as a face."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    ink = 255.0 - gray.astype(np.float32)
    sigma = max(1.5, max(gray.shape) / 160.0)
    tone = cv2.GaussianBlur(ink, (0, 0), sigma) * 2.5 + cv2.GaussianBlur(ink, (0, 0),
                                                                         3 * sigma) * 1.5
    out = np.clip(255.0 - np.maximum(ink, tone), 0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


# Tried in order until one finds a face: most sketches need only the first; line drawings
# by other artists often need the re-inked copy or the CNN detector (~0.5 s at this size).
DETECTORS: tuple[str, ...] = ("hog", "hog_reinked", "cnn")


def find_landmarks(rgb: np.ndarray, detectors: tuple[str, ...] = DETECTORS
                   ) -> np.ndarray | None:
    """Left eye, right eye and mouth centres of the largest face, or None.

    dlib's HOG detector finds faces in most pencil sketches as well as photos (all CUFS
    and FS2K sketches); line drawings often fail it, so a re-inked copy and then dlib's
    CNN detector are tried before alignment falls back to the ink box.
    """
    from sketchlab.core.dlib_api import face_landmarks
    from sketchlab.core.matching import detect_faces

    small, s = downscale(rgb, _DETECT_MAX_SIDE)
    small = np.ascontiguousarray(small)
    boxes: list = []
    for name in detectors:
        if name == "hog":
            boxes = detect_faces(small, upsample=1)
            if not boxes and max(small.shape[:2]) < 320:
                boxes = detect_faces(small, upsample=2)
        elif name == "hog_reinked":
            boxes = detect_faces(reinked(small), upsample=1)
        elif name == "cnn":
            boxes = detect_faces(small, upsample=0, model="cnn")
        else:
            raise ValueError(f"unknown face detector {name!r}; choose from {DETECTORS}")
        if boxes:
            if name != "hog":
                log.info("face found by the %s detector", name)
            break
    if not boxes:
        return None
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    lm = face_landmarks(small, box)
    pts = np.array([np.mean(lm["left_eye"], axis=0), np.mean(lm["right_eye"], axis=0),
                    np.mean(lm["top_lip"] + lm["bottom_lip"], axis=0)], dtype=np.float64)
    return pts / s


def ink_bbox(gray: np.ndarray) -> tuple[float, float, float, float] | None:
    """Robust (x0, y0, x1, y1) of the strokes, ignoring specks and scanner edges."""
    mask = (gray < _INK_LEVEL).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    ys, xs = np.nonzero(mask)
    if xs.size < 20:
        return None
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return float(x0), float(y0), float(x1 + 1), float(y1 + 1)


def _fit_box(box: tuple[float, float, float, float], frame: tuple[int, int],
             target: tuple[float, float, float, float]) -> np.ndarray:
    """Scale (uniformly) and translate `box` into the target box of the frame, centred."""
    h, w = frame
    x0, y0, x1, y1 = box
    tx0, ty0, tx1, ty1 = target[0] * w, target[1] * h, target[2] * w, target[3] * h
    s = min((tx1 - tx0) / (x1 - x0), (ty1 - ty0) / (y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    tcx, tcy = (tx0 + tx1) / 2, (ty0 + ty1) / 2
    return np.array([[s, 0, tcx - s * cx], [0, s, tcy - s * cy]], dtype=np.float64)


def _with_prescale(m: np.ndarray, s: float) -> np.ndarray:
    """Compose a transform found on an image downscaled by s with that downscale."""
    out = m.copy()
    out[:, :2] *= s
    return out


def estimate_transform(rgb: np.ndarray, frame: tuple[int, int], source: Source = "auto",
                       use_landmarks: bool = True, detectors: tuple[str, ...] = DETECTORS
                       ) -> AlignTransform:
    """How to bring `rgb` into the canonical frame (sketches and photos alike)."""
    h0, w0 = rgb.shape[:2]
    if source == "canvas":
        m = _fit_box((0, 0, w0, h0), frame, (0, 0, 1, 1))
        return AlignTransform(m, (h0, w0), frame, "canvas")
    if use_landmarks:
        try:
            pts = find_landmarks(rgb, detectors)
        except Exception:  # dlib can raise on odd inputs; alignment then falls back
            log.exception("landmark detection failed")
            pts = None
        if pts is not None:
            try:
                m = _similarity(pts, canonical_points(frame))
                return AlignTransform(m, (h0, w0), frame, "landmarks")
            except ValueError:
                pass
    if source == "photo":
        side = min(h0, w0)
        box = ((w0 - side) / 2, (h0 - side) / 2, (w0 + side) / 2, (h0 + side) / 2)
        return AlignTransform(_fit_box(box, frame, HEAD_BOX), (h0, w0), frame, "centre")
    work, s = downscale(rgb, _WORK_MAX_SIDE)
    box = ink_bbox(channel_min(normalise_paper(work)))
    if box is None:
        return AlignTransform(_fit_box((0, 0, w0, h0), frame, (0, 0, 1, 1)), (h0, w0), frame,
                              "empty")
    m = _fit_box(box, frame, HEAD_BOX)
    return AlignTransform(_with_prescale(m, s), (h0, w0), frame, "ink_bbox")


def warp(rgb: np.ndarray, transform: AlignTransform, border: int | None = 255) -> np.ndarray:
    """Apply a transform; border=None reflects the edge (for photos), else pads with a grey."""
    h, w = transform.frame_size
    scale = float(np.sqrt(abs(np.linalg.det(transform.matrix[:, :2]))))
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    if scale < 0.5:
        # INTER_AREA is ignored by warpAffine; pre-blur so strokes don't alias away.
        rgb = cv2.GaussianBlur(rgb, (0, 0), 0.4 / scale)
        flags = cv2.INTER_LINEAR
    if border is None:
        return cv2.warpAffine(rgb, transform.matrix, (w, h), flags=flags,
                              borderMode=cv2.BORDER_REFLECT101)
    return cv2.warpAffine(rgb, transform.matrix, (w, h), flags=flags,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(border,) * 3)


def prepare_sketch(image: ImageSource, frame: tuple[int, int] = FRAME_SIZE,
                   source: Source = "auto", style: Style = "auto",
                   use_landmarks: bool = True) -> Prepared:
    """Any sketch input (canvas, scan, phone photo, colour sketch, artwork) -> canonical frame.

    A page with nothing drawn on it (white, black, grey or paper, any size) gives a
    defined result: a white frame with `empty=True`, which searches nothing.
    """
    if source == "canvas":
        work, s, full = load_image_sized(image)
    else:
        # Decoded no larger than the work size needs: a 31 MP scan never exists in full.
        work, s, full = load_image_sized(image, max_side=_WORK_MAX_SIDE)
        work, s2 = downscale(work, _WORK_MAX_SIDE)
        s *= s2
    clean = work if source == "canvas" else normalise_paper(work)
    # Judge colour after paper normalisation: yellow paper or warm light is not a colour sketch.
    colour = style == "colour" or (style == "auto" and is_colour(clean))
    # A grey sketch is checked, blurred and warped on one channel and spread to three in
    # the frame: the same pixels (each step works per channel), a third of the work.
    grey = None if colour else cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)
    darkest = channel_min(clean) if grey is None else grey
    page = darkest if clean is work else cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    if cv2.countNonZero((darkest < _INK_LEVEL).view(np.uint8)) < 20 or is_flat(page):
        m = _fit_box((0, 0, full[1], full[0]), frame, (0, 0, 1, 1))
        blank = np.full((frame[0], frame[1], 3), 255, np.uint8)
        return Prepared(blank, AlignTransform(m, full, frame, "empty"), colour=colour,
                        empty=True)
    if grey is None:
        t = estimate_transform(clean, frame, source, use_landmarks=use_landmarks)
        image = warp(clean, t, 255)
    else:
        # The canvas transform needs only the size; other sources look at the picture.
        looked_at = grey if source == "canvas" else np.repeat(grey[..., None], 3, axis=2)
        t = estimate_transform(looked_at, frame, source, use_landmarks=use_landmarks)
        image = np.repeat(warp(grey, t, 255)[..., None], 3, axis=2)
    transform = AlignTransform(_with_prescale(t.matrix, s), full, frame, t.method)
    return Prepared(image, transform, colour=colour)


def prepare_photo(image: ImageSource, frame: tuple[int, int] = FRAME_SIZE,
                  use_landmarks: bool = True) -> Prepared:
    """A face photo -> canonical frame (landmarks, else a centred square crop)."""
    rgb = load_image(image)
    transform = estimate_transform(rgb, frame, "photo", use_landmarks=use_landmarks)
    return Prepared(warp(rgb, transform, None), transform, colour=is_colour(rgb))


def align_pair(sketch: ImageSource, photo: ImageSource, frame: tuple[int, int] = FRAME_SIZE,
               transform: AlignTransform | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                AlignTransform]:
    """Align a drawn-from-photo pair with one transform, found on the photo.

    The artist traced the photo, so landmarks from the photo (more reliable than the
    sketch's) place both. Sketch pixels are paper-normalised; photos are left as taken.
    """
    s_rgb, p_rgb = load_image(sketch), load_image(photo)
    if s_rgb.shape[:2] != p_rgb.shape[:2]:
        s_rgb = cv2.resize(s_rgb, (p_rgb.shape[1], p_rgb.shape[0]), interpolation=cv2.INTER_AREA)
    if transform is None:
        transform = estimate_transform(p_rgb, frame, "photo")
    return (warp(normalise_paper(s_rgb), transform, 255), warp(p_rgb, transform, None),
            transform)


def to_tensor_array(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1], the network's input scale."""
    return (rgb.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


def from_tensor_array(chw: np.ndarray) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> (H, W, 3) uint8."""
    return np.clip((chw.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
