"""The network's number format: the rule, the CPU probe's fallback, and what each gives."""

import logging

import numpy as np
import pytest
import torch

from sketchlab.core import engine_torch
from sketchlab.core.checkpoint import load_generator
from sketchlab.core.engine_torch import native_bf16
from sketchlab.core.inference import Inverter
from sketchlab.core.precision import ENV, resolve_precision
from sketchlab.core.preprocess import from_tensor_array, to_tensor_array


@pytest.mark.parametrize(("device", "asked", "native", "used"), [
    ("cpu", "auto", True, "bf16"),
    ("cpu", "auto", False, "fp32"),
    ("cpu", "fp32", True, "fp32"),
    ("cpu", "bf16", True, "bf16"),
    ("cpu", "bf16", False, "fp32"),  # emulated bf16 is slower than fp32: never used
    ("cuda", "fp32", False, "fp16"),  # the GPU path is unchanged
    ("cuda", "auto", True, "fp16"),
])
def test_the_rule(monkeypatch, device, asked, native, used):
    monkeypatch.delenv(ENV, raising=False)
    assert resolve_precision(device, asked, native) == used


def test_the_environment_sets_auto_and_a_setting_overrides_it(monkeypatch):
    monkeypatch.setenv(ENV, "fp32")
    assert resolve_precision("cpu", "auto", True) == "fp32"
    assert resolve_precision("cpu", None, True) == "fp32"
    assert resolve_precision("cpu", "bf16", True) == "bf16"
    monkeypatch.setenv(ENV, "fp8")
    with pytest.raises(ValueError, match="SKETCHLAB_PRECISION"):
        resolve_precision("cpu", "auto", True)
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("cpu", "half", True)


def _reference_fp32(model, sketches):
    """What the network gives in plain eager fp32 torch, no Inverter involved."""
    net = load_generator(model).generator.eval()
    x = torch.from_numpy(np.stack([to_tensor_array(s) for s in sketches]))
    with torch.inference_mode():
        y = net(x).numpy()
    return [from_tensor_array(a) for a in y]


def _sketches(shape, n=2):
    rng = np.random.default_rng(3)
    return [np.where(rng.random((*shape, 1)) < 0.2, 0, 255).repeat(3, 2).astype(np.uint8)
            for _ in range(n)]


def test_fp32_is_the_plain_fp32_network(monkeypatch, tiny_model):
    monkeypatch.delenv(ENV, raising=False)
    inv = Inverter(tiny_model, device="cpu", precision="fp32")
    assert inv.precision == "fp32" and inv.engine.dtype == torch.float32
    assert inv.device_label.endswith(", fp32)")
    sketches = _sketches(inv.resolution)
    for ours, ref in zip(inv.invert_batch(sketches), _reference_fp32(tiny_model, sketches),
                         strict=True):
        assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


def test_a_cpu_without_native_bf16_runs_fp32(monkeypatch, tiny_model, caplog):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(engine_torch, "native_bf16", lambda: False)
    assert Inverter(tiny_model, device="cpu", warmup=False).precision == "fp32"
    with caplog.at_level(logging.WARNING, logger="sketchlab.core.engine_torch"):
        inv = Inverter(tiny_model, device="cpu", warmup=False, precision="bf16")
    assert inv.precision == "fp32" and "no native bf16" in caplog.text
    assert inv.device_label.endswith(", fp32)")


def test_the_probe_reads_torch_and_survives_a_torch_without_it(monkeypatch):
    assert isinstance(native_bf16(), bool)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert native_bf16() is False


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16")
def test_bf16_where_native_and_close_to_fp32(monkeypatch, tiny_model):
    monkeypatch.delenv(ENV, raising=False)
    loaded = load_generator(tiny_model)
    inv = Inverter(loaded, device="cpu")
    assert inv.precision == "bf16" and inv.device_label.endswith(", bf16)")
    sketches = _sketches(inv.resolution, 4)
    live = [inv.invert(s) for s in sketches]  # the frozen single-sketch graph
    batch = inv.invert_batch(sketches)  # the eager batch path (a search's variants)
    for a, b in zip(live, batch, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    ref = _reference_fp32(tiny_model, sketches)
    diff = np.abs(np.stack(live).astype(int) - np.stack(ref).astype(int))
    assert 0 < diff.mean() < 3 and diff.max() <= 24
    # The caller's model is left in fp32: a second, fp32 Inverter from it is exact.
    assert next(loaded.generator.parameters()).dtype == torch.float32
    fp32 = Inverter(loaded, device="cpu", precision="fp32", warmup=False)
    for a, b in zip(fp32.invert_batch(sketches), ref, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_bench_reports_the_precision(tiny_model):
    from sketchlab.core.bench import bench_inverter

    out = bench_inverter(Inverter(tiny_model, device="cpu", precision="fp32"), runs=2)
    assert out["precision"] == "fp32"
