"""The installed models: bundled ones in models/ plus any the user added.

A model is `NAME.safetensors` with an optional model card `NAME.md` beside it; the file
name is the model's name, so what users see in the folder is what they pick. Listing
reads only safetensors headers, so it is instant even with many models; `verify=True`
(what `sketchlab models` asks for) also runs the checks loading runs. A file that
cannot be used (foreign, damaged, invalid config) is listed as unusable with its reason
and never stops the others from working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchlab.core import calibration, drawn, paths, search_rates
from sketchlab.core.model_file import CheckpointError, model_config, read_metadata
from sketchlab.core.network_config import GeneratorConfig

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sketchlab-default"
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    sha256: str
    config: GeneratorConfig
    styles: tuple[str, ...]
    summary: str
    card: Path | None
    metadata: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def card_text(self) -> str:
        return self.card.read_text(encoding="utf-8") if self.card else ""


@dataclass(frozen=True)
class UnusableModel:
    path: Path
    reason: str


def search_dirs() -> list[Path]:
    dirs = [paths.models_dir(), paths.user_models_dir()]
    extra = os.environ.get("SKETCHLAB_MODELS")
    if extra:
        dirs = [Path(p) for p in extra.split(os.pathsep)] + dirs
    return dirs


def describe(path: Path) -> ModelInfo:
    """ModelInfo from the header, or CheckpointError saying why the file is unusable."""
    meta = read_metadata(path)
    config = model_config(meta, path.name)
    card = path.with_suffix(".md")
    styles = tuple(s for s in meta.get("styles", "line,pencil,colour").split(",") if s)
    return ModelInfo(name=path.stem, path=path, sha256=meta["sha256"], config=config,
                     styles=styles, summary=meta.get("summary", ""),
                     card=card if card.is_file() else None, metadata=meta)


def scan_models(dirs: Iterable[Path] | None = None, verify: bool = False
                ) -> tuple[list[ModelInfo], list[UnusableModel]]:
    """Usable models (first occurrence of each name wins, default first) and the files
    that cannot be used, each with its reason. `verify` also reads every file's tensors
    and runs the checks loading runs (truncation, SHA-256, shapes, NaN weights:
    `checkpoint.check_model`), so a model listed as usable is one `invert` will load."""
    found: dict[str, ModelInfo] = {}
    unusable: list[UnusableModel] = []
    for d in dirs if dirs is not None else search_dirs():
        for path in sorted(Path(d).glob(f"*{SUFFIX}")):
            try:
                info = describe(path)
                if verify:
                    from sketchlab.core.checkpoint import check_model  # torch: only here

                    check_model(path)
            except CheckpointError as exc:
                log.info("unusable model %s: %s", path, exc)
                unusable.append(UnusableModel(path, str(exc)))
                continue
            found.setdefault(info.name, info)
    return sorted(found.values(), key=lambda m: (m.name != DEFAULT_MODEL, m.name)), unusable


def list_models(dirs: Iterable[Path] | None = None) -> list[ModelInfo]:
    """Usable models only; see scan_models for the unusable ones."""
    return scan_models(dirs)[0]


def resolve_model(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """A model name from the catalog, or a path; None means the default model."""
    if name_or_path is not None:
        candidate = Path(name_or_path)
        if candidate.suffix == SUFFIX or candidate.exists():
            if not candidate.is_file():
                raise CheckpointError(f"model file not found: {candidate}")
            return candidate
    wanted = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    models, unusable = scan_models()
    for info in models:
        if info.name == wanted:
            return info.path
    for bad in unusable:
        if bad.path.stem == wanted:
            raise CheckpointError(f"model {wanted!r} is unusable: {bad.reason}")
    names = ", ".join(m.name for m in models) or "none"
    raise CheckpointError(f"no installed model named {wanted!r} (installed: {names}); "
                          f"models are looked for in {', '.join(map(str, search_dirs()))}")


DRAWERS = "drawers"  # beside the models: photo-to-sketch networks, never listed as models


def find_drawer(drawn_model: str, dirs: Iterable[Path] | None = None) -> drawn.Drawing | None:
    """The drawing whose descriptors are named `drawn_model`: the pencil filter, or a
    drawing network in a `drawers` folder beside the models (found by its weights' SHA-256,
    which the name carries); None when no such network is installed."""
    if drawn_model == drawn.DRAWN_MODEL:
        return drawn.PENCIL
    for d in dirs if dirs is not None else search_dirs():
        for path in sorted((Path(d) / DRAWERS).glob(f"*{SUFFIX}")):
            try:
                found = drawn.Drawing.by_network(path)
            except (CheckpointError, KeyError) as exc:
                log.info("unusable drawing network %s: %s", path, exc)
                continue
            if found.model == drawn_model:
                return found
    return None


def search_drawing(meta: dict[str, str]) -> drawn.Drawing | None:
    """The drawing the model's two-way rates were measured with, when this app can make
    it (`find_drawer`) and they used this code's weight; else None (the search is one way)."""
    text = meta.get(search_rates.METADATA_KEY)
    if not text:
        return None
    try:
        return _drawing_of(search_rates.loads(text)[1].get("two_way"))
    except search_rates.SearchCalibrationError:
        return None


def model_drawing(name_or_path: str | os.PathLike[str] | None = None) -> drawn.Drawing:
    """How the gallery is drawn for a model's two-way search (default model: the bundled
    one); the pencil filter when the model states no drawing or is not installed."""
    try:
        return search_drawing(read_metadata(resolve_model(name_or_path))) or drawn.PENCIL
    except CheckpointError:
        return drawn.PENCIL


def _drawing_of(two_way: Any) -> drawn.Drawing | None:
    if not isinstance(two_way, dict) or two_way.get("weight") != drawn.WEIGHT:
        return None
    return find_drawer(str(two_way.get("drawn_model", "")))


def read_calibration(path: str | os.PathLike[str]
                     ) -> tuple[dict[str, calibration.ScoreCalibration], dict[str, Any]]:
    """The model's per-pair score calibration by query kind, and its recorded fields
    (raw_weight, variants, model_sha256, "search": the 1:N search rates by query kind,
    `read_search_rates`, and "drawing": how the gallery is drawn for its two-way rates,
    `search_drawing`); ({}, {"error": why, ...}) when it has none or it does not fit."""
    meta = read_metadata(Path(path))
    search, drawing = _search_tables(meta, Path(path).name)
    found = {"search": search, "drawing": drawing}
    text = meta.get(calibration.METADATA_KEY)
    if not text:
        return {}, {"error": "no score calibration in the model file", **found}
    try:
        kinds, extra = calibration.loads(text)
    except calibration.CalibrationError as exc:
        log.warning("%s: ignoring its score calibration: %s", Path(path).name, exc)
        return {}, {"error": str(exc), **found}
    if extra.get("model_sha256") != meta.get("sha256"):
        log.warning("%s: its score calibration was made for other weights", Path(path).name)
        return {}, {"error": "the score calibration was made for other weights", **found}
    return kinds, {**extra, **found}


def read_search_rates(meta: dict[str, str], name: str
                      ) -> dict[str, search_rates.SearchCalibration]:
    """The 1:N search rates stored with the model, by query kind; a table made for other
    weights, or for the adapted kind with another query adapter, is left out."""
    return _search_tables(meta, name)[0]


def _search_tables(meta: dict[str, str], name: str
                   ) -> tuple[dict[str, search_rates.SearchCalibration], drawn.Drawing | None]:
    """`read_search_rates` and `search_drawing` from one reading of the tables."""
    text = meta.get(search_rates.METADATA_KEY)
    if not text:
        return {}, None
    try:
        kinds, extra = search_rates.loads(text)
    except search_rates.SearchCalibrationError as exc:
        log.warning("%s: ignoring its search rates: %s", name, exc)
        return {}, None
    drawing = _drawing_of(extra.get("two_way"))
    if extra.get("model_sha256") != meta.get("sha256"):
        log.warning("%s: its search rates were measured for other weights", name)
        return {}, drawing
    if extra.get("adapter_sha256", "") != meta.get("query_adapter_sha256", ""):
        kinds.pop("adapted", None)
        kinds.pop("adapted" + drawn.TWO_WAY, None)
    if drawing is None:  # another weight, or a drawing not installed here
        kinds = {k: v for k, v in kinds.items()
                 if not k.removesuffix(search_rates.UNSEEN_ARTIST).endswith(drawn.TWO_WAY)}
    return kinds, drawing


def write_calibration(path: str | os.PathLike[str],
                      kinds: dict[str, calibration.ScoreCalibration],
                      extra: dict[str, Any]) -> None:
    """Store a calibration in the model file it describes."""
    from sketchlab.core.checkpoint import update_metadata  # torch: only when writing

    update_metadata(path, {calibration.METADATA_KEY: calibration.dumps(kinds, extra)})
