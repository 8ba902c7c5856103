"""Engines: every engine's photos stay within tolerance of fp32 PyTorch's on real
sketches; the measured choice is remembered per model file and machine; an engine that
cannot start falls back to PyTorch with a log line; the cached ONNX export is checked;
the live photo can start without importing torch."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from sketchlab.core import engine_onnx
from sketchlab.core.engine_trial import candidates, needs_trial, run_trial, trial_sketches
from sketchlab.core.engines import (
    MAX_TOLERANCE,
    MEAN_TOLERANCE,
    EngineChoice,
    forget_choices,
    photo_difference,
    remember_choice,
    remembered_choice,
)
from sketchlab.core.hashing import sha256_file
from sketchlab.core.inference import Inverter
from sketchlab.core.model_catalog import resolve_model

CPU_PAIRS = [p for p in candidates() if p != ("torch", "fp32")]


@pytest.fixture(scope="module")
def real_sketches(shared_data):
    """Five CUFS test sketches, aligned as the app aligns them."""
    import csv

    from sketchlab.core.preprocess import prepare_sketch

    with open(shared_data / "cufs_cuhk" / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"][:5]
    return [prepare_sketch(shared_data / "cufs_cuhk" / r["sketch"]).image for r in rows]


@pytest.mark.parametrize("engine,precision", CPU_PAIRS, ids=[" ".join(p) for p in CPU_PAIRS])
def test_each_engine_matches_fp32_torch_on_real_sketches(engine, precision, real_sketches,
                                                         monkeypatch):
    monkeypatch.delenv("SKETCHLAB_ENGINE")
    model = resolve_model(None)
    ref = Inverter(model, device="cpu", engine="torch", precision="fp32", warmup=False)
    inv = Inverter(model, device="cpu", engine=engine, precision=precision, warmup=False)
    assert (inv.engine_name, inv.precision) == (engine, precision), inv.device_label
    want = np.stack(ref.invert_batch(real_sketches))
    single = np.stack([inv.invert(s) for s in real_sketches])
    batch = np.stack(inv.invert_batch(real_sketches))
    for got in (single, batch):
        mean, peak = photo_difference(got, want)
        assert mean <= MEAN_TOLERANCE and peak <= MAX_TOLERANCE, (mean, peak)
    if precision == "fp32":  # the same arithmetic, other kernels: within a level
        assert photo_difference(single, want)[0] < 0.05
    assert inv.sha256 == ref.sha256  # the record names the same weights


def test_a_remembered_choice_is_per_model_file_and_machine(tiny_model, monkeypatch):
    monkeypatch.delenv("SKETCHLAB_ENGINE")
    sha = sha256_file(tiny_model)
    assert remembered_choice(sha) is None and needs_trial(tiny_model)
    assert not needs_trial(tiny_model, "torch") and not needs_trial(tiny_model, device="cuda")
    choice = run_trial(tiny_model, rounds=1, runs_per_round=1,
                       pairs=[("torch", "fp32"), ("onnxruntime", "fp32")])
    assert set(choice.trials) == {"torch fp32", "onnxruntime fp32"}
    assert all(t["ok"] and t["ms"] > 0 for t in choice.trials.values())
    remember_choice(choice)
    assert remembered_choice(sha) == choice and not needs_trial(tiny_model)
    assert remembered_choice(sha, machine="another CPU | 4 cores | avx2") is None
    inv = Inverter(tiny_model, device="cpu", warmup=False)  # "auto": the remembered one
    assert inv.engine_name == choice.engine
    forget_choices()
    assert remembered_choice(sha) is None


def test_the_fastest_within_tolerance_wins_and_precision_is_honoured():
    trials = {"torch fp32": {"engine": "torch", "precision": "fp32", "ok": True, "ms": 30},
              "openvino bf16": {"engine": "openvino", "precision": "bf16", "ok": True,
                                "ms": 12},
              "onnxruntime fp32": {"engine": "onnxruntime", "precision": "fp32", "ok": True,
                                   "ms": 25},
              "torch bf16": {"engine": "torch", "precision": "bf16", "ok": False, "ms": 5}}
    c = EngineChoice("openvino", "bf16", "x", "m", trials=trials)
    assert c.best() == ("openvino", "bf16")
    assert c.best("fp32") == ("onnxruntime", "fp32")  # the user asked for fp32 photos


def test_an_unreadable_store_means_measuring_again(tiny_model, caplog):
    from sketchlab.core import paths

    (paths.user_cache_dir() / "engine-choices.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert remembered_choice(sha256_file(tiny_model)) is None
    assert "measured again" in caplog.text


def test_an_engine_that_fails_to_start_falls_back_to_torch(tiny_model, monkeypatch, caplog):
    def broken(*a, **k):
        raise OSError("libonnxruntime.so: cannot open shared object file")

    monkeypatch.setattr(engine_onnx, "OnnxRuntimeEngine", broken)
    with caplog.at_level(logging.WARNING, logger="sketchlab.core.inference"):
        inv = Inverter(tiny_model, device="cpu", engine="onnxruntime")
    assert inv.engine_name == "torch" and "PyTorch" in inv.device_label
    assert "ONNX Runtime could not run tiny.safetensors" in caplog.text
    assert inv.invert(trial_sketches(inv.resolution)[0]).shape == (*inv.resolution, 3)


def test_a_damaged_onnx_cache_is_exported_again(tiny_model, caplog):
    inv = Inverter(tiny_model, device="cpu", engine="onnxruntime", warmup=False)
    sha = inv.model_file_sha256
    onnx_path, record = engine_onnx.cached_onnx(sha)
    assert record["weights_sha256"] == inv.sha256
    onnx_path.write_bytes(onnx_path.read_bytes()[:-100])  # truncated on disk
    with caplog.at_level(logging.WARNING):
        again = Inverter(tiny_model, device="cpu", engine="onnxruntime", warmup=False)
    assert "damaged" in caplog.text and again.engine_name == "onnxruntime"
    assert engine_onnx.cached_onnx(sha) is not None


def test_the_live_photo_starts_without_torch_once_measured(tiny_model, tmp_path):
    """With a remembered ONNX Runtime choice and a cached export, a new process loads and
    inverts without importing torch (over a second of a laptop's cold start)."""
    sha = sha256_file(tiny_model)
    Inverter(tiny_model, device="cpu", engine="onnxruntime", warmup=False)  # caches
    from sketchlab.core.cpus import machine_key

    remember_choice(EngineChoice("onnxruntime", "fp32", sha, machine_key()))
    code = ("import sys, numpy as np\n"
            "from sketchlab.core.inference import Inverter\n"
            f"inv = Inverter({str(tiny_model)!r})\n"
            "inv.invert(np.full((*inv.resolution, 3), 255, np.uint8))\n"
            "print(inv.device_label, 'torch' in sys.modules)\n")
    env = {**os.environ, "SKETCHLAB_ENGINE": "auto"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120).stdout
    cores = len(os.sched_getaffinity(0))
    assert out.strip() == f"CPU, ONNX Runtime ({cores} threads, fp32) False"


@pytest.mark.skipif(not any(e == "openvino" for e, _ in candidates()),
                    reason="OpenVINO not installed")
def test_openvino_sends_nothing_and_runs_from_any_thread(tiny_model, tmp_path, monkeypatch):
    """No telemetry thread or client-id file, and one request per thread."""
    monkeypatch.setenv("HOME", str(tmp_path))
    before = set(threading.enumerate())  # other tests' pools are not OpenVINO's
    inv = Inverter(tiny_model, device="cpu", engine="openvino", precision="fp32")
    sketch = trial_sketches(inv.resolution)[1]
    results = []
    threads = [threading.Thread(target=lambda: results.append(inv.invert(sketch)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(np.array_equal(r, results[0]) for r in results)
    assert not any("ThreadPoolExecutor" in t.name
                   for t in set(threading.enumerate()) - before)
    assert not (tmp_path / "intel").exists()
    assert sys.modules.get("openvino_telemetry", "absent") is None  # blocked, not loaded


def test_a_lab_wide_fp32_setting_picks_the_fastest_fp32_engine(tiny_model, monkeypatch):
    """$SKETCHLAB_PRECISION=fp32 holds when the engine is left to measurement: the
    fastest fp32 engine runs, not the faster bf16 one."""
    from sketchlab.core.cpus import machine_key

    monkeypatch.delenv("SKETCHLAB_ENGINE")
    monkeypatch.setenv("SKETCHLAB_PRECISION", "fp32")
    trials = {"openvino bf16": {"engine": "openvino", "precision": "bf16", "ok": True,
                                "ms": 10},
              "onnxruntime fp32": {"engine": "onnxruntime", "precision": "fp32", "ok": True,
                                   "ms": 20},
              "torch fp32": {"engine": "torch", "precision": "fp32", "ok": True, "ms": 30}}
    remember_choice(EngineChoice("openvino", "bf16", sha256_file(tiny_model), machine_key(),
                                 trials=trials))
    inv = Inverter(tiny_model, device="cpu", precision="auto", warmup=False)
    assert (inv.engine_name, inv.precision) == ("onnxruntime", "fp32")
