"""int8: the export is made beside the model, runs on ONNX Runtime and OpenVINO when asked
for by name, is refused when damaged, and joins the engine trial only once its verdict
against fp32 (identification and FSIM) has offered it."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil

import numpy as np
import pytest

from sketchlab.core.engine_trial import candidates, trial_sketches
from sketchlab.core.engines import MEAN_TOLERANCE, photo_difference
from sketchlab.core.inference import Inverter, to_tensor_array
from sketchlab.core.int8_export import export_paths, find_export, offered, verdict
from sketchlab.core.model_catalog import describe

pytest.importorskip("onnxruntime")


def _summary(sha: str, **over) -> dict:
    base = {"rank1": 0.46, "rank10": 0.90, "rank1_grey": 0.44, "rank10_grey": 0.87,
            "fsim": 0.780, "n_queries": 100, "gallery_size": 13333, "model_sha256": sha}
    return base | over


def test_the_verdict_holds_int8_to_one_point_and_fsim_to_0_005():
    ok = verdict(_summary("x"), _summary("x", rank1=0.45, rank10_grey=0.88, fsim=0.776))
    assert ok["offered"] and ok["deltas"]["rank1"] == -1.0
    worse = verdict(_summary("x"), _summary("x", rank1=0.44))
    assert not worse["offered"] and "rank1 46 -> 44 %" in worse["reason"]
    blurred = verdict(_summary("x"), _summary("x", fsim=0.774))
    assert not blurred["offered"] and "FSIM" in blurred["reason"]
    with pytest.raises(ValueError, match="n_queries"):
        verdict(_summary("x"), _summary("x", n_queries=99))
    with pytest.raises(ValueError, match="FSIM is missing"):
        verdict(_summary("x", fsim=float("nan")), _summary("x"))


@pytest.fixture
def quantized(tiny_model, tmp_path):
    from trainer.quantize import quantize

    model = tmp_path / "tiny.safetensors"
    shutil.copy(tiny_model, model)
    h, w = describe(model).config.resolution
    sketches = trial_sketches((h, w))
    calibration = np.stack([to_tensor_array(s) for s in sketches * 2])
    onnx_path, record = quantize(str(model), calibration=calibration)
    return model, onnx_path, record


def test_an_export_is_made_beside_the_model_and_not_offered_until_evaluated(quantized):
    model, onnx_path, record = quantized
    assert (onnx_path, onnx_path.with_name("tiny.int8.json")) == export_paths(model)
    assert record["verdict"] == {"offered": False,
                                 "reason": "not yet evaluated against fp32"}
    assert record["quantization"]["ops"] == ["Conv"]
    header = describe(model)
    found = find_export(model, header.sha256)
    assert found is not None and not found.offered
    assert find_export(model, "other weights") is None


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_int8_runs_when_asked_for_by_name(quantized, engine, monkeypatch):
    if importlib.util.find_spec(engine) is None:  # not importorskip: it would load
        pytest.skip(f"{engine} is not installed")  # OpenVINO with its telemetry
    monkeypatch.delenv("SKETCHLAB_ENGINE", raising=False)
    model, _, _ = quantized
    inv = Inverter(model, device="cpu", engine=engine, precision="int8", warmup=False)
    assert (inv.engine_name, inv.precision) == (engine, "int8")
    assert inv.device_label.endswith("int8)")
    ref = Inverter(model, device="cpu", engine="torch", precision="fp32", warmup=False)
    sketches = trial_sketches(inv.resolution)
    mean, _ = photo_difference(np.stack(inv.invert_batch(sketches)),
                               np.stack(ref.invert_batch(sketches)))
    assert mean <= MEAN_TOLERANCE


def test_a_damaged_export_is_refused_and_pytorch_runs(quantized, monkeypatch, caplog):
    monkeypatch.delenv("SKETCHLAB_ENGINE", raising=False)
    model, onnx_path, _ = quantized
    data = bytearray(onnx_path.read_bytes())
    data[-10] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        inv = Inverter(model, device="cpu", engine="onnxruntime", precision="int8",
                       warmup=False)
    assert inv.engine_name == "torch" and inv.precision == "fp32"
    assert "damaged" in caplog.text and "no int8 export" in caplog.text


def _evaluation(path, sha, precision, **over):
    path.write_text(json.dumps({"summary": _summary(sha, **over),
                                "engine": {"engine": "onnxruntime", "precision": precision}}))
    return path


def test_the_verdict_offers_it_to_the_engine_trial(quantized, tmp_path):
    from trainer.quantize import decide

    model, _, _ = quantized
    sha = describe(model).sha256
    assert not offered(model, sha)
    fp32 = _evaluation(tmp_path / "fp32.json", sha, "fp32")
    with pytest.raises(ValueError, match="precision int8"):
        decide(str(model), fp32, _evaluation(tmp_path / "a.json", sha, "fp32"))
    with pytest.raises(ValueError, match="other weights"):
        decide(str(model), fp32, _evaluation(tmp_path / "b.json", "0" * 64, "int8"))
    failed = decide(str(model), fp32, _evaluation(tmp_path / "c.json", sha, "int8",
                                                  rank1=0.40))
    assert not failed["offered"] and not offered(model, sha)
    passed = decide(str(model), fp32, _evaluation(tmp_path / "d.json", sha, "int8"))
    assert passed["offered"] and offered(model, sha)
    pairs = candidates(int8=True)
    assert ("onnxruntime", "int8") in pairs and ("onnxruntime", "int8") not in candidates()
