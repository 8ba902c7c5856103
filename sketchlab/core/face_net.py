"""dlib's face descriptor network (`dlib_face_recognition_resnet_model_v1`) in PyTorch.

The app ranks candidates by the distance between dlib's 128-d descriptors, so the
trainer asks the generator for photos whose descriptors match the true photo's. That
needs the network differentiable and batched: this is dlib's ResNet rebuilt layer by
layer, its weights read from the `.dat` file that face_recognition_models installs
(sketchlab.core.dlib_dat; nothing is downloaded, dlib's models are public domain).
`tests/core/test_face_net.py` holds it to face_recognition's own descriptors.

Topology (dlib's dnn_face_recognition_ex.cpp): 7x7/2 conv to 32, affine, relu, 3x3/2
max pool; residual blocks of 32 (x3), 64 (x4), 128 (x3), 256 (x3), 256 (x1), the first
of each level after the first a stride-2 "down" block whose shortcut is a 2x2/2 average
pool; global average pool; 128-d fc without bias. dlib pads no stride-2 layer, and it
adds two tensors of different shapes by zero-padding both to the larger one (channels,
rows, columns at the far end), which the down blocks rely on (e.g. 3x3x256 + 4x4x128).
Inputs are 150x150 RGB chips; dlib subtracts its mean colour and divides by 256.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from sketchlab.core.atomic import atomic_write
from sketchlab.core.dlib_dat import DatFormatError, Layer, read_network_file
from sketchlab.core.frame import CHIP_AFFINE, FRAME_SIZE, face_box
from sketchlab.core.hashing import sha256_file

log = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib's get_face_chip_details default, used by face_recognition
DESCRIPTOR_DIM = 128
CACHE_FORMAT = "sketchlab-dlib-face-net-1"


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's tt::add for mismatched shapes: both zero-padded to the larger (C, H, W)."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, w - x.shape[3], 0, h - x.shape[2], 0, c - x.shape[1]))

    return pad(a) + pad(b)


class Affine(nn.Module):
    """dlib's affine_ layer (a frozen batch norm): y = gamma * x + beta per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


class ResBlock(nn.Module):
    """relu(affine(conv(relu(affine(conv(x, stride))))) + shortcut(x))."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        stride = 2 if down else 1
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 0 if down else 1)
        self.bn1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(skip, y))


# (channels, down) of each residual block, input side first.
BLOCKS = ((32, False),) * 3 + ((64, True),) + ((64, False),) * 3 + ((128, True),) + \
    ((128, False),) * 2 + ((256, True),) + ((256, False),) * 2 + ((256, True),)


class FaceDescriptorNet(nn.Module):
    """Maps (B, 3, 150, 150) chips with values 0..255 (RGB) to (B, 128) descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.bn = Affine(32)
        blocks, cin = [], 32
        for cout, down in BLOCKS:
            blocks.append(ResBlock(cin, cout, down))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, DESCRIPTOR_DIM, bias=False)

    def features(self, chips: torch.Tensor) -> list[torch.Tensor]:
        """Activations after the stem and after each residual level (perceptual loss)."""
        x = (chips - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 3, 2)
        feats = [x]
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i + 1 == len(self.blocks) or self.blocks[i + 1].down:
                feats.append(x)
        return feats

    def head(self, last: torch.Tensor) -> torch.Tensor:
        return self.fc(last.mean(dim=(2, 3)))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(chips)[-1])


# --- weights from dlib's file ------------------------------------------------------------
def _expect(layer: Layer, kind: str, **ints: int) -> Layer:
    if layer.kind != kind or any(layer.ints.get(k) != v for k, v in ints.items()):
        raise DatFormatError(f"expected {kind} {ints}, found {layer.kind} {layer.ints}")
    return layer


def _load_conv(conv: nn.Conv2d, layer: Layer) -> None:
    _expect(layer, "con", num_filters=conv.out_channels, nr=conv.kernel_size[0],
            stride_y=conv.stride[0], padding_y=conv.padding[0], k=conv.in_channels)
    w = conv.weight
    n = w.numel()
    p = torch.from_numpy(layer.params.copy())
    if p.numel() != n + conv.out_channels:
        raise DatFormatError(f"conv params: {p.numel()} values for {tuple(w.shape)} + bias")
    with torch.no_grad():
        w.copy_(p[:n].view_as(w))
        conv.bias.copy_(p[n:])


def _load_affine(aff: Affine, layer: Layer) -> None:
    c = aff.gamma.shape[1]
    _expect(layer, "affine", channels=c, mode=0)
    p = torch.from_numpy(layer.params.copy())
    with torch.no_grad():
        aff.gamma.copy_(p[:c].view(1, c, 1, 1))
        aff.beta.copy_(p[c:].view(1, c, 1, 1))


def state_from_dat(path: str | Path) -> dict[str, torch.Tensor]:
    """Build the network and fill it from dlib's file, checking every layer on the way."""
    net_spec = read_network_file(path)
    if net_spec.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise DatFormatError(f"input size {net_spec.input_size}, expected 150x150")
    layers = iter(net_spec.layers)
    net = FaceDescriptorNet()
    with torch.no_grad():
        net.mean_rgb.copy_(torch.tensor(net_spec.input_mean_rgb).view(1, 3, 1, 1))
    _load_conv(net.conv, next(layers))
    _load_affine(net.bn, next(layers))
    _expect(next(layers), "relu")
    _expect(next(layers), "max_pool", nr=3, stride_y=2, padding_y=0)
    for block in net.blocks:
        _load_conv(block.conv1, next(layers))
        _load_affine(block.bn1, next(layers))
        _expect(next(layers), "relu")
        _load_conv(block.conv2, next(layers))
        _load_affine(block.bn2, next(layers))
        if block.down:
            _expect(next(layers), "avg_pool", nr=2, stride_y=2, padding_y=0)
        _expect(next(layers), "add_prev")
        _expect(next(layers), "relu")
    _expect(next(layers), "avg_pool", nr=0, nc=0)  # avg_pool_everything
    fc = _expect(next(layers), "fc", num_outputs=DESCRIPTOR_DIM, num_inputs=256, bias=1)
    if next(layers, None) is not None:
        raise DatFormatError("layers left over after the fc layer")
    w = torch.from_numpy(fc.params.copy()).view(256, DESCRIPTOR_DIM)  # x @ W in dlib
    with torch.no_grad():
        net.fc.weight.copy_(w.t())
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def dlib_model_path() -> Path:
    from sketchlab.core.dlib_api import face_recognition_models

    return Path(face_recognition_models().face_recognition_model_location())


def _cache_dir() -> Path:
    from sketchlab.core import paths

    return paths.user_cache_dir() / "face_net"


def face_net_state(dat_path: str | Path | None = None, cache_dir: str | Path | None = None
                   ) -> tuple[dict[str, torch.Tensor], str, str]:
    """(weights, the `.dat`'s SHA-256, its file name), converted once per `.dat` (by
    SHA-256) and cached as safetensors in the user cache (a corrupt entry is rebuilt)."""
    dat = Path(dat_path) if dat_path else dlib_model_path()
    sha = sha256_file(dat)
    cache = Path(cache_dir) if cache_dir else _cache_dir()
    cached = cache / f"dlib-face-net-{sha[:16]}.safetensors"
    state = None
    if cached.is_file():
        try:
            state = load_file(cached)
        except Exception as exc:  # unreadable cache: convert again
            log.warning("ignoring face net cache %s: %s", cached, exc)
    if state is None:
        state = state_from_dat(dat)
        with atomic_write(cached) as fh:
            fh.write(safetensors_bytes(state, metadata={
                "format": CACHE_FORMAT, "source_sha256": sha, "source": dat.name}))
    return state, sha, dat.name


def face_net_from_state(state: dict[str, torch.Tensor], device: str | torch.device = "cpu"
                        ) -> FaceDescriptorNet:
    """The port in eval mode with frozen weights."""
    net = FaceDescriptorNet()
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    return net.to(device)


def load_face_net(dat_path: str | Path | None = None, cache_dir: str | Path | None = None,
                  device: str | torch.device = "cpu") -> FaceDescriptorNet:
    """The port with dlib's weights (`face_net_state`), frozen, in eval mode."""
    return face_net_from_state(face_net_state(dat_path, cache_dir)[0], device)


# --- the face chip of a canonical-frame image ----------------------------------------------
# One fixed affine of the frame (core.frame.CHIP_AFFINE, measured at FRAME_SIZE).


def chip_matrix(frame: tuple[int, int]) -> torch.Tensor:
    """3x3 map from chip pixels to pixels of a canonical frame of size (h, w)."""
    h, w = frame
    m = torch.tensor(CHIP_AFFINE, dtype=torch.float64)
    sy, sx = h / FRAME_SIZE[0], w / FRAME_SIZE[1]
    m = torch.cat([m[:1] * sx, m[1:] * sy])
    return torch.cat([m, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])


def canonical_chips(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) canonical-frame images in [-1, 1] -> (B, 3, 150, 150) chips in 0..255,
    differentiable (affine_grid + bilinear grid_sample; black outside, as dlib)."""
    b, _, h, w = frames.shape
    n = CHIP_SIZE
    # normalised chip coords -> chip pixels -> frame pixels -> normalised frame coords
    s = torch.tensor([[n / 2, 0, (n - 1) / 2], [0, n / 2, (n - 1) / 2], [0, 0, 1]],
                     dtype=torch.float64)
    to_norm = torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]],
                           dtype=torch.float64)
    theta = (to_norm @ chip_matrix((h, w)) @ s)[:2].to(frames.dtype).to(frames.device)
    grid = F.affine_grid(theta.expand(b, 2, 3), [b, 3, n, n], align_corners=False)
    pixels = (frames.float() + 1.0) * 127.5
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def measure_canonical_chip(frames: list) -> torch.Tensor:
    """Mean chip->frame affine (2x3) of aligned uint8 RGB frames, as dlib would cut it."""
    import dlib
    import numpy as np

    from sketchlab.core.dlib_api import face_recognition_api

    # face_recognition's own 5-point predictor: the landmarks its encodings are cut from.
    predictor = face_recognition_api().api.pose_predictor_5_point
    mats = []
    for frame in frames:
        t, r, b, left = face_box(frame.shape[:2])
        shape = predictor(np.ascontiguousarray(frame), dlib.rectangle(left, t, r, b))
        det = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
        rect, a = det.rect, det.angle
        cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
        cos, sin = np.cos(a), np.sin(a)

        def rot(x: float, y: float, cx: float = cx, cy: float = cy, cos: float = cos,
                sin: float = sin) -> tuple[float, float]:
            return cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)

        # dlib's extract_image_chips maps chip corners onto the rotated rectangle's.
        last = det.cols - 1
        src = np.array([[0, 0, 1], [last, 0, 1], [0, last, 1]], np.float64)
        dst = np.array([rot(rect.left(), rect.top()), rot(rect.right(), rect.top()),
                        rot(rect.left(), rect.bottom())], np.float64)
        mats.append(np.linalg.solve(src, dst).T)
    return torch.from_numpy(np.mean(mats, axis=0))
