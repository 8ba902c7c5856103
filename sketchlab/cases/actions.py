"""Case steps that run the science (inversion) and record the result in one go.

The GUI runs inversion itself (live, on its worker) and records through
`CaseStore.add_inversion`; the CLI and scripts use these helpers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sketchlab.cases.store import CaseError, CaseStore

if TYPE_CHECKING:
    from sketchlab.cases.records import SketchVersion
    from sketchlab.core.inference import Inverter

log = logging.getLogger(__name__)


def sketch_file(store: CaseStore, ref: str, version: int | None = None
                ) -> tuple[SketchVersion, bytes]:
    """A sketch version (latest by default) and its file's bytes, or a CaseError that
    says what to do."""
    case = store.get(ref)
    sketch = case.sketch(version)
    if sketch is None:
        raise CaseError(f"case {case.info.number} has no sketch"
                        + (f" version {version}" if version else "")
                        + "; add one with `sketchlab case add-sketch`")
    return sketch, store.artefacts.read(sketch.image_sha256)


def invert_sketch(store: CaseStore, ref: str, inverter: Inverter, version: int | None = None,
                  style: str = "auto", source: str = "auto") -> int:
    """Invert a sketch version (latest by default) and record photo, model and timing."""
    from sketchlab.core.imageio import ImageLoadError
    from sketchlab.core.preprocess import prepare_sketch

    sketch, original = sketch_file(store, ref, version)
    try:
        prepared = prepare_sketch(original, inverter.resolution,
                                  source=source, style=style)  # type: ignore[arg-type]
    except ImageLoadError as exc:
        raise CaseError(f"sketch version {sketch.version} cannot be read: {exc}") from exc
    photo = inverter.invert(prepared.image)
    meta = inverter.model.metadata
    settings = {"style": style, "source": source, "alignment": prepared.transform.method,
                "colour": prepared.colour, "empty": prepared.empty,
                "resolution": list(inverter.resolution)}
    return store.add_inversion(
        ref, photo, source=original, model_name=meta.get("name") or inverter.model.name,
        model_sha256=inverter.sha256, device=inverter.device_label, ms=inverter.last_ms,
        settings=settings, input_image=prepared.image)
