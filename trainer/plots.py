"""PNG figures drawn with OpenCV (no plotting library needed): loss curves, sample grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sketchlab.core.preprocess import from_tensor_array

if TYPE_CHECKING:
    from trainer.history import History

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75)]


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(buf.tobytes())


def save_loss_plot(history: History, path: Path, size: tuple[int, int] = (360, 960)) -> None:
    """One panel per loss (each with its own y range), step on x."""
    keys = [k for k, v in history.values.items() if any(x != 0 for x in v)]
    h, w = size
    canvas = np.full((h, w, 3), 255, np.uint8)
    if not history.steps or not keys:
        _write(path, canvas)
        return
    cols = 3
    rows = (len(keys) + cols - 1) // cols
    ph, pw = h // rows, w // cols
    steps = np.asarray(history.steps, np.float64)
    for n, key in enumerate(keys):
        y0, x0 = (n // cols) * ph, (n % cols) * pw
        vals = np.asarray(history.values[key], np.float64)
        # Terms that start later (the adversarial ramp) are plotted from where they start.
        first = int(np.flatnonzero(vals)[0])
        vals, st = vals[first:], steps[first:]
        lo, hi = float(np.min(vals)), float(np.max(vals))
        hi = hi if hi > lo else lo + 1e-9
        left, top, right, bottom = x0 + 50, y0 + 22, x0 + pw - 10, y0 + ph - 22
        cv2.rectangle(canvas, (left, top), (right, bottom), (200, 200, 200), 1)
        sx = (st - steps.min()) / max(steps.max() - steps.min(), 1.0)
        xs = left + sx * (right - left)
        ys = bottom - (vals - lo) / (hi - lo) * (bottom - top)
        pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(canvas, [pts], False, _COLOURS[n % len(_COLOURS)], 1, cv2.LINE_AA)
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(canvas, key, (left, y0 + 16), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"{hi:.3g}", (x0 + 2, top + 10), font, 0.33, (60, 60, 60), 1)
        cv2.putText(canvas, f"{lo:.3g}", (x0 + 2, bottom), font, 0.33, (60, 60, 60), 1)
        cv2.putText(canvas, f"step {int(steps.max())}", (right - 80, bottom + 15), font, 0.33,
                    (60, 60, 60), 1)
    _write(path, canvas)


def grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> np.ndarray:
    """Tile equally sized uint8 RGB images, rows x columns, on a white background."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = img
    return out


def save_sample_grid(sketch: np.ndarray, fake: np.ndarray, photo: np.ndarray, path: Path
                     ) -> None:
    """Rows: sketch, inversion, photo; one column per sample. Inputs (N,3,H,W) in [-1,1]."""
    rows = [[from_tensor_array(x) for x in batch] for batch in (sketch, fake, photo)]
    _write(path, grid(rows))


def save_png(path: Path, rgb: np.ndarray) -> None:
    _write(path, rgb)
