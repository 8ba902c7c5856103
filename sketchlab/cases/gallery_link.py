"""Searching a gallery for a case, and naming that gallery in the record.

A match run records which gallery it searched: its location (password hidden), its size,
and a fingerprint, the SHA-256 of exactly what was searched (embedding model, photo ids
and the descriptor matrix). Enrolling or removing one photo changes the fingerprint, so
a later reader can tell whether a rerun searched the same gallery.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sketchlab.cases.actions import sketch_file
from sketchlab.cases.records import GalleryIdentity
from sketchlab.cases.store import CaseError, CaseStore

if TYPE_CHECKING:
    from sketchlab.core.inference import Inverter
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


def search_sketch(store: CaseStore, ref: str, gallery: Gallery, inverter: Inverter,
                  version: int | None = None, k: int = 10, threshold: float | None = None,
                  fpir: float | None = None, distinct_subjects: bool = True) -> int:
    """Search the gallery with a sketch version (latest by default) exactly as
    `sketchlab match` and the app do (`core.pipeline.match_sketch`: aligned on its own,
    inverted as plausible variants, the model's query adapter, the 1:N reading for this
    gallery's size) and record each variant's photo as an inversion, then the match run
    naming them; returns the run's number."""
    # deferred: opening the case store does not load the search stack (cv2, dlib, torch)
    from sketchlab.core.imageio import ImageLoadError, load_image
    from sketchlab.core.pipeline import match_sketch
    from sketchlab.core.query import NOTHING_TO_SEARCH
    from sketchlab.core.search_rates import DEFAULT_FPIR
    from sketchlab.core.variants import variant_record
    from sketchlab.db.search import Matcher

    sketch, original = sketch_file(store, ref, version)
    try:
        image = load_image(original)
    except ImageLoadError as exc:
        raise CaseError(f"sketch version {sketch.version} cannot be read: {exc}") from exc
    matcher = Matcher(gallery)
    identity = gallery_identity(gallery, matcher)
    if identity.size == 0:
        raise CaseError("the gallery is empty; add photos with `sketchlab gallery enroll`")
    found = match_sketch(image, inverter, matcher, k, threshold=threshold,
                         fpir=fpir or DEFAULT_FPIR, distinct_subjects=distinct_subjects,
                         thumbnails=True)
    if found.empty:
        raise CaseError(f"sketch version {sketch.version}: {NOTHING_TO_SEARCH}")
    meta = inverter.model.metadata
    searched = (list(zip(found.variant_names, found.variant_sketches, found.variant_photos,
                         strict=True))
                or [("as drawn", found.sketch, found.photo)])  # one photo: no variants
    n = len(searched)
    numbers = [store.add_inversion(
        ref, photo, source=original, input_image=network_input,
        model_name=meta.get("name") or inverter.model.name, model_sha256=inverter.sha256,
        device=inverter.device_label, ms=found.invert_ms / n,
        settings={"alignment": found.alignment, "resolution": list(inverter.resolution),
                  "search": "variants" if n > 1 else "single"},
        variant=variant_record(name, i, n, found.ink_gamma) if n > 1 else None)
        for i, (name, network_input, photo) in enumerate(searched)]
    return store.add_match(ref, found.candidates, identity, threshold=found.threshold, k=k,
                           inversions=numbers, calibration=found.calibration)
