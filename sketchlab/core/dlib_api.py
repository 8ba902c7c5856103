"""face_recognition and its model files, imported on first use and without side effects.

The one place they are imported: `core.matching` (detection, descriptors), `core.face_net`
(the PyTorch port reads dlib's weights) and `core.preprocess` (landmarks) all come here.
"""

from __future__ import annotations

from types import ModuleType


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
