"""Write the synthesized photo: at the network's native size, or an upscaled copy that
says so in its file name and in the PNG's own text fields.

The network makes 128x160 px. A bigger copy is easier to read in a report or on a
screen, but upscaling adds no detail, so an upscaled file must never pass for the
network's output: its name ends in `-upscaled-Nx` and its `Description` field records
the native size, the factor and the method.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from sketchlab.core.atomic import atomic_write

UPSCALE_FACTOR = 4


def upscaled_name(path: Path, factor: int) -> Path:
    """`photo.png` -> `photo-upscaled-4x.png` (kept when the name already says so)."""
    tag = f"-upscaled-{factor}x"
    return path if path.stem.endswith(tag) else path.with_name(f"{path.stem}{tag}.png")


def export_photo(path: str | os.PathLike[str], rgb: np.ndarray, *, factor: int = 1,
                 model: str = "", sha256: str = "") -> Path:
    """Save `rgb` as PNG (atomically); factor > 1 writes a labelled Lanczos upscale."""
    path = Path(path).with_suffix(".png")
    img = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    h, w = rgb.shape[:2]
    info = PngImagePlugin.PngInfo()
    source = f"SketchLab synthesized photo (model {model or 'unknown'}"
    source += f", weights sha256 {sha256})" if sha256 else ")"
    info.add_text("Software", "SketchLab")
    if factor > 1:
        path = upscaled_name(path, factor)
        img = img.resize((w * factor, h * factor), Image.Resampling.LANCZOS)
        info.add_text("Description", f"{source}, UPSCALED {factor}x from the network's "
                                     f"native {w}x{h} px with Lanczos resampling; the "
                                     "upscale adds no detail.")
    else:
        info.add_text("Description", f"{source}, native size {w}x{h} px.")
    with atomic_write(path) as fh:
        img.save(fh, format="PNG", pnginfo=info)
    return path
