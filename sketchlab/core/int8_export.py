"""A model's int8 export: a statically quantized ONNX file shipped beside the model file.

int8 rounds each convolution's weights and inputs to 256 levels. On CPUs without native
bf16 (most AVX2 laptops) it is the fastest way to run the network, but its photos move
further from fp32's than bf16's do, so whether it is offered is decided by what the user
gets, identification, not by pixels: `python -m trainer quantize` writes the export,
`trainer evaluate` measures fp32 and int8 on the same queries, and `trainer quantize
--verdict` offers int8 only when `verdict` holds. The engine trial considers an offered
export only; asked for by name (`--precision int8`), any intact export runs, which is how
it is evaluated before the verdict.

Torch-free: read at start, like the fp32 export's cache.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sketchlab.core.hashing import sha256_file

log = logging.getLogger(__name__)

SUFFIX = ".int8.onnx"
RECORD_SUFFIX = ".int8.json"

# The bar int8 must clear against fp32, same queries, same gallery: rank-1 and rank-10
# (colour and grey) within one percentage point, FSIM within 0.005.
RANK_POINTS = 1.0
FSIM_DELTA = 0.005
RANK_KEYS = ("rank1", "rank10", "rank1_grey", "rank10_grey")


def export_paths(model_path: str | Path) -> tuple[Path, Path]:
    """Where the int8 export of `model_path` and its record live (beside the model)."""
    p = Path(model_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(stem + SUFFIX), p.with_name(stem + RECORD_SUFFIX)


@dataclass(frozen=True)
class Int8Export:
    path: Path
    record: dict

    @property
    def offered(self) -> bool:
        return bool(self.record.get("verdict", {}).get("offered"))

    @property
    def reason(self) -> str:
        """Why it is offered or not, in the verdict's words."""
        return str(self.record.get("verdict", {}).get("reason", "no verdict"))


def find_export(model_path: str | Path, weights_sha256: str) -> Int8Export | None:
    """The model's int8 export if present, intact and of these weights, else None."""
    onnx_path, record_path = export_paths(model_path)
    if not onnx_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        ok = (isinstance(record, dict) and record.get("weights_sha256") == weights_sha256
              and sha256_file(onnx_path) == record.get("onnx_sha256"))
    except (OSError, ValueError):
        ok = False
    if not ok:
        log.warning("%s is damaged or of other weights; int8 is not used", onnx_path.name)
        return None
    return Int8Export(onnx_path, record)


def offered(model_path: str | Path, weights_sha256: str) -> bool:
    """Whether the model ships an intact int8 export of these weights that held."""
    found = find_export(model_path, weights_sha256)
    return found is not None and found.offered


def verdict(fp32: dict, int8: dict) -> dict:
    """Whether int8 holds against fp32, from two `trainer evaluate` summaries of the same
    queries and gallery: each rank within RANK_POINTS points, FSIM within FSIM_DELTA."""
    for key in ("n_queries", "gallery_size"):
        if fp32.get(key) != int8.get(key):
            raise ValueError(f"the two evaluations differ in {key}: {fp32.get(key)} vs "
                             f"{int8.get(key)}; compare the same queries and gallery")
    failed, deltas = [], {}
    for key in RANK_KEYS:
        d = 100.0 * (float(int8[key]) - float(fp32[key]))
        deltas[key] = round(d, 2)
        if d < -RANK_POINTS - 1e-9:
            failed.append(f"{key} {100 * fp32[key]:.0f} -> {100 * int8[key]:.0f} %")
    fsim_a, fsim_b = float(fp32["fsim"]), float(int8["fsim"])
    if fsim_a != fsim_a or fsim_b != fsim_b:  # NaN: evaluated without image quality
        raise ValueError("FSIM is missing: evaluate both without --identification-only")
    deltas["fsim"] = round(fsim_b - fsim_a, 4)
    if fsim_b < fsim_a - FSIM_DELTA:
        failed.append(f"FSIM {fsim_a:.3f} -> {fsim_b:.3f}")
    reason = ("within 1 point of fp32 at rank 1 and 10 (colour and grey) and within "
              f"{FSIM_DELTA} FSIM" if not failed else "below fp32: " + "; ".join(failed))
    return {"offered": not failed, "reason": reason, "deltas": deltas,
            "n_queries": fp32["n_queries"], "gallery_size": fp32["gallery_size"]}
