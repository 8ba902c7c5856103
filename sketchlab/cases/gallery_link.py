"""Searching a gallery for a case, and naming that gallery in the record.

A match run records which gallery it searched: its location (password hidden), its size,
and a fingerprint, the SHA-256 of exactly what was searched (embedding model, photo ids
and the descriptor matrix). Enrolling or removing one photo changes the fingerprint, so
a later reader can tell whether a rerun searched the same gallery.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sketchlab.cases.records import GalleryIdentity
from sketchlab.cases.store import CaseError, CaseStore

if TYPE_CHECKING:
    from sketchlab.db.gallery import Gallery
    from sketchlab.db.search import Matcher


def display_location(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def gallery_identity(gallery: Gallery, matcher: Matcher) -> GalleryIdentity:
    """Location, fingerprint and size of the gallery as `matcher` searches it now."""
    m = matcher
    m.refresh()
    index = m.index
    digest = hashlib.sha256()
    digest.update(m.model.encode())
    digest.update(index.ids.astype("<i8").tobytes())
    digest.update(index.vectors.astype("<f4").tobytes())
    return GalleryIdentity(location=display_location(gallery.url),
                           fingerprint=digest.hexdigest(), size=len(index))


def match_inversion(store: CaseStore, ref: str, gallery: Gallery, inversion: int | None = None,
                    k: int = 10, threshold: float | None = None,
                    distinct_subjects: bool = True) -> int:
    """Search the gallery with a recorded synthesized photo (latest by default) and record
    the candidates, with thumbnails; returns the match run number. Scores use the score
    calibration of the model that made the photo when it is installed (same weights)."""
    # deferred: opening the case store does not load the search stack (cv2, dlib)
    from sketchlab.core.imageio import load_image
    from sketchlab.core.pipeline import match_photo
    from sketchlab.db.search import Matcher

    case = store.get(ref)
    if not case.inversions:
        raise CaseError(f"case {case.info.number} has no inversion to search with; run "
                        "`sketchlab case invert` first")
    number = inversion if inversion is not None else case.inversions[-1].number
    if not 1 <= number <= len(case.inversions):
        raise CaseError(f"case {case.info.number} has no inversion {number}")
    inv = case.inversions[number - 1]
    photo = load_image(store.artefacts.read(inv.photo_sha256))
    matcher = Matcher(gallery)
    identity = gallery_identity(gallery, matcher)
    if identity.size == 0:
        raise CaseError("the gallery is empty; add photos with `sketchlab gallery enroll`")
    found = match_photo(photo, matcher, k, threshold=threshold,
                        calibrations=_model_calibration(inv.model_name, inv.model_sha256),
                        distinct_subjects=distinct_subjects, thumbnails=True)
    return store.add_match(ref, found.candidates, identity, threshold=found.threshold, k=k,
                           inversions=[number], calibration=found.calibration)


def _model_calibration(name: str, sha256: str) -> dict:
    """The installed model's sketch-query calibration if it is the one that made the
    photo, else none (the search is then uncalibrated and says so)."""
    from sketchlab.core.model_catalog import read_calibration, resolve_model
    from sketchlab.core.model_file import CheckpointError

    try:
        kinds, fields = read_calibration(resolve_model(name))
    except (CheckpointError, OSError):
        return {}
    # read_calibration binds the table to the installed file's hash; that must be the
    # hash of the model that made the photo.
    return kinds if fields.get("model_sha256") == sha256 else {}
