"""Inverter: sketches in the canonical frame in, photos out, on the engine measured
fastest for this machine and model (`core.engines`, `core.engine_trial`), PyTorch when
nothing was measured, a GPU is asked for, or another engine fails to start.

Torch-free at import: when the remembered engine is ONNX Runtime or OpenVINO and the
model's ONNX export is cached, the live photo starts without importing torch (over a
second of a cold start on a laptop).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sketchlab.core.cpus import native_bf16_flags
from sketchlab.core.engines import (
    ENGINE_NAMES,
    ENGINES,
    ENV,
    DeviceError,
    remembered_choice,
)
from sketchlab.core.hashing import sha256_file
from sketchlab.core.precision import requested_precision
from sketchlab.core.preprocess import from_tensor_array, to_tensor_array

log = logging.getLogger(__name__)

__all__ = ["DeviceError", "Engine", "Inverter", "available_devices", "resolve_engine"]


class Engine(Protocol):
    name: str
    precision: str
    stages: Any  # the torch engine's frozen stages (None elsewhere)

    @property
    def label(self) -> str: ...

    def run(self, x: np.ndarray) -> np.ndarray: ...

    def run_unless(self, x: np.ndarray, stop: Callable[[], bool]) -> np.ndarray | None: ...


def resolve_engine(preference: str | None) -> str:
    """The engine asked for: the argument unless "auto", else $SKETCHLAB_ENGINE, else
    "auto" (measured)."""
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        pref = os.environ.get(ENV, "").strip().lower() or "auto"
    if pref not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {pref!r} "
                         f"(from the setting or ${ENV})")
    return pref


def available_devices() -> list[str]:
    from sketchlab.core.engine_torch import available_devices as torch_devices

    return torch_devices()


class Inverter:
    """sketch (H, W, 3) uint8 in the canonical frame -> photo (H, W, 3) uint8.

    `model` is a model file or a loaded model (`checkpoint.LoadedModel`); `engine` is
    "auto" (the remembered measurement), "torch", "onnxruntime" or "openvino"."""

    def __init__(self, model: str | os.PathLike[str] | Any, device: str = "auto",
                 threads: int | None = None, warmup: bool = True,
                 precision: str | None = None, engine: str | None = None) -> None:
        loaded = None if isinstance(model, (str, os.PathLike)) else model
        self.path = Path(loaded.path if loaded is not None else model)
        self.model_file_sha256 = sha256_file(self.path)
        wanted = resolve_engine(engine)
        if str(device).startswith("cuda"):
            wanted = "torch"  # a GPU runs PyTorch
        elif wanted == "auto":  # the remembered measurement, else PyTorch
            choice = remembered_choice(self.model_file_sha256)
            best = choice.best(requested_precision(precision)) if choice else None
            wanted, precision = best or ("torch", precision)
        self.engine, self.model = self._open(wanted, loaded, device, threads, precision)
        self.config = self.model.config
        self.last_ms = float("nan")
        if warmup:
            self.warmup()

    def _open(self, engine: str, loaded: Any, device: str, threads: int | None,
              precision: str | None) -> tuple[Engine, Any]:
        if engine != "torch":
            try:
                return self._open_onnx(engine, loaded, threads, precision)
            except Exception as exc:  # a missing or broken runtime: PyTorch always runs
                log.warning("%s could not run %s (%s: %s); using PyTorch",
                            ENGINE_NAMES[engine], self.path.name, type(exc).__name__, exc)
        from sketchlab.core.checkpoint import load_generator
        from sketchlab.core.engine_torch import TorchEngine

        loaded = loaded if loaded is not None else load_generator(self.path)
        return TorchEngine(loaded, device, threads, precision), loaded

    def _open_onnx(self, engine: str, loaded: Any, threads: int | None,
                   precision: str | None) -> tuple[Engine, Any]:
        from sketchlab.core.engine_onnx import (
            OnnxRuntimeEngine,
            OpenVinoEngine,
            cached_onnx,
            export_onnx,
        )
        from sketchlab.core.model_catalog import describe

        cached = cached_onnx(self.model_file_sha256)
        if cached is None:
            from sketchlab.core.checkpoint import load_generator

            loaded = loaded if loaded is not None else load_generator(self.path)
            cached = export_onnx(loaded, self.model_file_sha256)
        onnx_path, record = cached
        header = loaded if loaded is not None else describe(self.path)
        if header.sha256 != record.get("weights_sha256"):
            raise RuntimeError("the ONNX export is of other weights")
        pref = requested_precision(precision)
        if pref == "int8":
            from sketchlab.core.int8_export import find_export

            found = find_export(self.path, header.sha256)
            if found is None:
                raise RuntimeError("this model has no int8 export (python -m trainer "
                                   "quantize makes one)")
            onnx_path = found.path
        if engine == "onnxruntime":
            if pref == "bf16":
                log.warning("ONNX Runtime runs this model in fp32 only")
            return OnnxRuntimeEngine(onnx_path, threads,
                                     "int8" if pref == "int8" else "fp32"), header
        bf16 = pref in ("auto", "bf16") and native_bf16_flags()
        return OpenVinoEngine(onnx_path, header.config.resolution, threads,
                              "int8" if pref == "int8" else "bf16" if bf16 else "fp32"
                              ), header

    @property
    def resolution(self) -> tuple[int, int]:
        return self.config.resolution

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @property
    def precision(self) -> str:
        return self.engine.precision

    @property
    def engine_name(self) -> str:
        return self.engine.name

    @property
    def device_label(self) -> str:
        """Where, on what and in which precision: shown in the app, recorded with each
        photo (e.g. "CPU, OpenVINO (2 threads, bf16)")."""
        return self.engine.label

    def warmup(self, runs: int = 2) -> None:
        blank = np.full((*self.resolution, 3), 255, np.uint8)
        for _ in range(runs):
            self.invert(blank)

    def _to_input(self, sketches: Sequence[np.ndarray]) -> np.ndarray:
        h, w = self.resolution
        for s in sketches:
            if s.shape[:2] != (h, w) or s.ndim != 3 or s.shape[2] != 3:
                raise ValueError(f"sketch must be ({h}, {w}, 3) uint8 in the canonical frame, "
                                 f"got {s.shape}; run it through sketchlab.core.preprocess")
        return np.stack([to_tensor_array(s) for s in sketches])

    def invert_batch(self, sketches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Photos of several sketches in one run of the network (a search's variants)."""
        if not sketches:
            return []
        t0 = time.perf_counter()
        y = self.engine.run(self._to_input(sketches))
        self.last_ms = (time.perf_counter() - t0) * 1000.0 / len(sketches)
        return [from_tensor_array(img) for img in y]

    def invert(self, sketch: np.ndarray) -> np.ndarray:
        return self.invert_batch([sketch])[0]

    def invert_unless(self, sketch: np.ndarray, stop: Callable[[], bool]) -> np.ndarray | None:
        """`invert`, giving up (None) once `stop()` says yes: between the network's stages
        on PyTorch's CPU path, before the run elsewhere. For the live preview: when the pen
        lifts while a preview of an older canvas is on the network, the pen-up's request
        waits for at most one stage (`tools/ui_latency.py` measures the queue)."""
        t0 = time.perf_counter()
        y = self.engine.run_unless(self._to_input([sketch]), stop)
        if y is None:
            return None
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        return from_tensor_array(y[0])
