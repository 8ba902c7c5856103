import numpy as np
import pytest

from sketchlab.core.engine_torch import choose_device
from sketchlab.core.inference import DeviceError, Inverter


def test_invert_single_and_batch(tiny_model):
    inv = Inverter(tiny_model, device="cpu")
    h, w = inv.resolution
    a = np.full((h, w, 3), 255, np.uint8)
    b = a.copy()
    b[10:20, 10:20] = 0
    out = inv.invert(a)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    batch = inv.invert_batch([a, b])
    assert np.array_equal(batch[0], out)
    assert not np.array_equal(batch[0], batch[1])
    assert inv.last_ms > 0
    assert "CPU" in inv.device_label


def test_wrong_shape_is_explained(tiny_model):
    inv = Inverter(tiny_model, device="cpu", warmup=False)
    with pytest.raises(ValueError, match="canonical frame"):
        inv.invert(np.zeros((10, 10, 3), np.uint8))


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type in ("cpu", "cuda")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no usable NVIDIA GPU"):
            choose_device("cuda")


def test_frozen_single_path_matches_the_eager_network(tiny_model):
    """The live preview runs a traced, frozen copy (no GIL between layers); it must give
    the same photo as the eager module the batch path uses."""
    import numpy as np

    from sketchlab.core.inference import Inverter

    inv = Inverter(tiny_model, device="cpu")
    assert inv.engine.stages is not None
    rng = np.random.default_rng(1)
    sketches = [rng.integers(0, 256, (*inv.resolution, 3), dtype=np.uint8) for _ in range(2)]
    single = [inv.invert(s) for s in sketches]
    batch = inv.invert_batch(sketches)
    for a, b in zip(single, batch, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_live_preview_stops_between_stages(tiny_model):
    """`invert_unless` runs the frozen stages one by one: same photo as `invert`, and it
    gives up (None) as soon as `stop()` says so, without running the remaining stages."""
    inv = Inverter(tiny_model, device="cpu")
    assert inv.engine.stages is not None and len(inv.engine.stages) >= 4
    rng = np.random.default_rng(2)
    sketch = rng.integers(0, 256, (*inv.resolution, 3), dtype=np.uint8)
    calls = []

    def never():
        calls.append(1)
        return False

    staged = inv.invert_unless(sketch, never)
    assert len(calls) == len(inv.engine.stages)
    assert np.abs(staged.astype(int) - inv.invert(sketch).astype(int)).max() <= 1
    asked = []

    def after_two():
        asked.append(1)
        return len(asked) > 2

    assert inv.invert_unless(sketch, after_two) is None
    assert len(asked) == 3  # stopped before the third stage
