"""The generator exported to ONNX once per model file, and the two CPU engines that run
it: ONNX Runtime and OpenVINO.

The export needs torch and takes about a second; it is cached in the user's cache folder
under the model file's SHA-256, beside a record of the export's own SHA-256, so a later
start loads the ONNX file without importing torch (the live photo is ready sooner) and a
damaged or swapped cache file is noticed and rebuilt. OpenVINO also caches its compiled
network there (keyed by the network, its settings and this CPU).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sketchlab.core import paths
from sketchlab.core.atomic import private_dir, write_bytes, write_text
from sketchlab.core.cpus import native_bf16_flags, usable_cores
from sketchlab.core.hashing import sha256_bytes, sha256_file

if TYPE_CHECKING:
    from sketchlab.core.checkpoint import LoadedModel

log = logging.getLogger(__name__)

INPUT, OUTPUT = "sketch", "photo"
OPSET = 17


def cache_dir() -> Path:
    return paths.user_cache_dir() / "engines"


def _paths(model_file_sha256: str) -> tuple[Path, Path]:
    folder = cache_dir() / model_file_sha256[:32]
    return folder / "generator.onnx", folder / "export.json"


def cached_onnx(model_file_sha256: str) -> tuple[Path, dict] | None:
    """The ONNX export of this model file, if cached and intact (no torch needed)."""
    onnx_path, record_path = _paths(model_file_sha256)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        intact = (record.get("model_file_sha256") == model_file_sha256
                  and sha256_file(onnx_path) == record.get("onnx_sha256"))
    except (OSError, ValueError, AttributeError):
        return None
    if not intact:
        log.warning("the cached ONNX export of model %s is damaged; exporting it again",
                    model_file_sha256[:12])
        return None
    return onnx_path, record


def export_onnx(loaded: LoadedModel, model_file_sha256: str) -> tuple[Path, dict]:
    """Export the (verified) generator to ONNX with a free batch size; cache it."""
    import io

    import torch

    cached = cached_onnx(model_file_sha256)
    if cached is not None:
        return cached
    h, w = loaded.config.resolution
    net = loaded.generator.float().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's notes on traced shape checks
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, h, w), buf, input_names=[INPUT],
                          output_names=[OUTPUT], opset_version=OPSET, dynamo=False,
                          dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}})
    data = buf.getvalue()
    onnx_path, record_path = _paths(model_file_sha256)
    private_dir(onnx_path.parent)
    write_bytes(onnx_path, data)
    record = {"model_file_sha256": model_file_sha256, "weights_sha256": loaded.sha256,
              "onnx_sha256": sha256_bytes(data), "resolution": [h, w], "opset": OPSET,
              "torch": torch.__version__}
    write_text(record_path, json.dumps(record, indent=1))
    log.info("exported %s to ONNX (%d kB)", loaded.path.name, len(data) // 1024)
    return onnx_path, record


class OnnxRuntimeEngine:
    """ONNX Runtime's CPU provider, threads not spinning between runs (a spinning pool
    takes the cores the drawing thread needs on a 2-core laptop). Runs the fp32 export,
    or the int8 one (`core.int8_export`) when given it with precision "int8"."""

    name = "onnxruntime"
    stages = None

    def __init__(self, onnx_path: Path, threads: int | None = None,
                 precision: str = "fp32") -> None:
        import onnxruntime as ort

        if precision not in ("fp32", "int8"):
            raise ValueError(f"ONNX Runtime runs fp32 or int8 here, not {precision}")
        self.precision = precision
        self.threads = threads or usable_cores()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(onnx_path), opts,
                                             providers=["CPUExecutionProvider"])
        self.version = ort.__version__

    @property
    def label(self) -> str:
        return f"CPU, ONNX Runtime ({self.threads} threads, {self.precision})"

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {INPUT: np.ascontiguousarray(x, np.float32)})[0]

    def run_unless(self, x: np.ndarray, stop) -> np.ndarray | None:
        return None if stop() else self.run(x)


def import_openvino():
    """`openvino`, without its usage telemetry: importing the package starts a sender
    thread and writes a client id under the user's home (its model-conversion tools
    treat a missing consent file as consent). SketchLab sends nothing anywhere, so the
    telemetry module is made unimportable first; OpenVINO then uses its own no-op stub."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


class OpenVinoEngine:
    """OpenVINO's CPU plugin: one compiled network per batch size (static shapes run
    faster than a free batch), one infer request per thread (they are not shared).

    The requests are kept by thread id, not in a `threading.local`: Qt's threads get a
    fresh Python thread state per slot call, and a request freed with that state at the
    slot's end crashed the process."""

    name = "openvino"
    stages = None

    def __init__(self, onnx_path: Path, resolution: tuple[int, int],
                 threads: int | None = None, precision: str = "fp32") -> None:
        ov = import_openvino()

        if precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8 here, not {precision}")
        if precision == "bf16" and not native_bf16_flags():
            raise RuntimeError("this CPU has no native bf16")
        self.precision = precision
        self.resolution = tuple(resolution)
        self.threads = threads or usable_cores()
        self._core = ov.Core()
        self._core.set_property({"CACHE_DIR": str(private_dir(cache_dir() / "openvino"))})
        self._model = self._core.read_model(str(onnx_path))
        self._compiled: dict[int, object] = {}
        self._lock = threading.Lock()
        self._requests: dict[tuple[int, int], object] = {}
        self.version = ov.__version__
        self._compile(1)

    @property
    def label(self) -> str:
        return f"CPU, OpenVINO ({self.threads} threads, {self.precision})"

    def _compile(self, n: int):
        with self._lock:
            if n not in self._compiled:
                model = self._model.clone()
                model.reshape({model.input(0): [n, 3, *self.resolution]})
                # int8 comes from the export's quantize nodes; what they leave is fp32
                hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[self.precision]
                self._compiled[n] = self._core.compile_model(
                    model, "CPU", {"INFERENCE_NUM_THREADS": self.threads,
                                   "PERFORMANCE_HINT": "LATENCY",
                                   "INFERENCE_PRECISION_HINT": hint})
            return self._compiled[n]

    def _request(self, n: int):
        key = (threading.get_ident(), n)
        request = self._requests.get(key)
        if request is None:
            request = self._compile(n).create_infer_request()
            with self._lock:
                self._requests[key] = request
        return request

    def run(self, x: np.ndarray) -> np.ndarray:
        request = self._request(len(x))
        request.infer({0: np.ascontiguousarray(x, np.float32)})
        return np.array(request.get_output_tensor(0).data, np.float32)

    def run_unless(self, x: np.ndarray, stop) -> np.ndarray | None:
        return None if stop() else self.run(x)
