"""The query adapter: moves a sketch's search descriptor toward where the true photo's lies.

A synthesized photo (and still more a raw sketch) lands in dlib's descriptor space away
from the photo of the same person, in a direction that depends on the artist and the
network more than on the person. The gallery keeps plain dlib descriptors; only the query
moves: `adapted = fused + W0 x + MLP(x)` with x = [variants' mean, raw sketch], a
residual (a linear part and a small nonlinear one) that starts at zero, small enough to
switch off (`--no-adapter`) and compare. It is trained by `python -m trainer adapter`
(metric learning against gallery-like faces) and stored in the model file's metadata
with its own SHA-256, beside the generator whose photos it reads: an adapter belongs to
one generator, so the model's hash is recorded with it and checked on load.

numpy only: it runs wherever a query is made (app, CLI, trainer), without torch.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

META_KEY = "query_adapter"
DIM = 128
WEIGHTS = ("w0", "w1", "b1", "w2", "b2")


class AdapterError(ValueError):
    """A stored adapter that is malformed, edited or made for another generator."""


def _encode(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(d: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(s) for s in d["shape"])
    a = np.frombuffer(base64.b64decode(d["f32"]), dtype="<f4")
    if a.size != int(np.prod(shape)):
        raise AdapterError("adapter tensor size does not match its shape")
    return a.reshape(shape).astype(np.float32)


@dataclass(frozen=True)
class QueryAdapter:
    """Residual linear + MLP map of [mean of the variants' descriptors, raw sketch's]."""

    w0: np.ndarray  # (DIM, 2*DIM) the linear part
    w1: np.ndarray  # (H, 2*DIM)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (DIM, H)
    b2: np.ndarray  # (DIM,)
    generator_sha256: str  # the model whose photos it was trained on
    info: dict[str, Any] = field(default_factory=dict)  # how it was trained (for the card)

    def __post_init__(self) -> None:
        h = self.w1.shape[0]
        shapes = {"w0": (DIM, 2 * DIM), "w1": (h, 2 * DIM), "b1": (h,), "w2": (DIM, h),
                  "b2": (DIM,)}
        if any(getattr(self, k).shape != v for k, v in shapes.items()):
            raise AdapterError("adapter weights have the wrong shapes")
        if not all(np.isfinite(a).all() for a in (self.w0, self.w1, self.b1, self.w2, self.b2)):
            raise AdapterError("adapter weights hold NaN or infinite values")

    def __call__(self, fused: np.ndarray, variants_mean: np.ndarray, raw: np.ndarray
                 ) -> np.ndarray:
        """The adapted descriptor(s); rows of (..., 128) arrays."""
        x = np.concatenate([variants_mean, raw], axis=-1).astype(np.float32)
        h = np.maximum(x @ self.w1.T + self.b1, 0.0)
        return (np.asarray(fused, np.float32) + x @ self.w0.T + h @ self.w2.T
                + self.b2).astype(np.float32)

    def payload(self) -> str:
        body: dict[str, Any] = {k: _encode(getattr(self, k)) for k in WEIGHTS}
        body.update(generator_sha256=self.generator_sha256, info=self.info)
        return json.dumps(body, sort_keys=True)

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload().encode()).hexdigest()

    def metadata(self) -> dict[str, str]:
        """The model-file metadata entries that store it."""
        return {META_KEY: self.payload(), META_KEY + "_sha256": self.sha256}


_LOADED: dict[tuple[str, str], QueryAdapter | None] = {}


def model_adapter(meta: dict[str, str], generator_sha256: str) -> QueryAdapter | None:
    """`read_adapter`, decoded once per model file content (every search asks)."""
    key = (generator_sha256, meta.get(META_KEY + "_sha256", ""))
    if key not in _LOADED:
        _LOADED[key] = read_adapter(meta, generator_sha256)
    return _LOADED[key]


def read_adapter(meta: dict[str, str], generator_sha256: str) -> QueryAdapter | None:
    """The adapter stored in a model file's metadata (None when it has none)."""
    text = meta.get(META_KEY)
    if not text:
        return None
    if hashlib.sha256(text.encode()).hexdigest() != meta.get(META_KEY + "_sha256"):
        raise AdapterError("the query adapter does not match its recorded SHA-256")
    try:
        body = json.loads(text)
        adapter = QueryAdapter(*(_decode(body[k]) for k in WEIGHTS),
                               str(body["generator_sha256"]), dict(body.get("info") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterError(f"malformed query adapter: {exc}") from exc
    if adapter.generator_sha256 != generator_sha256:
        raise AdapterError("the query adapter was trained for another generator "
                           f"({adapter.generator_sha256[:12]}); retrain it")
    return adapter
