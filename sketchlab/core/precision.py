"""Which number format the network runs in: one rule for the app, the CLI and the trainer.

Torch-free so the settings and the model listing can name the choices without importing
torch (cold start). `sketchlab.core.inference` probes the CPU and applies the rule.
"""

from __future__ import annotations

import os

PRECISIONS = ("auto", "fp32", "bf16", "int8")  # what a user may ask for; CUDA runs fp16
# int8 runs only on the ONNX engines, from a quantized export shipped beside the model
# file (`core.int8_export`); PyTorch asked for it runs fp32.
ENV = "SKETCHLAB_PRECISION"  # the default for "auto", e.g. fp32 for a whole lab's runs


def requested_precision(preference: str | None) -> str:
    """What was asked for: `preference` unless "auto" (or None), else $SKETCHLAB_PRECISION,
    else "auto" (the CPU decides)."""
    if preference in (None, "", "auto"):
        preference = os.environ.get(ENV, "").strip().lower() or "auto"
    if preference not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                         f"{preference!r} (from the setting or ${ENV})")
    return preference


def resolve_precision(device_type: str, preference: str | None, native_bf16: bool) -> str:
    """The precision actually used: "fp16" on CUDA; on CPU "bf16" only where the CPU does
    bf16 in hardware (emulated bf16 is many times slower than fp32), unless fp32 is asked
    for; else "fp32". "auto" (or None) defers to $SKETCHLAB_PRECISION, then to the CPU."""
    preference = requested_precision(preference)
    if device_type == "cuda":
        return "fp16"
    if preference in ("fp32", "int8") or not native_bf16:
        return "fp32"
    return "bf16"
