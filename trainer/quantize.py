"""`python -m trainer quantize`: the int8 export of a model, and the verdict that offers it.

Static quantization with ONNX Runtime (QDQ, weights int8 per output channel, activations
uint8 per tensor), calibrated on train sketches only: CUFS and FS2K train sketches in the
canonical frame, as the generator saw them. The export lands beside the model file
(`sketchlab.core.int8_export`) with a record of how it was made and "not yet evaluated".
Then, on the same queries and gallery:

    python -m trainer evaluate --engine onnxruntime --precision fp32 ... --out fp32.json
    python -m trainer evaluate --engine onnxruntime --precision int8 ... --out int8.json
    python -m trainer quantize --verdict fp32.json int8.json

The verdict is `int8_export.verdict`; an export that fails it stays unoffered (the engine
trial never picks it), and the lab record says why.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from sketchlab.core.atomic import write_bytes, write_text
from sketchlab.core.hashing import sha256_bytes, sha256_file
from sketchlab.core.int8_export import RANK_KEYS, export_paths, find_export, verdict
from sketchlab.core.manifest import shared_data_dir

log = logging.getLogger(__name__)

CALIBRATION_SETS = ("cufs_cuhk", "fs2k")
OPS = ("Conv",)  # convolutions carry nearly all the work; norms and the rest stay fp32
REPO_FILE_MODE = 0o644  # a model's files are shipped, not private


def calibration_sketches(resolution: tuple[int, int], per_set: int, seed: int = 0
                         ) -> tuple[np.ndarray, dict]:
    """`per_set` train sketches of each calibration set (seeded), network input layout."""
    from sketchlab.core.inference import to_tensor_array
    from trainer.data.align_cache import load_aligned

    rng = np.random.default_rng(seed)
    chosen, used = [], {}
    for name in CALIBRATION_SETS:
        manifest = shared_data_dir() / name / "manifest.csv"
        sketches = load_aligned(manifest, "train", resolution, paired=True,
                                progress=False).sketches
        pick = rng.choice(len(sketches), min(per_set, len(sketches)), replace=False)
        chosen += [to_tensor_array(np.asarray(sketches[i])) for i in np.sort(pick)]
        used[name] = len(pick)
    return np.stack(chosen).astype(np.float32), used


def _end_convolutions(onnx_path: Path) -> list[str]:
    """The network's first and last convolution: they read the sketch and write the
    photo, where 256 levels cost the most."""
    import onnx

    convs = [n.name for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv"]
    return [convs[0], convs[-1]] if len(convs) > 1 else convs


def quantize(model: str | None, per_set: int = 64, seed: int = 0,
             calibration: np.ndarray | None = None, keep_ends: bool = False
             ) -> tuple[Path, dict]:
    """Write the int8 export of `model` and its record (verdict: not yet evaluated).
    `keep_ends` leaves the first and last convolution in fp32. `calibration` (network
    input layout) replaces the train sketches, for tests."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from sketchlab.core.checkpoint import load_generator
    from sketchlab.core.engine_onnx import INPUT, export_onnx
    from trainer.evaluate import model_path

    path = model_path(model)
    loaded = load_generator(path)
    fp32_onnx, _ = export_onnx(loaded, sha256_file(path))
    if calibration is None:
        x, used = calibration_sketches(loaded.config.resolution, per_set, seed)
    else:
        x, used = np.asarray(calibration, np.float32), {"given": len(calibration)}

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.i = 0

        def get_next(self) -> dict | None:
            if self.i >= len(x):
                return None
            self.i += 8
            return {INPUT: x[self.i - 8:self.i]}

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sketchlab-int8-") as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32_onnx), str(pre))
        kept = _end_convolutions(pre) if keep_ends else []
        quantize_static(str(pre), str(out), Batches(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=list(OPS),
                        nodes_to_exclude=kept, calibrate_method=CalibrationMethod.MinMax)
        data = out.read_bytes()
    onnx_path = export_paths(path)[0]
    record = {
        "model_file": path.name, "weights_sha256": loaded.sha256,
        "onnx_sha256": sha256_bytes(data), "fp32_onnx_sha256": sha256_file(fp32_onnx),
        "calibration": {"split": "train", "sketches": used, "seed": seed,
                        "method": "MinMax"},
        "quantization": {"format": "QDQ", "weights": "int8, per output channel",
                         "activations": "uint8, per tensor", "ops": list(OPS),
                         "kept_fp32": kept},
        "onnxruntime": onnxruntime.__version__,
        "made": time.strftime("%Y-%m-%d"), "seconds": round(time.perf_counter() - t0, 1),
        "verdict": {"offered": False, "reason": "not yet evaluated against fp32"},
    }
    write_bytes(onnx_path, data, mode=REPO_FILE_MODE)
    _write_record(path, record)
    log.info("wrote %s (%d kB)", onnx_path, len(data) // 1024)
    return onnx_path, record


def _summary(evaluation: Path) -> tuple[dict, dict]:
    data = json.loads(Path(evaluation).read_text(encoding="utf-8"))
    return data["summary"], data.get("engine", {})


def decide(model: str | None, fp32_json: Path, int8_json: Path) -> dict:
    """Compare two evaluations of this model's weights (fp32, then int8) and store the
    verdict in the export's record."""
    from sketchlab.core.model_catalog import describe
    from trainer.evaluate import model_path

    path = model_path(model)
    header = describe(path)
    found = find_export(path, header.sha256)
    if found is None:
        raise FileNotFoundError(f"{path.name} has no intact int8 export; run "
                                "`python -m trainer quantize` first")
    (a, engine_a), (b, engine_b) = _summary(fp32_json), _summary(int8_json)
    for summary, engine, want in ((a, engine_a, "fp32"), (b, engine_b, "int8")):
        if summary.get("model_sha256") != header.sha256:
            raise ValueError(f"an evaluation is of other weights ({summary.get('model_sha256')})")
        if engine.get("precision") != want:
            raise ValueError(f"expected an evaluation run with --precision {want}, got "
                             f"{engine.get('precision')!r}")
    result = verdict(a, b)
    for name, summary, engine in (("fp32", a, engine_a), ("int8", b, engine_b)):
        result[name] = {k: summary[k] for k in (*RANK_KEYS, "fsim")} | {
            "engine": engine.get("engine")}
    _write_record(path, dict(found.record, verdict=result))
    return result


def _write_record(model: Path, record: dict) -> None:
    write_text(export_paths(model)[1], json.dumps(record, indent=1) + "\n",
               mode=REPO_FILE_MODE)


def main(args: argparse.Namespace) -> int:
    if args.verdict:
        result = decide(args.model, Path(args.verdict[0]), Path(args.verdict[1]))
        print(("int8 offered: " if result["offered"] else "int8 not offered: ")
              + result["reason"])
        print(json.dumps(result["deltas"]))
        return 0
    onnx_path, record = quantize(args.model, args.per_set, args.seed,
                                 keep_ends=args.keep_ends)
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size // 1024} kB), calibrated on "
          f"{record['calibration']['sketches']} train sketches; evaluate fp32 and int8, "
          "then --verdict")
    return 0
