"""The PyTorch port of dlib's face descriptor network against dlib itself."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sketchlab.core import dlib_dat
from sketchlab.core.face_net import (
    CHIP_SIZE,
    canonical_chips,
    dlib_model_path,
    load_face_net,
    measure_canonical_chip,
    state_from_dat,
)
from sketchlab.core.frame import CHIP_AFFINE, face_box
from sketchlab.core.matching import (
    detect_faces,
    embed_batch,
    face_chip,
    face_recognition_api,
)
from sketchlab.core.preprocess import prepare_photo, prepare_sketch, to_tensor_array


# --- dlib serialization --------------------------------------------------------------------
def _dlib_int(v: int) -> bytes:
    body = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little") if v else b""
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


@pytest.mark.parametrize("value", [0, 1, 150, 4736, 2**40 + 3, -28, -(2**20)])
def test_integer_encoding_round_trip(value):
    r = dlib_dat._Reader(_dlib_int(value))
    assert r.int() == value


def test_float_is_mantissa_times_power_of_two():
    r = dlib_dat._Reader(_dlib_int(10737418) + _dlib_int(-28))
    assert r.float() == pytest.approx(0.04, rel=1e-6)


def test_tensor_and_truncation():
    values = np.arange(6, dtype="<f4")
    blob = b"".join(_dlib_int(v) for v in (2, 1, 2, 3, 1)) + values.tobytes()
    t = dlib_dat._Reader(blob).tensor()
    assert t.shape == (1, 2, 3, 1) and t.reshape(-1).tolist() == values.tolist()
    with pytest.raises(dlib_dat.DatFormatError, match="truncated"):
        dlib_dat._Reader(blob[:-1]).tensor()


def test_foreign_and_damaged_files_are_refused(tmp_path):
    with pytest.raises(dlib_dat.DatFormatError):
        dlib_dat.read_network(_dlib_int(1) + _dlib_int(8) + b"loss_mmo")
    with pytest.raises(dlib_dat.DatFormatError):
        dlib_dat.read_network(b"\x8f" * 20)
    data = dlib_model_path().read_bytes()
    with pytest.raises(dlib_dat.DatFormatError, match="truncated"):
        dlib_dat.read_network(data[: len(data) // 2])
    with pytest.raises(dlib_dat.DatFormatError, match="unread"):
        dlib_dat.read_network(data + b"\x00")


def test_the_installed_model_parses_to_dlibs_topology():
    net = dlib_dat.read_network_file(dlib_model_path())
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    assert net.input_size == (CHIP_SIZE, CHIP_SIZE)
    assert net.loss_params[1] == pytest.approx(0.6)


# --- the network against dlib --------------------------------------------------------------
def _real_faces(data: Path, per_kind: int = 12) -> list[tuple[str, np.ndarray, tuple]]:
    """(label, RGB image, face box) for LFW photos, CUFS photos and CUFS sketches."""
    out = []
    with open(data / "lfw" / "manifest.csv", newline="") as fh:
        lfw = [r["photo"] for r in csv.DictReader(fh)][::997][:per_kind]
    with open(data / "cufs_cuhk" / "manifest.csv", newline="") as fh:
        cufs = [r for r in csv.DictReader(fh) if r["split"] == "test"][:per_kind]
    from sketchlab.core.imageio import load_image

    for rel in lfw:
        img = load_image(data / "lfw" / rel)
        boxes = detect_faces(img)
        if boxes:
            out.append((f"lfw:{rel}", img, boxes[0]))
    for r in cufs:
        photo = load_image(data / "cufs_cuhk" / r["photo"])
        out.append((f"cufs-photo:{r['identity']}", photo, detect_faces(photo)[0]))
        # Sketches the way the app embeds them: canonical frame, known face box.
        sketch = prepare_sketch(data / "cufs_cuhk" / r["sketch"]).image
        out.append((f"cufs-sketch:{r['identity']}", sketch,
                    face_box(sketch.shape[:2])))
    return out


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return load_face_net(cache_dir=tmp_path_factory.mktemp("face_net"))


@pytest.mark.slow
def test_port_equals_face_recognition_on_real_faces(shared_data, net):
    fr = face_recognition_api()
    faces = _real_faces(shared_data)
    assert len(faces) >= 30
    ref, chips = [], []
    for _, img, box in faces:
        ref.append(fr.face_encodings(img, [tuple(int(v) for v in box)])[0])
        chips.append(face_chip(img, box))
    ref = np.stack(ref).astype(np.float32)
    x = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        port = net(x).numpy()
    worst = float(np.abs(port - ref).max())
    print(f"largest per-component difference from dlib over {len(faces)} faces: {worst:.2e}")
    assert worst < 1e-3
    # Same nearest neighbour for every face, among all the other faces.
    def nearest(q: np.ndarray, g: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(q[:, None] - g[None], axis=2)
        np.fill_diagonal(d, np.inf)
        return d.argmin(axis=1)

    assert (nearest(port, ref) == nearest(ref, ref)).all()
    # The batched gallery path (dlib's chips, the port's descriptors) gives the same.
    batched = embed_batch([img for _, img, _ in faces], [box for _, _, box in faces], batch=7)
    assert np.abs(np.stack(batched) - ref).max() < 1e-3
    assert embed_batch([np.full((60, 60, 3), 255, np.uint8)]) == [None]  # no face: None


def test_cache_is_reused_and_rebuilt_when_corrupt(tmp_path):
    a = load_face_net(cache_dir=tmp_path)
    cached = list(tmp_path.glob("*.safetensors"))
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o077 == 0
    cached[0].write_bytes(b"not a safetensors file")
    b = load_face_net(cache_dir=tmp_path)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_another_dat_file_is_converted_on_its_own(tmp_path):
    copy = tmp_path / "copy.dat"
    shutil.copyfile(dlib_model_path(), copy)
    with open(copy, "ab") as fh:
        fh.write(b"\x00")  # a different SHA-256 and a damaged file
    with pytest.raises(dlib_dat.DatFormatError):
        load_face_net(copy, cache_dir=tmp_path / "cache")


def test_weights_are_frozen_and_state_complete(net):
    assert not any(p.requires_grad for p in net.parameters())
    state = state_from_dat(dlib_model_path())
    assert set(state) == set(net.state_dict())


# --- the canonical chip --------------------------------------------------------------------
@pytest.mark.slow
def test_canonical_chip_matches_dlibs_cut_and_passes_gradients(shared_data, net):
    with open(shared_data / "cufs_cuhk" / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"][:8]
    frames = [prepare_photo(shared_data / "cufs_cuhk" / r["photo"]).image for r in rows]
    measured = measure_canonical_chip(frames).numpy()
    assert np.abs(measured[:, :2] - np.array(CHIP_AFFINE)[:, :2]).max() < 0.03
    assert np.abs(measured[:, 2] - np.array(CHIP_AFFINE)[:, 2]).max() < 3.0

    x = torch.stack([torch.from_numpy(to_tensor_array(f)) for f in frames]).requires_grad_()
    chips = canonical_chips(x)
    assert chips.shape == (len(frames), 3, CHIP_SIZE, CHIP_SIZE)
    for frame, chip in zip(frames, chips.detach(), strict=True):
        ref = face_chip(frame, face_box(frame.shape[:2])).astype(np.float32)
        # Per-face landmarks vs one fixed affine: a pixel or so of offset, no more.
        assert np.abs(chip.permute(1, 2, 0).numpy() - ref).mean() < 25
    fr = face_recognition_api()
    desc = net(chips)
    desc.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    app = np.stack([fr.face_encodings(f, [face_box(f.shape[:2])])[0] for f in frames])
    d = np.linalg.norm(desc.detach().numpy() - app, axis=1)
    assert np.median(d) < 0.15  # same person by a wide margin (dlib's threshold is 0.6)
