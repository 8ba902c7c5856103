"""Query descriptors of many sketches on the app's path, kept in a compressed pack.

Training the query adapter and evaluating with and without it need, for every sketch,
exactly what `sketchlab match` computes before it ranks: the descriptors of the N inverted
readings (`core.variants`) and of the raw sketch, in colour and in grey. Computing them is
the slow part (alignment, N inversions, N + 1 embeddings); fusing, adapting and ranking
are cheap. So they are computed once per model and sketch set, through
`core.query.sketch_query` itself, and stored in an `.npz` pack with the model's SHA-256:
a pack made by another model is refused.

A query is either a sketch file (aligned on its own, as the app aligns an import) or a
synthetic sketch drawn from a photo already in the canonical frame (`trainer.data.styles`),
which stands in for a sketch of a person the hand-drawn sets do not hold.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")  # see evaluate: forked torch pools deadlock
_INVERTER: Any = None
_VARIANTS = 8
_REDRAW: Any = None  # `core.drawn.redrawer` of a drawing network, when asked to redraw


@dataclass(frozen=True)
class QuerySpec:
    """One query: a sketch file, or a synthetic `style` sketch of an aligned photo."""

    path: str
    style: str = ""  # "" = a sketch file; else the synthetic style drawn from the photo
    seed: int = 0

    @property
    def key(self) -> str:
        """The query as a pack lists it (`specs`): the file, its style and seed."""
        return f"{self.path}|{self.style}|{self.seed}"


@dataclass
class QueryDescriptors:
    """Per query: (N, V, 128) variant and (N, 128) raw-sketch descriptors, colour and grey,
    and how the sketch was aligned."""

    variants: np.ndarray
    raw: np.ndarray
    variants_grey: np.ndarray
    raw_grey: np.ndarray
    methods: list[str]
    # (N, V, 128) the variants' photos drawn by a drawing network, when asked for
    # (`describe_queries(drawer=)`); kept in a pack of their own, never in these
    redrawn: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.raw)

    def take(self, idx: Sequence[int] | np.ndarray) -> QueryDescriptors:
        i = np.asarray(idx, int)
        return QueryDescriptors(self.variants[i], self.raw[i], self.variants_grey[i],
                                self.raw_grey[i], [self.methods[j] for j in i],
                                None if self.redrawn is None else self.redrawn[i])


def _init(model_file: str, variants: int, ink_gamma: float = 1.0, drawer: str = "") -> None:
    global _INVERTER, _VARIANTS, _INK_GAMMA, _REDRAW
    from sketchlab.core.drawn import load_drawer, redrawer
    from sketchlab.core.engine_torch import configure_cpu_threads
    from sketchlab.core.inference import Inverter

    configure_cpu_threads(1)  # one process per core
    _INVERTER = Inverter(model_file, device="cpu", warmup=False)
    _VARIANTS = variants
    _INK_GAMMA = ink_gamma
    _REDRAW = redrawer(load_drawer(drawer)) if drawer else None


def _sketch_of(spec: QuerySpec) -> Any:
    from sketchlab.core.preprocess import as_prepared, prepare_photo

    if not spec.style:
        return spec.path
    from trainer.data.styles import synthesize

    frame = prepare_photo(spec.path, _INVERTER.resolution).image
    sketch = synthesize(frame, spec.style, np.random.default_rng(spec.seed))
    return as_prepared(sketch, colour=spec.style == "colour")


def _describe(spec: QuerySpec) -> tuple[Any, ...]:
    from sketchlab.core.frame import face_box
    from sketchlab.core.matching import embed_aligned, embed_batch
    from sketchlab.core.query import sketch_query, to_grey

    q = sketch_query(_sketch_of(spec), _INVERTER, variants=_VARIANTS, ink_gamma=_INK_GAMMA,
                     redraw=_REDRAW)
    box = face_box(q.prepared.image.shape[:2])
    grey = np.stack(embed_batch([to_grey(p) for p in q.variant_photos],
                                [box] * len(q.variant_photos)))  # type: ignore[arg-type]
    raw_grey = embed_aligned(to_grey(q.prepared.image))
    assert q.variant_embeddings is not None and q.raw_embedding is not None
    return (q.variant_embeddings, q.raw_embedding, grey, raw_grey,
            q.prepared.transform.method, q.redrawn_embeddings)


def _each(fn: Any, specs: Sequence[QuerySpec], initargs: tuple[Any, ...], workers: int,
          desc: str) -> list[Any]:
    """`fn` of every query, in `workers` processes set up by `_init(*initargs)`."""
    if workers <= 1:
        _init(*initargs)
        return [fn(s) for s in tqdm(specs, desc=desc, leave=False)]
    with ProcessPoolExecutor(workers, mp_context=_SPAWN, initializer=_init,
                             initargs=initargs) as pool:
        return list(tqdm(pool.map(fn, specs, chunksize=4), total=len(specs), desc=desc,
                         leave=False))


def describe_queries(model_file: Path, specs: Sequence[QuerySpec], variants: int = 8,
                     workers: int = 2, desc: str = "queries", ink_gamma: float = 1.0,
                     drawer: Path | None = None) -> QueryDescriptors:
    """The app-path descriptors of every query, one process per worker, read with the
    shading reading `ink_gamma` (`core.variants.lighten_shading`); with a `drawer`
    network, also each query's searched photos drawn by it (`redrawn`, for the two-way
    search's drawn side, `core.drawn.drawn_query`), in the same pass."""
    rows = _each(_describe, specs, (str(model_file), variants, ink_gamma, str(drawer or "")),
                 workers, desc)
    return QueryDescriptors(*(np.stack([r[i] for r in rows]).astype(np.float32)
                              for i in range(4)), methods=[r[4] for r in rows],
                            redrawn=None if drawer is None
                            else np.stack([r[5] for r in rows]).astype(np.float32))


def save_pack(path: Path, model_sha256: str, parts: dict[str, QueryDescriptors],
              arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write named query sets and extra arrays (photo descriptors, labels) to one .npz."""
    from sketchlab.core.atomic import atomic_write
    from sketchlab.core.query import QUERY_VERSION

    out: dict[str, np.ndarray] = {"model_sha256": np.array(model_sha256),
                                  "query_version": np.array(QUERY_VERSION)}
    for name, d in parts.items():
        out.update({f"{name}/variants": d.variants, f"{name}/raw": d.raw,
                    f"{name}/variants_grey": d.variants_grey, f"{name}/raw_grey": d.raw_grey,
                    f"{name}/methods": np.array(d.methods)})
    for k, v in (arrays or {}).items():
        out[k] = np.asarray(v)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **out)


def load_pack(path: Path, model_sha256: str | None = None
              ) -> tuple[dict[str, QueryDescriptors], dict[str, np.ndarray]]:
    """The query sets and extra arrays of a pack; refuses one made by another model. The
    extras include `query_version` (1 for a pack that predates it: `pack_is_current`)."""
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data["query_version"] = np.array(pack_version(data))
    made_by = str(data.pop("model_sha256"))
    if model_sha256 is not None and made_by != model_sha256:
        raise ValueError(f"{path} was made with model {made_by[:12]}, not {model_sha256[:12]}")
    names = sorted({k.split("/")[0] for k in data if k.endswith("/variants")})
    parts = {n: QueryDescriptors(data.pop(f"{n}/variants"), data.pop(f"{n}/raw"),
                                 data.pop(f"{n}/variants_grey"), data.pop(f"{n}/raw_grey"),
                                 [str(m) for m in data.pop(f"{n}/methods")]) for n in names}
    return parts, data


def pack_version(contents: Mapping[str, Any]) -> int:
    """The query path version a pack was made by, from its contents (an open .npz or
    `load_pack`'s extras): 1 for a pack made before packs recorded it."""
    return int(contents["query_version"]) if "query_version" in contents else 1


def is_current(contents: Mapping[str, Any]) -> bool:
    """Whether those contents come from today's query path (`core.query.QUERY_VERSION`)."""
    from sketchlab.core.query import QUERY_VERSION

    return pack_version(contents) == QUERY_VERSION


def pack_is_current(path: Path) -> bool:
    """`is_current` for a pack file, reading only its version."""
    with np.load(path, allow_pickle=False) as z:
        return is_current(z)


# --- the query sets the adapter is trained and measured on -------------------------------
@dataclass(frozen=True)
class QuerySet:
    """Named queries with the photo file each should find and its identity."""

    name: str
    specs: list[QuerySpec]
    targets: list[Path]  # the photo each query should find (a gallery photo)
    identities: list[str]


def paired_set(name: str, manifest: str, split: str) -> QuerySet:
    """A hand-drawn set's sketches of one split, each to find its own photo."""
    from sketchlab.core.manifest import read_manifest

    rows = [r for r in read_manifest(manifest, split) if r.sketch is not None]
    return QuerySet(name, [QuerySpec(str(r.sketch)) for r in rows], [r.photo for r in rows],
                    [r.identity for r in rows])


def synthetic_set(name: str, manifest: str, split: str, max_people: int, seed: int = 0,
                  subset: str = "", per_person: int = 1) -> QuerySet:
    """Synthetic sketches of one photo of a person, each to find ANOTHER photo of that
    person: a search does not hold the photo the witness saw. People with one photo are
    left out. Styles cycle through line, pencil and colour."""
    from sketchlab.core.frame import SKETCH_STYLES
    from sketchlab.core.manifest import read_manifest

    by_id: dict[str, list[Path]] = {}
    for r in read_manifest(manifest, split):
        if subset and f"/{subset.strip('/')}/" not in str(r.photo):
            continue
        by_id.setdefault(r.identity, []).append(r.photo)
    rng = np.random.default_rng(seed)
    people = sorted(i for i, p in by_id.items() if len(p) >= 2)
    rng.shuffle(people)
    specs, targets, ids = [], [], []
    for person in people[:max_people]:
        photos = sorted(by_id[person])
        for _ in range(per_person):
            a, b = rng.choice(len(photos), 2, replace=False)
            n = len(specs)
            style = SKETCH_STYLES[n % len(SKETCH_STYLES)]
            specs.append(QuerySpec(str(photos[a]), style, seed * 100_003 + n))
            targets.append(photos[b])
            ids.append(person)
    return QuerySet(name, specs, targets, ids)
