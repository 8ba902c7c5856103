"""The canonical frame: where a face sits in every image the network reads and writes, and
the sketch styles it is drawn in. Defined once here; everything else imports it.

The frame is the CUFS framing (head, hair and neck, 4:5), scaled to the network's
resolution (`FRAME_SIZE` by default; a model file may name another size, so positions
are fractions of the frame). Eye and mouth positions were measured with dlib landmarks on
60 CUFS photos: eyes at (74.0, 126.4) and (125.6, 126.5), mouth at (100.3, 181.7) in the
200x250 originals, with under 1 px spread.
"""

from __future__ import annotations

from typing import Literal, get_args

FRAME_SIZE = (160, 128)  # (height, width) of the default network's frame

# Fractions of (width, height) of the frame.
LEFT_EYE = (0.370, 0.5056)
RIGHT_EYE = (0.628, 0.5060)
MOUTH = (0.5015, 0.7268)
# Where the ink of a CUFS sketch (hair top to chin/neck) sits in the frame, as fractions
# (x0, y0, x1, y1); used when no landmarks are found.
HEAD_BOX = (0.13, 0.10, 0.87, 0.97)
# dlib's face box, (top, right, bottom, left) as fractions of (height, width): measured
# with dlib's HOG detector on 40 aligned CUFS photos, spread under 4 px. A synthesized
# photo is embedded at this box: the detector often fails on synthesized faces.
FACE_BOX = (0.3875, 0.8094, 0.8575, 0.2297)

# dlib cuts its 150x150 chip with a similarity transform fitted to 5 landmarks. Faces in
# the frame are already aligned, so the chip is one fixed affine of the frame: chip pixel
# (c, r, 1) -> frame pixel (x, y) at FRAME_SIZE. Measured with dlib's 5-point predictor
# and get_face_chip_details(shape, 150, 0.25) on 60 aligned CUFS train photos (the mean;
# spread 0.014 in scale, 1.1 px in offset). Re-measure with
# `face_net.measure_canonical_chip` (tests/core/test_face_net.py checks it still holds).
CHIP_AFFINE = ((0.608459, 0.001204, 19.0868),
               (-0.001204, 0.608459, 53.0535))

Box = tuple[int, int, int, int]  # (top, right, bottom, left), face_recognition's order

# How a sketch was drawn: what the trainer synthesizes and the app can be told ("auto":
# judged from the picture).
SketchStyle = Literal["line", "pencil", "colour"]
Style = Literal["auto", SketchStyle]
SKETCH_STYLES: tuple[str, ...] = get_args(SketchStyle)
STYLES: tuple[str, ...] = get_args(Style)


def face_box(frame: tuple[int, int]) -> Box:
    """FACE_BOX in pixels of a frame of size (height, width)."""
    h, w = frame
    top, right, bottom, left = FACE_BOX
    return (round(top * h), round(right * w), round(bottom * h), round(left * w))
