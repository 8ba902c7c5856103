"""The engines a model can run on, the tolerance they must meet, and the engine chosen
per machine and model (torch-free: read before the window shows, so the live photo can
start on the chosen engine without importing torch).

PyTorch runs every model on the CPU or a GPU. For CPUs, ONNX Runtime and OpenVINO run
the same network exported once to ONNX; which is fastest depends on the CPU (AVX2,
AVX-512, bf16), so it is measured on the machine (`core.engine_trial`), not assumed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sketchlab.core import paths
from sketchlab.core.atomic import write_text
from sketchlab.core.cpus import machine_key

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnxruntime", "openvino")  # what a user may ask for
ENGINE_NAMES = {"torch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
ENV = "SKETCHLAB_ENGINE"  # the default for "auto"

# How far a photo may be from fp32 PyTorch's, in 8-bit levels over the photo: bf16 rounds
# each activation to 8 bits of mantissa, which moves a typical pixel by about one level
# and an occasional one by a dozen; anything beyond is a broken engine, not rounding.
MEAN_TOLERANCE = 3.0
MAX_TOLERANCE = 24


class DeviceError(RuntimeError):
    """A device was asked for that this machine does not have."""


def photo_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Mean and largest absolute difference of two uint8 photos (or stacks of them)."""
    d = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    return float(d.mean()), int(d.max())


def within_tolerance(a: np.ndarray, b: np.ndarray, precision: str = "fp32") -> bool:
    """Whether an engine's photos `a` are fp32 PyTorch's `b` but for rounding. int8 moves
    a few pixels further than bf16 does; what qualifies it is its identification verdict
    (`core.int8_export`), so here only its mean is held to the bound: a broken engine
    moves every pixel."""
    mean, peak = photo_difference(a, b)
    return mean <= MEAN_TOLERANCE and (precision == "int8" or peak <= MAX_TOLERANCE)


@dataclass(frozen=True)
class EngineChoice:
    """The engine and precision measured fastest (within tolerance) for one model file
    on one machine, with what was measured."""

    engine: str
    precision: str
    model_file_sha256: str
    machine: str
    measured_at: float = field(default_factory=time.time)
    # per candidate ("openvino bf16"): median ms for one sketch and for 8, and its
    # difference from fp32 PyTorch, or why it could not run
    trials: dict[str, dict] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{ENGINE_NAMES.get(self.engine, self.engine)} {self.precision}"

    def best(self, precision: str = "auto") -> tuple[str, str] | None:
        """The fastest engine within tolerance in `precision` ("auto": any)."""
        ok = [t for t in self.trials.values() if t.get("ok")
              and precision in ("auto", t.get("precision"))]
        if not self.trials:
            return (self.engine, self.precision) if precision in ("auto", self.precision) \
                else None
        if not ok:
            return None
        fastest = min(ok, key=lambda t: t["ms"])
        return fastest["engine"], fastest["precision"]


def _store() -> Path:
    return paths.user_cache_dir() / "engine-choices.json"


def _key(model_file_sha256: str, machine: str) -> str:
    return f"{model_file_sha256} @ {machine}"


def _read_all() -> dict[str, dict]:
    try:
        data = json.loads(_store().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable engine choices (%s); they will be measured again",
                    exc)
        return {}
    return data if isinstance(data, dict) else {}


def remembered_choice(model_file_sha256: str, machine: str | None = None
                      ) -> EngineChoice | None:
    """The choice measured for this model file on this machine, if any."""
    machine = machine or machine_key()
    entry = _read_all().get(_key(model_file_sha256, machine))
    try:
        choice = EngineChoice(**entry) if isinstance(entry, dict) else None
    except TypeError:
        return None
    if choice is None or choice.engine not in ENGINES[1:]:
        return None
    return choice


def remember_choice(choice: EngineChoice) -> None:
    data = _read_all()
    data[_key(choice.model_file_sha256, choice.machine)] = asdict(choice)
    write_text(_store(), json.dumps(data, indent=1, sort_keys=True))


def forget_choices() -> None:
    """Measure again at next start (Settings' "measure again")."""
    _store().unlink(missing_ok=True)
