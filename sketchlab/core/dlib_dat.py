"""Read a dlib DNN `.dat` file (dlib's own serialization) into plain numpy records.

No dlib code runs and nothing is unpickled: the bytes are parsed with the format of
dlib's public headers (serialize.h, float_details.h, dnn/core.h, layers.h, input.h):

- integer: one control byte (bit 7 = negative, low 4 bits = byte count), then the
  absolute value little-endian; bool: ASCII '1' / '0'; string: length, then bytes;
- float: mantissa (int64) then exponent (int16), value = mantissa * 2**exponent;
- tensor: version 2, num_samples, k, nr, nc, then raw little-endian float32;
- `add_loss_layer`: version, loss details, subnetwork. `add_layer`: version, subnetwork
  (so the input layer comes first in the file), layer details, three bools, three tensors
  (x_grad, cached output, params_grad; the innermost add_layer adds an int). Tag and skip
  layers write only a version and their subnetwork.

`read_network` returns the input record and the computational layers innermost first,
which is the order a forward pass runs them in. Tags and skips carry no parameters:
the caller knows the topology (see sketchlab.core.face_net).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatFormatError(ValueError):
    """The bytes are not a dlib network of a shape this reader knows."""


@dataclass
class Layer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    params: np.ndarray | None = None  # the layer's flat float32 parameter tensor
    ints: dict[str, int] = field(default_factory=dict)


@dataclass
class Network:
    loss: str
    loss_params: tuple[float, ...]
    input_kind: str
    input_mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[Layer]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DatFormatError(f"truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self._take(1)[0]
        n = ctrl & 0x0F
        if n > 8:
            raise DatFormatError(f"bad integer control byte {ctrl:#x} at {self.pos - 1}")
        v = int.from_bytes(self._take(n), "little")
        return -v if ctrl & 0x80 else v

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0 ** exponent

    def bool(self) -> bool:
        c = bytes(self._take(1))
        if c not in (b"0", b"1"):
            raise DatFormatError(f"bad bool {c!r} at {self.pos - 1}")
        return c == b"1"

    def str(self, max_len: int = 256) -> str:
        n = self.int()
        if not 0 <= n <= max_len:
            raise DatFormatError(f"implausible string length {n} at {self.pos}")
        return bytes(self._take(n)).decode("ascii", errors="replace")

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DatFormatError(f"tensor version {version}, expected 2")
        dims = [self.int() for _ in range(4)]
        if min(dims) < 0:
            raise DatFormatError(f"negative tensor dims {dims}")
        n = int(np.prod(dims, dtype=np.int64))
        raw = self._take(4 * n)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            raise DatFormatError("alias_tensor version, expected 1")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]


def _layer_details(r: _Reader) -> Layer:
    name = r.str()
    if name in ("con_4", "con_5"):
        params = r.tensor().reshape(-1)
        keys = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        ints = {k: r.int() for k in keys}
        filters, _biases = r.alias(), r.alias()
        ints["k"] = filters[1]
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.float()
        if name == "con_5":
            ints["use_bias"] = int(r.bool())
        return Layer("con", params, ints)
    if name == "affine_":
        params = r.tensor().reshape(-1)
        gamma, _beta = r.alias(), r.alias()
        mode = r.int()
        return Layer("affine", params, {"channels": gamma[1], "mode": mode})
    if name in ("max_pool_2", "avg_pool_2"):
        keys = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return Layer(name[:-2], None, {k: r.int() for k in keys})
    if name == "relu_":
        return Layer("relu")
    if name == "add_prev_":
        return Layer("add_prev")
    if name == "fc_2":
        ints = {"num_outputs": r.int(), "num_inputs": r.int()}
        params = r.tensor().reshape(-1)
        r.alias()
        r.alias()
        ints["bias"] = r.int()  # bias_mode: 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS
        for _ in range(4):
            r.float()
        return Layer("fc", params, ints)
    raise DatFormatError(f"unsupported dlib layer {name!r}")


def read_network(data: bytes) -> Network:
    """Parse an `add_loss_layer<..., add_layer/tag/skip ..., input_rgb_image_sized>` file."""
    r = _Reader(data)
    if r.int() != 1:
        raise DatFormatError("not a dlib add_loss_layer (version)")
    loss = r.str()
    if loss != "loss_metric_2":
        raise DatFormatError(f"unsupported loss layer {loss!r}")
    loss_params = (r.float(), r.float())  # margin, distance threshold
    # Nested versions, outermost first: 2 = add_layer, 1 = tag/skip, 3 = innermost
    # add_layer over the input layer (the last one).
    versions: list[int] = []
    while True:
        v = r.int()
        if v not in (1, 2, 3):
            raise DatFormatError(f"unexpected layer version {v}")
        versions.append(v)
        if v == 3:
            break
        if len(versions) > 10_000:
            raise DatFormatError("network nesting too deep")
    input_kind = r.str()
    if input_kind != "input_rgb_image_sized":
        raise DatFormatError(f"unsupported input layer {input_kind!r}")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    n_layers = sum(1 for v in versions if v in (2, 3))
    layers: list[Layer] = []
    for i in range(n_layers):
        layers.append(_layer_details(r))
        for _ in range(3):
            r.bool()
        for _ in range(3):
            r.tensor()
        if i == 0:
            r.int()  # the innermost add_layer's sample expansion factor
    if r.pos != len(r.data):
        raise DatFormatError(f"{len(r.data) - r.pos} unread bytes at the end")
    return Network(loss, loss_params, input_kind, mean, size, layers)


def read_network_file(path: str | Path) -> Network:
    return read_network(Path(path).read_bytes())
