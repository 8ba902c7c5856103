"""Inverter: runs a generator on the best device with the fewest surprises.

CUDA when present (fp16, channels-last), otherwise CPU: bf16 where the CPU multiplies bf16
in hardware (AVX512-BF16 or AMX; nearly twice as fast as fp32), fp32 elsewhere (there
oneDNN emulates bf16, many times slower; docs/decisions.md). SKETCHLAB_PRECISION or the
app's setting picks fp32 for a lab that wants the fp32 photos (those of earlier
versions). The CPU thread count is set once, to the physical cores: oversubscribing two
cores doubled latency.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from sketchlab.core.checkpoint import LoadedModel, load_generator
from sketchlab.core.cpus import usable_cores
from sketchlab.core.precision import resolve_precision
from sketchlab.core.preprocess import from_tensor_array, to_tensor_array

log = logging.getLogger(__name__)

DeviceChoice = str  # "auto" | "cpu" | "cuda" | "cuda:N"


class DeviceError(RuntimeError):
    pass


def choose_device(preference: DeviceChoice = "auto") -> torch.device:
    if preference in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no usable NVIDIA GPU was found; "
                          "use --device cpu (or auto)")
    return dev


def native_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic in hardware (AVX512-BF16 or AMX-tile).

    oneDNN also runs bf16 on plain AVX-512 by emulation (`_is_mkldnn_bf16_supported` says
    yes there), which is far slower than fp32, so only the native instructions count.
    """
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except Exception:  # a torch without the probe: treat as absent
            continue
    return False


def choose_precision(device: torch.device, preference: str | None = None) -> str:
    """`resolve_precision` for this machine: "fp16" (CUDA), "bf16" or "fp32" (CPU)."""
    native = device.type == "cpu" and native_bf16()
    chosen = resolve_precision(device.type, preference, native)
    if preference == "bf16" and chosen == "fp32":
        log.warning("bf16 was asked for, but this CPU has no native bf16 (AVX512-BF16 or "
                    "AMX); emulated it is many times slower than fp32, so fp32 is used")
    return chosen


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def configure_cpu_threads(threads: int | None = None) -> int:
    """Use one thread per core (not per hyper-thread) unless told otherwise."""
    if threads is None:
        env = os.environ.get("SKETCHLAB_THREADS")
        threads = int(env) if env else usable_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def _frozen(net: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module | None:
    """The network traced and frozen for one CPU sketch at a time (the live preview).

    Measured in the app: the eager module needs the GIL between its ~40 layers, so while
    the UI thread runs Python (stroke rendering, painting) each inversion waited on it, and
    it ran ~2x slower than back to back in `sketchlab bench`. The frozen graph runs in
    C++ from one call, with constants folded (~1.7x faster alone here, ~2x under a busy
    Python thread), same outputs (checked in tests). None where tracing is not wanted or
    fails; the eager module is then used.
    """
    if example.device.type != "cpu" or os.environ.get("SKETCHLAB_EAGER"):
        return None
    # Tracing notes about Python-side shape checks and the freeze deprecation notice are
    # expected here, not problems; filtered by category/message (catch_warnings is not
    # thread-safe, and this runs on the inversion thread).
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
    try:
        with torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(net, example, check_trace=False)
            return torch.jit.freeze(traced.eval())
    except Exception:  # an exotic model: eager is correct, only slower
        log.warning("could not freeze the network; running it eagerly", exc_info=True)
        return None


def _frozen_stages(net: torch.nn.Module, example: torch.Tensor
                   ) -> list[torch.nn.Module] | None:
    """`net.stages()` each frozen on its own input (the whole network as one stage if it
    has no `stages`): between stages a superseded live preview can stop. The chain gave
    the same outputs as one frozen graph and measured no slower; freezing one graph, not
    both, keeps the model's load time. None where freezing is not wanted or fails."""
    frozen = []
    x = example
    for stage in (net.stages() if hasattr(net, "stages") else [net]):
        f = _frozen(stage, x)
        if f is None:
            return None
        frozen.append(f)
        with torch.inference_mode():
            x = f(x)
    return frozen


class Inverter:
    """sketch (H, W, 3) uint8 in the canonical frame -> photo (H, W, 3) uint8."""

    def __init__(self, model: str | os.PathLike[str] | LoadedModel,
                 device: DeviceChoice = "auto", threads: int | None = None,
                 warmup: bool = True, precision: str | None = None) -> None:
        self.device = choose_device(device)
        if self.device.type == "cpu":
            configure_cpu_threads(threads)
        loaded = model if isinstance(model, LoadedModel) else load_generator(Path(model))
        self.model = loaded
        self.config = loaded.config
        self.precision = choose_precision(self.device, precision)
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision,
                                                                          torch.float32)
        net = loaded.generator
        if self.dtype != torch.float32:  # a copy: the caller's model stays fp32
            net = copy.deepcopy(net)
        net = net.to(self.device).eval()
        # Channels-last is faster on CPU too (`sketchlab bench --variants`).
        # The whole network in the low precision (not autocast): one dtype end to end,
        # which is what the frozen graph folds best (faster than bf16 autocast).
        self.net = net.to(memory_format=torch.channels_last, dtype=self.dtype)
        example = self._to_input([np.full((*self.resolution, 3), 255, np.uint8)])
        self._stages = _frozen_stages(self.net, example)
        self.last_ms = float("nan")
        if warmup:
            self.warmup()

    @property
    def resolution(self) -> tuple[int, int]:
        return self.config.resolution

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @property
    def device_label(self) -> str:
        """Device and precision, as shown in the app and recorded with each photo."""
        if self.device.type == "cuda":
            return f"GPU ({torch.cuda.get_device_name(self.device)}, {self.precision})"
        return f"CPU ({torch.get_num_threads()} threads, {self.precision})"

    def warmup(self, runs: int = 2) -> None:
        blank = np.full((*self.resolution, 3), 255, np.uint8)
        for _ in range(runs):
            self.invert(blank)

    def _to_input(self, sketches: Sequence[np.ndarray]) -> torch.Tensor:
        h, w = self.resolution
        arrs = []
        for s in sketches:
            if s.shape[:2] != (h, w) or s.ndim != 3 or s.shape[2] != 3:
                raise ValueError(f"sketch must be ({h}, {w}, 3) uint8 in the canonical frame, "
                                 f"got {s.shape}; run it through sketchlab.core.preprocess")
            arrs.append(to_tensor_array(s))
        x = torch.from_numpy(np.stack(arrs)).to(self.device, self.dtype)
        return x.contiguous(memory_format=torch.channels_last)

    def invert_batch(self, sketches: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not sketches:
            return []
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = self._to_input(sketches)
            staged = self._run_stages(x) if len(sketches) == 1 and self._stages else None
            y = (staged if staged is not None else self.net(x)).float().cpu().numpy()
        self.last_ms = (time.perf_counter() - t0) * 1000.0 / len(sketches)
        return [from_tensor_array(img) for img in y]

    def invert(self, sketch: np.ndarray) -> np.ndarray:
        return self.invert_batch([sketch])[0]

    def invert_unless(self, sketch: np.ndarray, stop: Callable[[], bool]) -> np.ndarray | None:
        """`invert`, checking `stop()` between the network's stages: None once it says yes.

        For the live preview: when the pen lifts while a preview of an older canvas is on
        the network, the pen-up's request waited for all of it; now it waits for one stage
        (`tools/ui_latency.py` measures the queue; docs/decisions.md).
        """
        if self._stages is None:  # eager/CUDA: not interruptible, only checked before
            return None if stop() else self.invert(sketch)
        t0 = time.perf_counter()
        with torch.inference_mode():
            y = self._run_stages(self._to_input([sketch]), stop)
            if y is None:
                return None
            out = y.float().cpu().numpy()
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        return from_tensor_array(out[0])

    def _run_stages(self, x: torch.Tensor, stop: Callable[[], bool] | None = None
                    ) -> torch.Tensor | None:
        assert self._stages is not None
        for stage in self._stages:
            if stop is not None and stop():
                return None
            x = stage(x)
        return x
