"""Sketch -> search descriptor: the one path shared by `sketchlab match`, the app's search
and `python -m trainer evaluate`, so a figure the evaluation reports is what a user gets.

The sketch is aligned on its own (`prepare_sketch`: the app never has the true photo to
align it with), inverted unless the query is the raw sketch, and embedded with dlib's
descriptor at the canonical face box.

With `variants=N` the aligned sketch is read N ways (`sketchlab.core.variants`), all N
are inverted in one batch, and the searched descriptor is their mean, optionally pulled
toward the raw sketch's own descriptor (`raw_weight`); each variant's descriptor is kept
so the search can say how stable each candidate is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sketchlab.core.frame import face_box
from sketchlab.core.matching import embed_aligned, embed_batch
from sketchlab.core.preprocess import Prepared, prepare_sketch
from sketchlab.core.variants import lighten_shading, sketch_variants, variant_names

if TYPE_CHECKING:
    from sketchlab.core.adapter import QueryAdapter
    from sketchlab.core.imageio import ImageSource
    from sketchlab.core.inference import Inverter


# Photos in the canonical frame -> (N, 128) descriptors of them drawn as the gallery's faces
# are (`drawn.redrawer`); passed in, so this stage knows no drawing network.
Redraw = Callable[[list[np.ndarray]], np.ndarray]

# The version of this path's arithmetic: decoding, alignment, variants, embedding. The
# trainer's descriptor packs record it and remake or flag a pack made under another, so
# no table is fitted on searches the app no longer makes. Raise it with any change that
# moves a descriptor (1: packs made before packs recorded it).
QUERY_VERSION = 2

# The defined result of searching with a blank sketch (no strokes, an empty page): the
# same words in the CLI and the app. Ranking a white frame would return "candidates".
NOTHING_TO_SEARCH = "Nothing to search: the sketch is blank. Draw or import a sketch first."


@dataclass(frozen=True)
class SketchQuery:
    prepared: Prepared  # the aligned sketch, canonical frame
    photo: np.ndarray | None  # the synthesized photo (None for a raw-sketch query)
    embedding: np.ndarray  # the descriptor searched with
    invert_ms: float
    variant_names: tuple[str, ...] = ()
    variant_sketches: tuple[np.ndarray, ...] = ()  # the network inputs, [0] = the sketch
    variant_photos: tuple[np.ndarray, ...] = ()  # variants[0] is `photo`
    variant_embeddings: np.ndarray | None = None  # (N, 128)
    raw_weight: float = 0.0  # share of the raw sketch's descriptor in `embedding`
    raw_embedding: np.ndarray | None = None  # the raw sketch's own descriptor (variants)
    adapter_sha256: str = ""  # the query adapter that moved `embedding` ("" = none)
    stages_ms: dict[str, float] = field(default_factory=dict)  # align, invert, embed
    # each variant's photo drawn by the gallery's drawer (`sketch_query(redraw=)`), (N, 128)
    redrawn_embeddings: np.ndarray | None = None

    @property
    def spread(self) -> float | None:
        """`reading_spread` of the variants (None: one reading or none)."""
        v = self.variant_embeddings
        return float(reading_spread(v)) if v is not None and len(v) > 1 else None


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in all three channels (what a grayscale gallery photo looks like)."""
    g = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, axis=2)


def fuse(variant_embeddings: np.ndarray, raw_embedding: np.ndarray | None = None,
         raw_weight: float = 0.0) -> np.ndarray:
    """The searched descriptor: the variants' mean, with `raw_weight` of the raw sketch's.
    (N, D) variants and a (D,) raw descriptor give (D,); a batch, (Q, N, D) and (Q, D),
    gives (Q, D)."""
    v = np.asarray(variant_embeddings, np.float32)
    if v.ndim not in (2, 3) or v.shape[-2] == 0:
        raise ValueError(f"expected (N >= 1, D) or (Q, N >= 1, D) variant descriptors, "
                         f"got {v.shape}")
    e = v.mean(axis=-2)
    if raw_weight > 0.0 and raw_embedding is not None:
        e = (1.0 - raw_weight) * e + raw_weight * np.asarray(raw_embedding, np.float32)
    return e.astype(np.float32)


RAW_WEIGHT_FIELD = "raw_weight"  # calibration field: the raw sketch's share of the search


def raw_weight_of(fields: dict[str, object]) -> float:
    """The raw sketch's share of the searched descriptor a model's calibration `fields`
    record (none when they record none): the one reading of the field, so the app, its
    evaluation and its 1:N tables search with the same descriptor."""
    w = float(fields.get(RAW_WEIGHT_FIELD, 0.0) or 0.0)  # type: ignore[arg-type]
    if not 0.0 <= w < 1.0:
        raise ValueError(f"{RAW_WEIGHT_FIELD} {w} is outside 0-1")
    return w


def reading_spread(variant_embeddings: np.ndarray) -> np.ndarray:
    """How much the N readings of a sketch disagree: the mean distance of their descriptors
    to their mean ((N, 128) -> scalar, (Q, N, 128) -> (Q,)). Where the network reads a
    sketch one way whatever the small changes, the search finds the person more often, so
    the 1:N rates are stated for sketches whose readings agree alike
    (`core.search_rates`)."""
    v = np.asarray(variant_embeddings, np.float32)
    return np.linalg.norm(v - v.mean(axis=-2, keepdims=True), axis=-1).mean(axis=-1)


def sketch_query(sketch: ImageSource | Prepared, inverter: Inverter | None, raw: bool = False,
                 grey: bool = False, variants: int = 1, raw_weight: float = 0.0,
                 adapter: QueryAdapter | None = None, ink_gamma: float = 1.0,
                 redraw: Redraw | None = None) -> SketchQuery:
    """Align (unless already Prepared), invert (unless `raw`), embed. `grey` embeds the
    luma of the searched image (evaluation's colour-blind variant). `variants` > 1 inverts
    that many readings of the sketch in one batch and searches with their fused
    descriptor, moved by the model's query `adapter` when given. `ink_gamma` lightens the
    shading of what is inverted (`variants.lighten_shading`, the model's `ink_gamma`
    field); the raw sketch's own descriptor is always of the sketch as drawn. `redraw`
    (`drawn.redrawer` of the gallery's drawing network) also draws each variant's photo
    as the gallery's faces are drawn, for the two-way search (`drawn.drawn_query`)."""
    if inverter is None and not raw:
        raise ValueError("an Inverter is needed unless raw=True")
    t0 = time.perf_counter()
    if isinstance(sketch, Prepared):
        prepared = sketch
    elif inverter is not None:
        prepared = prepare_sketch(sketch, inverter.resolution)
    else:
        prepared = prepare_sketch(sketch)  # the canonical frame's default size
    t1 = time.perf_counter()
    stages = {"align": (t1 - t0) * 1000}
    if raw:
        emb = embed_aligned(to_grey(prepared.image) if grey else prepared.image)
        stages["embed"] = (time.perf_counter() - t1) * 1000
        return SketchQuery(prepared, None, emb, 0.0, stages_ms=stages)
    assert inverter is not None
    network_input = lighten_shading(prepared.image, ink_gamma)
    if variants <= 1:
        photo = inverter.invert(network_input)
        t2 = time.perf_counter()
        emb = embed_aligned(to_grey(photo) if grey else photo)
        stages.update(invert=(t2 - t1) * 1000, embed=(time.perf_counter() - t2) * 1000)
        return SketchQuery(prepared, photo, emb, stages["invert"], stages_ms=stages,
                           redrawn_embeddings=_redrawn([photo], redraw, stages))
    inputs = sketch_variants(network_input, variants)
    photos = inverter.invert_batch(inputs)  # one run of the network for all variants
    t2 = time.perf_counter()
    searched = [to_grey(p) if grey else p for p in photos]
    box = face_box(prepared.image.shape[:2])
    embs = np.stack(embed_batch(searched, [box] * len(searched)))  # type: ignore[arg-type]
    raw_emb = embed_aligned(to_grey(prepared.image) if grey else prepared.image)
    emb = fuse(embs, raw_emb, raw_weight)
    if adapter is not None:
        emb = adapter(emb, embs.mean(axis=0), raw_emb)
    stages.update(invert=(t2 - t1) * 1000, embed=(time.perf_counter() - t2) * 1000)
    return SketchQuery(prepared, photos[0], emb, stages["invert"],
                       tuple(variant_names(variants)), tuple(inputs), tuple(photos), embs,
                       raw_weight, raw_emb, adapter.sha256 if adapter is not None else "",
                       stages, _redrawn(photos, redraw, stages))


def _redrawn(photos: list[np.ndarray], redraw: Redraw | None,
             stages: dict[str, float]) -> np.ndarray | None:
    if redraw is None:
        return None
    t = time.perf_counter()
    out = np.asarray(redraw(list(photos)), np.float32)
    stages["redraw"] = (time.perf_counter() - t) * 1000
    return out
