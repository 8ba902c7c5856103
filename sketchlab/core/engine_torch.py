"""The PyTorch engine: CUDA when present (fp16, channels-last), else the CPU, in bf16
where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX) and fp32 elsewhere (there
oneDNN emulates bf16, many times slower; docs/decisions.md). The one engine that can
always run a model, so every other engine falls back to it.

The CPU thread count is set once, to the physical cores: oversubscribing two cores
doubled latency.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch

from sketchlab.core.checkpoint import LoadedModel
from sketchlab.core.cpus import bf16_masked, usable_cores
from sketchlab.core.engines import DeviceError
from sketchlab.core.precision import requested_precision, resolve_precision

log = logging.getLogger(__name__)

DeviceChoice = str  # "auto" | "cpu" | "cuda" | "cuda:N"


def choose_device(preference: DeviceChoice = "auto") -> torch.device:
    if preference in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no usable NVIDIA GPU was found; "
                          "use --device cpu (or auto)")
    return dev


def native_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic in hardware (AVX512-BF16 or AMX-tile), as
    torch sees it (so `ATEN_CPU_CAPABILITY`/`ONEDNN_MAX_CPU_ISA` masks count).

    oneDNN also runs bf16 on plain AVX-512 by emulation (`_is_mkldnn_bf16_supported` says
    yes there), which is far slower than fp32, so only the native instructions count.
    """
    if bf16_masked():
        return False
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
    preference = requested_precision(preference)
    if preference == "bf16" and chosen == "fp32":
        log.warning("bf16 was asked for, but this CPU has no native bf16 (AVX512-BF16 or "
                    "AMX); emulated it is many times slower than fp32, so fp32 is used")
    if preference == "int8":
        log.warning("PyTorch runs this model in fp32; int8 runs on ONNX Runtime or OpenVINO")
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

    The eager module needs the GIL between its ~40 layers, so while the UI thread runs
    Python (stroke rendering, painting) each inversion waited on it. The frozen graph runs
    in C++ from one call, with constants folded; same outputs (checked in tests). None
    where tracing is not wanted or fails; the eager module is then used.
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
    has no `stages`): between stages a superseded live preview can stop. None where
    freezing is not wanted or fails."""
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


class TorchEngine:
    """Runs the generator with PyTorch: (N, 3, H, W) float32 in [-1, 1] -> same shape."""

    name = "torch"

    def __init__(self, loaded: LoadedModel, device: DeviceChoice = "auto",
                 threads: int | None = None, precision: str | None = None) -> None:
        self.device = choose_device(device)
        if self.device.type == "cpu":
            configure_cpu_threads(threads)
        self.precision = choose_precision(self.device, precision)
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision,
                                                                          torch.float32)
        net = loaded.generator
        if self.dtype != torch.float32:  # a copy: the caller's model stays fp32
            net = copy.deepcopy(net)
        net = net.to(self.device).eval()
        # Channels-last is faster on CPU too (`sketchlab bench --variants`). The whole
        # network in the low precision (not autocast): one dtype end to end, which is
        # what the frozen graph folds best (faster than bf16 autocast).
        self.net = net.to(memory_format=torch.channels_last, dtype=self.dtype)
        h, w = loaded.config.resolution
        self.stages = _frozen_stages(self.net, self._tensor(np.ones((1, 3, h, w), np.float32)))

    @property
    def label(self) -> str:
        if self.device.type == "cuda":
            return (f"GPU, PyTorch ({torch.cuda.get_device_name(self.device)}, "
                    f"{self.precision})")
        return f"CPU, PyTorch ({torch.get_num_threads()} threads, {self.precision})"

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).to(self.device, self.dtype)
        return t.contiguous(memory_format=torch.channels_last)

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = self._tensor(x)
            if len(x) == 1 and self.stages:
                for stage in self.stages:
                    t = stage(t)
                return t.float().cpu().numpy()
            return self.net(t).float().cpu().numpy()

    def run_unless(self, x: np.ndarray, stop: Callable[[], bool]) -> np.ndarray | None:
        """`run` for one sketch, checking `stop()` between the frozen stages."""
        if not self.stages:  # eager/CUDA: not interruptible, only checked before
            return None if stop() else self.run(x)
        with torch.inference_mode():
            t = self._tensor(x)
            for stage in self.stages:
                if stop():
                    return None
                t = stage(t)
            return t.float().cpu().numpy()
