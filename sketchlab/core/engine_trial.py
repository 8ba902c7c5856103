"""Which engine runs a model fastest on this machine, measured rather than assumed.

Every usable engine and precision (`candidates`) runs the real network on drawn test
faces, in alternating rounds so a change in the machine's load touches all alike. The
fastest whose photos stay within tolerance of fp32 PyTorch's (`engines.within_tolerance`)
is chosen; `remember_choice` keeps it for this model file and machine. Takes a few
seconds, once per machine and model (the app runs it in the background at first start).
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sketchlab.core.cpus import machine_key, native_bf16_flags
from sketchlab.core.engines import EngineChoice, photo_difference, within_tolerance
from sketchlab.core.frame import LEFT_EYE, MOUTH, RIGHT_EYE
from sketchlab.core.hashing import sha256_file
from sketchlab.core.inference import Inverter
from sketchlab.core.int8_export import find_export
from sketchlab.core.timing import summarise, time_samples

log = logging.getLogger(__name__)


def trial_sketches(resolution: tuple[int, int]) -> list[np.ndarray]:
    """Test faces in the canonical frame: line drawings of three weights, a shaded one
    (the tones bf16 rounds most) and a blank page."""
    h, w = resolution
    out = []
    for weight, shade in ((1, False), (2, False), (3, True), (2, True)):
        img = np.full((h, w, 3), 240, np.uint8)
        px = lambda p: (round(p[0] * w), round(p[1] * h))  # noqa: E731
        cx, cy = round(0.5 * w), round(0.55 * h)
        axes = (round(0.3 * w), round(0.36 * h))
        if shade:
            cv2.ellipse(img, (cx, cy), axes, 0, 0, 360, (200, 200, 200), -1)
            cv2.ellipse(img, (cx, round(0.28 * h)), (round(0.34 * w), round(0.2 * h)), 0,
                        180, 360, (90, 90, 90), -1)  # hair
        cv2.ellipse(img, (cx, cy), axes, 0, 0, 360, (40, 40, 40), weight)
        for eye in (LEFT_EYE, RIGHT_EYE):
            cv2.ellipse(img, px(eye), (round(0.06 * w), round(0.025 * h)), 0, 0, 360,
                        (30, 30, 30), weight)
            cv2.circle(img, px(eye), max(1, round(0.015 * w)), (20, 20, 20), -1)
        nose = (cx, round((LEFT_EYE[1] + MOUTH[1]) / 2 * h) + 4)
        cv2.line(img, (cx, px(LEFT_EYE)[1] + 4), nose, (60, 60, 60), weight)
        cv2.ellipse(img, px(MOUTH), (round(0.1 * w), round(0.03 * h)), 0, 0, 180,
                    (50, 50, 50), weight)
        out.append(img)
    out.append(np.full((h, w, 3), 255, np.uint8))
    return out


def needs_trial(model: str | Path, engine: str | None = "auto", device: str = "auto"
                ) -> bool:
    """Whether the engine is left to measurement here and none was made for this model
    file on this machine (a GPU asked for runs PyTorch: nothing to measure)."""
    from sketchlab.core.engines import remembered_choice
    from sketchlab.core.inference import resolve_engine

    if resolve_engine(engine) != "auto" or str(device).startswith("cuda"):
        return False
    return remembered_choice(sha256_file(model)) is None


def measure_once(model: str | Path, engine: str | None = "auto", device: str = "auto",
                 on_start: Callable[[], None] | None = None) -> bool:
    """Time the engines for this model file once on this machine, when the engine is left
    to measurement and none was made (`needs_trial`), and remember the fastest. Whether
    a trial ran; a failed one only costs speed (PyTorch is used), so it is logged, not
    raised. `on_start` is told first: a trial takes seconds."""
    from sketchlab.core.engines import remember_choice

    if not needs_trial(model, engine, device):
        return False
    if on_start is not None:
        on_start()
    try:
        remember_choice(run_trial(model))
    except Exception:
        log.warning("could not time the inference engines for %s; using PyTorch", model,
                    exc_info=True)
    return True


def candidates(cuda: bool = False, int8: bool = False) -> list[tuple[str, str]]:
    """(engine, precision) pairs worth trying here; bf16 only where the CPU does it in
    hardware (emulated it is many times slower); int8 only for a model that has an int8
    export (`core.int8_export`; timed always, chosen only once offered)."""
    found = [("torch", "fp32")]
    if native_bf16_flags():
        found.append(("torch", "bf16"))
    if importlib.util.find_spec("onnxruntime"):
        found.append(("onnxruntime", "fp32"))
        if int8:
            found.append(("onnxruntime", "int8"))
    if importlib.util.find_spec("openvino"):
        found.append(("openvino", "fp32"))
        if native_bf16_flags():
            found.append(("openvino", "bf16"))
        if int8:
            found.append(("openvino", "int8"))
    if cuda:
        found.append(("torch", "fp16"))
    return found


def run_trial(model: str | Path, rounds: int = 5, runs_per_round: int = 4,
              threads: int | None = None, pairs: list[tuple[str, str]] | None = None,
              progress: Callable[[str], None] | None = None) -> EngineChoice:
    """Measure `pairs` (default: `candidates()`) on `model`; the fastest within
    tolerance wins (fp32 PyTorch, the reference, always qualifies)."""
    from sketchlab.core.checkpoint import load_generator

    path = Path(model)
    loaded = load_generator(path)  # verified once, shared by every candidate
    sketches = trial_sketches(loaded.config.resolution)
    ref_inv = Inverter(loaded, device="cpu", engine="torch", precision="fp32",
                       threads=threads)
    reference = np.stack(ref_inv.invert_batch(sketches))
    live: dict[str, Inverter] = {}
    trials: dict[str, dict] = {}
    int8 = find_export(loaded.path, loaded.sha256)  # timed when present
    for engine, precision in pairs or candidates(_cuda(), int8 is not None):
        key = f"{engine} {precision}"
        if progress:
            progress(key)
        entry: dict = {"engine": engine, "precision": precision, "ok": False}
        trials[key] = entry
        try:
            device = "cuda" if precision == "fp16" else "cpu"
            inv = (ref_inv if (engine, precision) == ("torch", "fp32") else
                   Inverter(loaded, device=device, engine=engine, precision=precision,
                            threads=threads))
            if (inv.engine_name, inv.precision) != (engine, precision):
                entry["error"] = f"not available here (got {inv.device_label})"
                continue
            entry["label"] = inv.device_label
            singles = np.stack([inv.invert(s) for s in sketches])
            batch = np.stack(inv.invert_batch(sketches))
            mean, peak = photo_difference(singles, reference)
            entry.update(mean_diff=round(mean, 3), max_diff=peak)
            entry["ok"] = (within_tolerance(singles, reference, precision)
                           and within_tolerance(batch, reference, precision))
            if precision == "int8" and not (int8 is not None and int8.offered):
                entry["ok"] = False  # chosen only once its verdict offered it
                entry["error"] = "int8 not offered: " + (
                    int8.reason if int8 is not None else "no int8 export")
            live[key] = inv
        except Exception as exc:  # a runtime that fails here is simply not chosen
            log.warning("engine %s could not run the model: %s", key, exc)
            entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
    samples: dict[str, list[float]] = {k: [] for k in live}
    batch8: dict[str, list[float]] = {k: [] for k in live}
    eight = [sketches[i % len(sketches)] for i in range(8)]
    for _ in range(rounds):
        for key, inv in live.items():
            samples[key] += time_samples(lambda inv=inv: inv.invert(sketches[1]),
                                         runs_per_round)
            batch8[key] += time_samples(lambda inv=inv: inv.invert_batch(eight), 1)
    for key in live:
        one = summarise(samples[key])
        trials[key].update(ms=one["median_ms"], ms_p90=one["p90_ms"],
                           ms_batch8=round(statistics.median(batch8[key]), 1))
    ok = [t for t in trials.values() if t["ok"] and "ms" in t]
    best = min(ok, key=lambda t: t["ms"])
    choice = EngineChoice(best["engine"], best["precision"], ref_inv.model_file_sha256,
                          machine_key(), trials=trials)
    log.info("fastest engine for %s here: %s (%.1f ms a sketch)", path.name, choice.label,
             best["ms"])
    return choice


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
