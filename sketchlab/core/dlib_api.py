"""face_recognition and its model files, imported on first use and without side effects.

The one place they are imported: `core.matching` (detection, descriptors), `core.face_net`
(the PyTorch port reads dlib's weights) and `core.preprocess` (landmarks) all come here.
Importing face_recognition loads all four of its models (~110 MB); detection and
landmarks load only the two they use (`face_locations`, `face_landmarks`), so aligning a
sketch does not pay for the descriptor network.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np


def face_recognition_models() -> ModuleType:
    """face_recognition_models, imported without its noise: it imports pkg_resources,
    whose deprecation UserWarning would land on stderr in most runs and mean nothing to
    a user, who cannot change the dependency. The one place it is imported."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                                category=UserWarning)
        import face_recognition_models as frm
    return frm


def face_recognition_api() -> ModuleType:
    """face_recognition, imported on first use (its import takes seconds).

    Its import sets PIL's global `ImageFile.LOAD_TRUNCATED_IMAGES = True`, after which
    truncated files would load silently as half-grey images; put the flag back so
    sketchlab.core.imageio keeps refusing them.
    """
    from PIL import ImageFile

    face_recognition_models()  # imported quietly first; face_recognition reuses it
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    import face_recognition

    ImageFile.LOAD_TRUNCATED_IMAGES = before
    return face_recognition


@functools.cache
def hog_detector() -> Any:
    """dlib's HOG face detector (loaded once, ~2 s)."""
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector() -> Any:
    """dlib's MMOD CNN face detector (shipped with face_recognition_models; ~60x slower
    than HOG on a CPU: a fallback for drawings HOG does not see as faces)."""
    import dlib

    return dlib.cnn_face_detection_model_v1(
        face_recognition_models().cnn_face_detector_model_location())


@functools.cache
def _landmark_predictor() -> Any:
    import dlib

    return dlib.shape_predictor(face_recognition_models().pose_predictor_model_location())


def face_locations(rgb: np.ndarray, upsample: int = 1, detector: Any = None
                   ) -> list[tuple[int, int, int, int]]:
    """`face_recognition.face_locations(rgb, upsample)` (HOG): (top, right, bottom, left)
    boxes clipped to the image, from dlib's HOG detector alone."""
    h, w = rgb.shape[:2]
    found = (detector or hog_detector())(rgb, upsample)
    rects = [getattr(r, "rect", r) for r in found]  # the CNN's detections wrap a rectangle
    return [(max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0))
            for r in rects]


# face_recognition's named groups of the 68 points (its face_landmarks, model="large").
_LIPS_TOP = [*range(48, 55), 64, 63, 62, 61, 60]
_LIPS_BOTTOM = [*range(54, 60), 48, 60, 67, 66, 65, 64]


def face_landmarks(rgb: np.ndarray, box: tuple[int, int, int, int]
                   ) -> dict[str, list[tuple[int, int]]]:
    """`face_recognition.face_landmarks(rgb, [box], model="large")[0]`'s eyes and lips,
    from the 68-point predictor alone."""
    import dlib

    top, right, bottom, left = box
    shape = _landmark_predictor()(rgb, dlib.rectangle(left, top, right, bottom))
    pts = [(p.x, p.y) for p in shape.parts()]
    return {"left_eye": pts[36:42], "right_eye": pts[42:48],
            "top_lip": [pts[i] for i in _LIPS_TOP], "bottom_lip": [pts[i] for i in _LIPS_BOTTOM]}
